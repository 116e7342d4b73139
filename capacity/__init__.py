"""capacity-planner: forecasts of service utilization, peak-event breach risk, and Locust headroom checks.

The engine (everything here but ``sources``, ``store`` and ``cli``) is pure: it takes pandas objects and frozen
dataclasses and returns new ones. Importing ``capacity`` imports neither Flask nor Locust.
"""

__version__ = "0.1.0"
