"""The schemathesis hooks keep to the server's cross-field rules: a case they let through is one the route accepts."""

from __future__ import annotations

from capacity.bench.reliability.st_hooks import events_ok, samples_ok


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
