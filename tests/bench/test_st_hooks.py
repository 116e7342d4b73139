"""The schemathesis hooks keep to the server's cross-field rules: a case they let through is one the route accepts."""

from __future__ import annotations

import pytest

from capacity.bench.reliability.st_hooks import events_ok, loadtest_ok, samples_ok
from capacity.errors import InvalidInput
from loadtests.verdict import validate_result


def test_a_samples_body_with_a_null_row_is_dropped_even_when_its_ts_and_value_columns_are_valid() -> None:
    """schemathesis' 100-example run: such a body matches the document's ts/value form, but the route reads its
    samples and refuses the null row (an ST202 "schema-valid request rejected")."""
    body = {"samples": [None, {"x": 1}], "ts": ["2024-01-01T00:00:00Z"], "value": [1.0]}
    assert not samples_ok("svc", "cpu", body)
    assert samples_ok("svc", "cpu", {"samples": [["2024-01-01T00:00:00Z", 1.0], {"ts": 1.7e9, "value": 2.0}]})


def test_a_put_repeating_a_start_to_the_second_is_dropped() -> None:
    first = {"start": "2030-01-01T00:00:00.1Z", "end": "2030-01-02"}
    assert not events_ok("PUT", {"occurrences": [first, {**first, "start": "2030-01-01T00:00:00.9Z"}]})
    assert not events_ok("PUT", {"occurrences": [{"start": "2030-01-01", "end": "2030-01-02"}, first]})
    assert events_ok("PUT", {"occurrences": [first, {**first, "service": "svc"}]})


@pytest.mark.parametrize("capacity", [None, 1.0, 1.1, 1.15, 1.2, 6.85717e307])
def test_a_load_test_result_claiming_more_than_its_best_passing_step_is_dropped_as_the_route_refuses_it(
    capacity: float | None,
) -> None:
    """The CI's schemathesis run: measured_capacity_rps 6.85717e+307 over a best passing step of 1.1 was a
    schema-valid request the route refused (ST202); the hook now drops exactly what validate_result refuses."""
    step = {"p50_ms": None, "p95_ms": None, "p99_ms": None, "failure_ratio": 0.0}
    steps = [
        {**step, "target_rps": 1.0, "achieved_rps": 1.1, "met_slo": True},
        {**step, "target_rps": 2.0, "achieved_rps": 5.0, "met_slo": False},
    ]
    result = {"verdict": "fail", "target_rps": 2.0, "measured_capacity_rps": capacity, "steps": steps}
    try:
        validate_result(result)
        accepted = True
    except InvalidInput:
        accepted = False
    assert loadtest_ok({"service": "svc", "metric": "rps", "result": result}) == accepted
    assert accepted == (capacity is None or capacity <= 1.1 * 1.001 + 0.05)
