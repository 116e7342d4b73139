"""schemathesis hooks: the API's cross-field rules, which JSON Schema cannot state, applied to generated requests.

The OpenAPI document lists these rules in each operation's description and ``x-capacity-rules``; the server answers
422 when one is broken, so schemathesis' positive cases must keep to them or ``--checks all`` reports a "schema-valid
request rejected" that is no mismatch. Each filter drops only the cases that break one of those documented rules,
and checks them with the same functions the server uses (:func:`~capacity.events.calendar.make_occurrence`,
:func:`~capacity.services.fleet_risk.parse_until`, :func:`~capacity.schema.unit_for`), so the two cannot drift:

- events (``POST /api/v1/events``, ``PUT /api/v1/events/{name}``): ``end`` after ``start``, ``multiplier_high`` at
  least ``multiplier_low``; in a PUT, no two occurrences with the same start (to the second) and service;
- risks (``GET /api/v1/risks``): ``event`` or ``until``, not both;
- series (``PATCH /api/v1/series/{service}/{metric}``): a percent series' ``threshold`` at most 100;
- load tests (``POST /api/v1/loadtests``): ``apply`` only for a rate metric; ``result.measured_capacity_rps`` at most
  the ``achieved_rps`` of the best step that met the SLOs (with ``loadtests.verdict.validate_result``'s tolerance,
  x1.001 + 0.05: the load tests package is above this one, so the rule is restated here);
- samples (``POST …/samples``): a body with ``samples`` is read by them alone, each a ``[ts, value]`` pair holding a
  timestamp (text or number) and a number, or a ``{ts, value}`` object; the ``ts`` and ``value`` columns have the
  same length; values in the series' unit's range (a percent within [0, 100]); a Prometheus ``query_range`` body
  holds one result or ``label`` picks one, and its rows are what the reader of ``capacity ingest`` takes
  (:func:`~capacity.sources.exports.prometheus_history`); ``label`` only with such a body or a CSV one.

Loaded by ``st run`` through ``SCHEMATHESIS_HOOKS=capacity.bench.reliability.st_hooks`` (see
:func:`capacity.bench.reliability.fuzz.run_schemathesis`). Negative cases pass through unchanged when they break a
rule only in their schema (the server refuses them either way).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import schemathesis
from schemathesis.core import NotSet

from capacity.errors import CapacityError
from capacity.events.calendar import check_distinct, make_occurrence
from capacity.schema import METRIC, PERCENT, RATE, SERVICE, TS, VALUE, unit_for, validate_history
from capacity.services.fleet_risk import parse_until
from capacity.sources.exports import in_zone, is_query_range, prometheus_history
from capacity.sources.files import parse_csv_text, resolve_duplicates
from capacity.timestamps import DST_POLICIES, LocalTime, check_zone

#: The module ``SCHEMATHESIS_HOOKS`` names.
MODULE = __name__


def _occurrence_ok(raw: Any) -> bool:
    """An occurrence that keeps the cross-field rules (or one too malformed for them to apply)."""
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("start"), str)
        or not isinstance(raw.get("end"), str)
    ):
        return True
    try:
        make_occurrence(
            "event", raw["start"], raw["end"], raw.get("multiplier_low"), raw.get("multiplier_high"), None
        )
    except CapacityError:
        return False
    return True


def events_ok(method: str, body: Any) -> bool:
    """``end`` after ``start`` and ``multiplier_high ≥ multiplier_low`` in each occurrence; unique (start, service)."""
    if method == "POST":
        return _occurrence_ok(body)
    occurrences = body.get("occurrences") if isinstance(body, dict) else None
    if not isinstance(occurrences, list):
        return True
    if not all(_occurrence_ok(o) for o in occurrences):
        return False
    try:  # the server's own check: a start written two ways, or to a fraction of a second, is the same start
        check_distinct(
            [
                make_occurrence("event", o["start"], o["end"], service=o.get("service"))
                for o in occurrences
                if isinstance(o, dict)
            ]
        )
    except CapacityError:
        return False
    except KeyError:
        return True
    return True


def risks_ok(query: dict[str, Any] | None) -> bool:
    """``event`` or ``until``, not both; ``until`` a date or time the server reads."""
    if not query:
        return True
    if query.get("event") and query.get("until"):
        return False
    until = query.get("until")
    if isinstance(until, str):
        try:
            parse_until(until)
        except CapacityError:
            return False
    return True


def threshold_ok(metric: Any, body: Any) -> bool:
    """A percent series' threshold is at most 100."""
    if not isinstance(body, dict) or not isinstance(metric, str):
        return True
    threshold = body.get("threshold")
    if isinstance(threshold, int | float) and not isinstance(threshold, bool) and unit_for(metric) == PERCENT:
        return bool(threshold <= 100)
    return True


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def samples_ok(service: Any, metric: Any, body: Any, query: Any = None) -> bool:
    """Pairs of a timestamp and a number, ``ts`` and ``value`` columns of one length, and the values and
    timestamps :func:`~capacity.schema.validate_history` accepts for this series (its unit's range, 1990-2100);
    a Prometheus body the route's reader takes, with the series ``label`` picks."""
    label = query.get("label") if isinstance(query, dict) else None
    label = label if isinstance(label, str) else None
    zone = query.get("tz") if isinstance(query, dict) else None
    if isinstance(zone, str) and not _zone_ok(zone):
        return False
    dst = query.get("dst") if isinstance(query, dict) else None
    local = LocalTime(zone, dst if dst in DST_POLICIES else "refuse") if isinstance(zone, str) else None
    if isinstance(body, str) and isinstance(service, str) and isinstance(metric, str):
        return csv_ok(service, metric, body, label, local)
    if not isinstance(body, dict) or not isinstance(service, str) or not isinstance(metric, str):
        return True
    if is_query_range(body):
        return query_range_ok(service, metric, body, label)
    if label is not None:  # label picks a series of a body of several; the route refuses it elsewhere
        return False
    rows = body.get("samples")
    if isinstance(rows, list):
        pairs = []
        for row in rows:
            if isinstance(row, list) and len(row) == 2:
                ts, value = row
                if not (isinstance(ts, str) or _number(ts)) or not _number(value):
                    return False
                pairs.append((ts, value))
            elif isinstance(row, dict) and "ts" in row and "value" in row:
                pairs.append((row["ts"], row["value"]))
            else:  # null or a {} without ts and value: the route refuses the row, whatever else the body holds
                return False
        stamps, values = [p[0] for p in pairs], [p[1] for p in pairs]
    elif isinstance(body.get("ts"), list) and isinstance(body.get("value"), list):
        stamps, values = body["ts"], body["value"]
        if len(stamps) != len(values):
            return False
    else:
        return True
    if not stamps:
        return True
    frame = pd.DataFrame(
        {
            SERVICE: [service] * len(stamps),
            METRIC: [metric] * len(stamps),
            TS: _stamps(stamps),
            VALUE: values,
        },
        dtype=object,
    )
    try:  # what the route does with the columns (api/routes/samples.py), in the zone ?tz= names
        history = validate_history(frame, source="body")
        rows = np.arange(1, len(history) + 1)
        history = in_zone(history, pd.Series(stamps, dtype=object), local, "body", rows, keyed=False)
        resolve_duplicates(history, first_row=1, source="body")
    except CapacityError:
        return False
    return True


