"""Helpers the tests share (fixtures live in conftest.py; servers and databases that the benchmarks use too live in
:mod:`capacity.testing`). No test module imports another test module."""
