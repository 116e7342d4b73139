"""Locust suites: the headroom check against staging (plan, SLO gate, runner, staging stub).

Only ``headroom_locustfile.py`` and ``api_locustfile.py`` import locust, and only inside a Locust process: the
plan and verdict arithmetic live in plain modules (``plan``, ``verdict``) that any process may import.
"""