def _zone_ok(zone: str) -> bool:
    try:
        check_zone(zone)
    except CapacityError:
        return False
    return True


def query_range_ok(service: str, metric: str, body: dict[str, Any], label: str | None) -> bool:
    """A Prometheus ``query_range`` body the samples route stores: read by the same reader, one series picked."""
    try:
        history, rows = prometheus_history(
            body, source="body", service=service, metric=metric, one_series=True, column=label
        )
        resolve_duplicates(history, rows=rows, source="body")
    except CapacityError:
        return False
    return True


def csv_ok(
    service: str, metric: str, text: str, label: str | None = None, local: LocalTime | None = None
) -> bool:
    """A ``text/csv`` body the samples route reads: a ``timestamp,value`` (or long) header and valid rows of this
    series, parsed by the same :func:`~capacity.sources.files.parse_csv_text` (a header row is a rule the document
    states in words: a JSON Schema string cannot say which lines a CSV must have)."""
    try:
        frame = parse_csv_text(
            text.removeprefix("\ufeff"),
            source="body",
            service=service,
            metric=metric,
            column=label,
            tz=local.zone if local else None,
            dst=local.dst if local else "refuse",
        )
    except CapacityError:
        return False
    return bool(((frame[SERVICE] == service) & (frame[METRIC] == metric)).all())


def _stamps(raw: list[Any]) -> list[Any]:
    """Timestamps as the samples route reads them: numbers are epoch seconds, text is read by
    :func:`~capacity.schema.validate_history` (ISO 8601 or epoch text, see :mod:`capacity.timestamps`)."""
    out: list[Any] = []
    for t in raw:
        if _number(t) and 0 <= t < 4e9:
            out.append(pd.Timestamp(float(t), unit="s", tz="UTC"))
        elif isinstance(t, str):
            out.append(t)
        else:
            out.append(str(t))
    return out


def _capacity_ok(result: Any) -> bool:
    """A measured capacity no higher than the best step that met the SLOs (when both are numbers)."""
    if not isinstance(result, dict) or not isinstance(result.get("steps"), list):
        return True
    capacity = result.get("measured_capacity_rps")
    met = [
        float(s["achieved_rps"])
        for s in result["steps"]
        if isinstance(s, dict) and s.get("met_slo") is True and _number(s.get("achieved_rps"))
    ]
    if not met or not _number(capacity) or not isinstance(capacity, int | float):
        return True
    return bool(capacity <= max(met) * 1.001 + 0.05)


def loadtest_ok(body: Any) -> bool:
    """``apply`` only for a rate metric; the measured capacity within the steps that met the SLOs."""
    if not isinstance(body, dict):
        return True
    if not _capacity_ok(body.get("result")):
        return False
    if body.get("apply") is not True or not isinstance(body.get("metric"), str):
        return True
    return unit_for(body["metric"]) == RATE


def case_ok(method: str, path: str, path_parameters: dict[str, Any] | None, query: Any, body: Any) -> bool:
    """Whether one request keeps the cross-field rules of its operation."""
    params = path_parameters or {}
    if (method, path) in (("POST", "/api/v1/events"), ("PUT", "/api/v1/events/{name}")):
        return events_ok(method, body)
    if path == "/api/v1/risks" and method == "GET":
        return risks_ok(query)
    if path == "/api/v1/series/{service}/{metric}" and method == "PATCH":
        return threshold_ok(params.get("metric"), body)
    if path == "/api/v1/series/{service}/{metric}/samples" and method == "POST":
        return samples_ok(params.get("service"), params.get("metric"), body, query)
    if path == "/api/v1/loadtests" and method == "POST":
        return loadtest_ok(body)
    return True


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    """Drop generated requests that break a documented cross-field rule (see the module docstring)."""
    operation = case.operation
    body = None if isinstance(case.body, NotSet) else case.body
    return case_ok(operation.method.upper(), operation.path, case.path_parameters, case.query, body)
