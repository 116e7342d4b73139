"""Capacity plans: the fleet's plan, one series' plan (JSON and chart), and the accuracy of the stored plans.

The plans are computed by :mod:`capacity.services.plans`, the same as ``capacity plan`` (without storing them:
a plan of record is made with the CLI) and reused for a minute for the same question and the same data. Plan
accuracy scores the stored plans whose weeks have new actuals before answering, like ``capacity accuracy --plans``.
"""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint, Schema
from apiflask.fields import Float, String
from apiflask.validators import Length, OneOf, Range, Regexp
from flask import Response

from api.http import openapi, params, schemas
from api.http.auth import require
from api.routes.common import SignedQuery, series_key
from api.state import state, store
from capacity.errors import NotEnoughHistory
from capacity.plan.weeks import parse_quarter, parse_weeks
from capacity.schema import validate_name
from capacity.services.cache import LRU
from capacity.services.plans import (
    PlanRequest,
    accuracy_summary,
    make_plans,
    plan_accuracy,
    plan_chart_png,
    plan_record,
    stored_plan_record,
)

bp = APIBlueprint("plans", __name__, tag="Plans")

#: Seconds a computed plan is reused for the same question and the same data.
PLAN_TTL = 60.0


class PlanQuery(Schema):
    """What to plan."""

    horizon = String(
        load_default="13w",
        validate=Regexp(params.PLAN_WEEKS),
        metadata={"description": "Weeks ahead, e.g. 13w (1 to 52)"},
    )
    quarter = String(
        validate=Regexp(params.QUARTER),
        metadata={"description": "Plan a quarter's weeks instead, e.g. 2027Q1 (years 1990-2099)"},
    )
    agg = String(
        validate=OneOf(["max", "p95", "mean"]),
        metadata={
            "description": "How a day's hours are reduced to its peak (default: max, the day's peak hour)"
        },
    )
    margin = Float(
        load_default=0.1,
        validate=Range(0, 10, max_inclusive=False),
        # exclusiveMaximum, so that the document says 10 is refused (schemathesis sent margin=10.0: ST202)
        metadata={"description": "Capacity margin, at least 0 and below 10", "exclusiveMaximum": True},
    )


class PlanChartQuery(PlanQuery, SignedQuery):
    """The plan chart's parameters, and a signed URL's."""


class FleetPlanQuery(PlanQuery):
    """What to plan, for which series."""

    service = String(
        validate=[Length(1, 128), Regexp(params.NAME)], metadata={"description": "Only this service"}
    )
    metric = String(
        validate=[Length(1, 128), Regexp(params.NAME)], metadata={"description": "Only this metric"}
    )


class PlanAccuracyQuery(Schema):
    """Which stored plans."""

    service = String(
        validate=[Length(1, 128), Regexp(params.NAME)], metadata={"description": "Only this service"}
    )
    metric = String(
        validate=[Length(1, 128), Regexp(params.NAME)], metadata={"description": "Only this metric"}
    )


def _request(query: dict[str, Any], service: str | None, metric: str | None) -> PlanRequest:
    """Validate the query into a plan request (422 naming the field)."""
    quarter = query.get("quarter")
    if quarter is not None:
        parse_quarter(quarter)
    return PlanRequest(
        weeks=parse_weeks(query["horizon"]),
        quarter=quarter,
        service=validate_name(service, "service") if service is not None else None,
        metric=validate_name(metric, "metric") if metric is not None else None,
        agg=query.get("agg"),
        margin=float(query["margin"]),
    )


def _plans(request: PlanRequest) -> list[Any]:
    """The outcomes of ``request``, reused while the data has not changed."""
    versions = tuple(
        (i.service, i.metric, i.data_version)
        for i in store().series.list_series()
        if (request.service is None or i.service == request.service)
        and (request.metric is None or i.metric == request.metric)
    )
    cache: LRU[Any, list[Any]] = state().extras.setdefault("plans", LRU(32, ttl=PLAN_TTL))
    key = (request, versions)
    outcomes = cache.get(key)
    if outcomes is None:
        outcomes = make_plans(store(), request, save=False)
        cache.put(key, outcomes)
    return outcomes


@bp.get("/plan")
@require("read")
@bp.input(FleetPlanQuery, location="query", arg_name="query")
@bp.doc(
    responses={
        **openapi.ok(schemas.PLANS, "Each series' plan, week by week (or why it has none)"),
        **openapi.conflict("The quarter starts before the history ends, or ends more than 366 days after it"),
    }
)
def get_plans(query: dict[str, Any]) -> Any:
    """The capacity plan of every series (or one service's): p50/p90 weekly peaks, headroom, instances, crossings."""
    request = _request(query, query.get("service"), query.get("metric"))
    outcomes = _plans(request)
    return {
        "horizon_weeks": request.weeks,
        "quarter": request.quarter,
        "plans": [plan_record(o) for o in outcomes],
    }


@bp.get("/series/<service>/<metric>/plan")
@require("read")
@bp.input(PlanQuery, location="query", arg_name="query")
@bp.doc(
    responses={
        **openapi.ok(schemas.SERIES_PLAN, "The series' plan, week by week"),
        **openapi.conflict("The series' history is too short for a plan"),
    }
)
def get_series_plan(service: str, metric: str, query: dict[str, Any]) -> Any:
    """The capacity plan of one series; 409 when it cannot be planned (too little history), 404 unknown series."""
    service, metric = series_key(service, metric)
    store().series.describe(service, metric)  # 404 for an unknown series
    outcome = _plans(_request(query, service, metric))[0]
    if outcome.plan is None:
        raise NotEnoughHistory(outcome.error, field="values")
    return plan_record(outcome)


@bp.get("/series/<service>/<metric>/plan.png")
@require("read", signed=True)
@bp.input(PlanChartQuery, location="query", arg_name="query")
@bp.doc(responses=openapi.png_responses())
def get_series_plan_chart(service: str, metric: str, query: dict[str, Any]) -> Any:
    """The plan's chart: recent weekly peaks, the planned p50 and p90 weekly peaks, the threshold."""
    service, metric = series_key(service, metric)
    store().series.describe(service, metric)
    outcome = _plans(_request(query, service, metric))[0]
    if outcome.plan is None:  # 409 as for the plan itself: the request is fine, the history too short
        raise NotEnoughHistory(outcome.error, field="values")
    return Response(
        plan_chart_png(outcome), mimetype="image/png", headers={"Cache-Control": "private, max-age=60"}
    )


@bp.get("/plan/accuracy")
@require("read")
@bp.input(PlanAccuracyQuery, location="query", arg_name="query")
@bp.doc(responses=openapi.ok(schemas.PLAN_ACCURACY, "The stored plans with their scores, and the totals"))
def get_plan_accuracy(query: dict[str, Any]) -> Any:
    """Stored plans scored against their actuals: per-week APE of the peak, shares within ±10% and ±20%."""
    service, metric = query.get("service"), query.get("metric")
    stored = plan_accuracy(
        store(),
        validate_name(service, "service") if service is not None else None,
        validate_name(metric, "metric") if metric is not None else None,
    )
    return {"summary": accuracy_summary(stored), "plans": [stored_plan_record(p) for p in stored]}
