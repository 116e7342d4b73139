"""Load tests: the load plan of a series (forecast peak x margin), and recording a load-test result."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from apiflask import APIBlueprint, Schema
from apiflask.fields import Boolean, Dict, Float, String
from apiflask.validators import Length, Range, Regexp

from api.http import openapi, params, schemas
from api.http.auth import require
from api.http.problems import Problem
from api.routes.common import computing, series_key
from api.state import state, store
from capacity.errors import Computing, InvalidInput
from capacity.events.calendar import next_occurrence
from capacity.events.names import lookup_event_name
from capacity.schema import MEAN, RATE, TS, quantile_column, unit_for
from loadtests.plan import DEFAULT_MARGIN
from loadtests.plan_build import plan_from_peak
from loadtests.verdict import validate_result

bp = APIBlueprint("loadtests", __name__, tag="Load tests")


class PlanQuery(Schema):
    """Which peak to plan for and how hard to push."""

    event = String(
        validate=[
            Length(1, 128),
            Regexp(params.EVENT_NAME, error=params.EVENT_NAME_RULE),
            params.no_surrogates,
        ],
        metadata={"description": "Plan for this event's next occurrence"},
    )
    margin = Float(validate=Range(1.0, 100.0), metadata={"description": "Target = p95 peak x margin (1.3)"})
    step_seconds = Float(validate=Range(1.0, 3600.0), metadata={"description": "Seconds per ramp step (10)"})


_NON_NEGATIVE = {"type": "number", "minimum": 0}
_STEP = {
    "type": "object",
    "required": ["target_rps", "achieved_rps", "p50_ms", "p95_ms", "p99_ms", "failure_ratio", "met_slo"],
    "properties": {
        **{k: _NON_NEGATIVE for k in ("target_rps", "achieved_rps", "failure_ratio")},
        **{k: {**_NON_NEGATIVE, "nullable": True} for k in ("p50_ms", "p95_ms", "p99_ms")},
        "met_slo": {"type": "boolean"},
    },
}
#: The ``result.json`` document as ``loadtests.verdict.validate_result`` checks it, so that the OpenAPI document
#: says what is refused (the one rule it cannot say is in the description).
_RESULT = {
    "description": "The result.json document of capacity headroom; measured_capacity_rps must not exceed the "
    "achieved_rps of the best step that met the SLOs",
    "required": ["verdict", "target_rps", "steps"],
    "properties": {
        "verdict": {"type": "string", "enum": ["pass", "fail", "unreachable"]},
        "target_rps": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
        "measured_capacity_rps": {**_NON_NEGATIVE, "exclusiveMinimum": True, "nullable": True},
        "steps": {"type": "array", "items": _STEP},
    },
}


class LoadTestIn(Schema):
    """A load-test result to record."""

    service = String(required=True, validate=[Length(1, 128), Regexp(params.NAME)])
    metric = String(required=True, validate=[Length(1, 128), Regexp(params.NAME)])
    result = Dict(required=True, metadata=_RESULT)
    apply = Boolean(load_default=False, metadata={"description": "Make the measured capacity the threshold"})


def _event_window(service: str, event: str, after: pd.Timestamp) -> tuple[str, pd.Timestamp, pd.Timestamp]:

    calendar = tuple(store().events.list_events())
    occ = next_occurrence(calendar, lookup_event_name(event), after, service)
    return occ.name, occ.start, occ.end


@bp.get("/series/<service>/<metric>/loadtest-plan")
@require("read")
@bp.input(PlanQuery, location="query", arg_name="query")
@bp.doc(responses={**openapi.ok(schemas.PLAN), **openapi.computing(), **openapi.conflict()})
@openapi.path_param("metric", params.RATE_METRIC, "rps")
def get_plan(service: str, metric: str, query: dict[str, Any]) -> Any:
    """The Locust load plan of a request-rate series: target = forecast p95 peak (in the event) x margin."""

    service, metric = series_key(service, metric)
    st = state()
    info = st.store.series.describe(service, metric)
    if unit_for(metric) != RATE:
        raise InvalidInput(
            f"load plans need a request-rate series (e.g. rps); {service}/{metric} is {info.unit}",
            field="metric",
        )
    horizon = None
    window: tuple[str, pd.Timestamp, pd.Timestamp] | None = None
    if query.get("event"):
        after = info.last_ts if info.last_ts is not None else pd.Timestamp(0, tz="UTC")
        window = _event_window(service, query["event"], after)
        hours = math.ceil((window[2] - after).total_seconds() / 3600)
        horizon = f"{max(hours, 1)}h"
    try:
        fc, steps, _qs, _stale, _fresh = st.serving.resolve(service, metric, horizon, None)
    except Computing as exc:
        return computing(exc)  # as the forecast route answers: 202 and Retry-After
    frame = fc.frame.iloc[:steps]
    if window is not None:
        frame = frame[(frame[TS] >= window[1]) & (frame[TS] < window[2])]
        if frame.empty:
            # The request is well formed; the series' history and the calendar do not allow it (409).
            raise Problem(
                409,
                f"the forecast does not reach {window[0]} ({window[1]:%Y-%m-%d})",
                title="Forecast does not reach the event",
                field="event",
            )
    column = quantile_column(0.95) if quantile_column(0.95) in frame.columns else MEAN
    peak = float(np.nanmax(frame[column].to_numpy(dtype="float64")))
    fields: dict[str, Any] = {"service": service, "metric": metric}
    if window is not None:
        fields["event"] = window[0]
    plan = plan_from_peak(
        max(peak, 0.001),
        margin=query.get("margin", DEFAULT_MARGIN),
        step_seconds=query.get("step_seconds", 10.0),
        **fields,
    )
    return plan.to_dict()


@bp.post("/loadtests")
@openapi.rules("apply needs a rate metric (*rps, *_per_s): it sets a request-rate threshold")
@require("write")
@bp.input(LoadTestIn, arg_name="body")
@bp.doc(responses=openapi.ok(schemas.LOADTEST, "Result stored", status=201))
def post_loadtest(body: dict[str, Any]) -> Any:
    """Record a load-test result; with apply, its measured capacity becomes the series' threshold."""

    service, metric = series_key(body["service"], body["metric"])
    result = validate_result(body["result"])
    test_id = store().loadtests.save_loadtest(service, metric, result, bool(body.get("apply")))
    state().invalidate_series(service, metric)
    state().extras.pop("fleet_gauges", None)
    info = store().series.describe(service, metric)
    stored = next((t for t in store().loadtests.list_loadtests(service, metric) if t.id == test_id), None)
    return {
        "id": test_id,
        "service": service,
        "metric": metric,
        "verdict": stored.verdict if stored else result.get("verdict"),
        "measured_capacity_rps": stored.measured_capacity_rps if stored else None,
        "applied": stored.applied if stored else False,
        "threshold": info.threshold,
        "instance_capacity": info.instance_capacity,
    }, 201
