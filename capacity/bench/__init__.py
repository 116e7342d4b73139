"""Benchmarks against peers (kept out of the engine's hot path): forecast accuracy, breach and event benchmarks.

Each benchmark is a pure function over in-memory series that returns a JSON-ready dict; the ``capacity bench``
commands read the files, print the tables and write the JSON.
"""
