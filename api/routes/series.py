"""Services and series: list, describe, configure (threshold, capacity, instances, aggregation), delete."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint, Schema
from apiflask.fields import Float, Integer, String
from apiflask.validators import Length, OneOf, Range, Regexp

from api.http import openapi, params, schemas
from api.http.auth import require
from api.routes.common import series_json, series_key
from api.state import state, store
from capacity.config import AGGREGATIONS, validate_series_config
from capacity.errors import InvalidConfig
from capacity.schema import validate_name

bp = APIBlueprint("series", __name__, tag="Series")


class SeriesListQuery(Schema):
    """Filter of the series list."""

    service = String(
        validate=[Length(1, 128), Regexp(params.NAME)], metadata={"description": "Only this service's series"}
    )


class SeriesPatch(Schema):
    """The settable fields of a series (absent fields are kept; null clears a number)."""

    threshold = Float(
        allow_none=True,
        validate=Range(0, min_inclusive=False),
        metadata={
            "description": "Scaling threshold, > 0 (and at most 100 for a percent series); null clears it",
            "exclusiveMinimum": True,
        },
    )
    instance_capacity = Float(
        allow_none=True,
        validate=Range(0, min_inclusive=False),
        metadata={"description": "What one instance serves, > 0; null clears it", "exclusiveMinimum": True},
    )
    instances = Integer(allow_none=True, validate=Range(1, 1_000_000), metadata={"description": "Instances"})
    agg = String(validate=OneOf(AGGREGATIONS), metadata={"description": "Aggregation inside a step"})
    description = String(validate=Length(0, 2000), metadata={"description": "Free text"})


@bp.get("/services")
@require("read")
@bp.doc(responses=openapi.ok(schemas.SERVICES))
def list_services() -> Any:
    """List services with their metrics and series counts."""
    services: dict[str, list[str]] = {}
    for info in state().list_series():
        services.setdefault(info.service, []).append(info.metric)
    return {
        "services": [
            {"service": name, "metrics": metrics, "series": len(metrics)}
            for name, metrics in services.items()
        ]
    }


@bp.get("/series")
@require("read")
@bp.input(SeriesListQuery, location="query", arg_name="query")
@bp.doc(responses=openapi.ok(schemas.SERIES_LIST))
def list_series(query: dict[str, Any]) -> Any:
    """List series with sample counts, span, step, last value and threshold."""
    service = query.get("service")
    if service is not None:
        validate_name(service, "service")
    rows = [series_json(s) for s in state().list_series() if service is None or s.service == service]
    return {"series": rows}


@bp.get("/series/<service>/<metric>")
@require("read")
@bp.doc(responses=openapi.ok(schemas.SERIES))
def get_series(service: str, metric: str) -> Any:
    """Describe a series: span, sample count, step, last value, threshold and capacity."""
    service, metric = series_key(service, metric)
    return series_json(store().series.describe(service, metric))


@bp.patch("/series/<service>/<metric>")
@openapi.rules("threshold is at most 100 for a percent series (cpu, mem*, *_pct, *_percent, *_util)")
@require("write")
@bp.input(SeriesPatch, arg_name="body")
@bp.doc(responses=openapi.ok(schemas.SERIES))
def patch_series(service: str, metric: str, body: dict[str, Any]) -> Any:
    """Change a series' threshold, per-instance capacity, instances, aggregation or description."""
    service, metric = series_key(service, metric)
    current = store().series.describe(service, metric)
    merged = {
        "service": service,
        "metric": metric,
        "threshold": current.threshold,
        "instances": current.instances,
        "instance_capacity": current.instance_capacity,
        "agg": current.agg,
        "description": current.description,
        **body,
    }
    cfg = validate_series_config(merged, where="body")
    changed = {k: getattr(cfg, k) for k in body}
    if not changed:
        raise InvalidConfig(
            "give at least one of threshold, instance_capacity, instances, agg, description", field="body"
        )
    info = store().series.update_series(service, metric, **changed)
    state().invalidate_series(service, metric)
    return series_json(info)


@bp.delete("/series/<service>/<metric>")
@require("admin")
@bp.doc(responses=openapi.no_content())
def delete_series(service: str, metric: str) -> Any:
    """Delete a series with its samples and forecasts (admin)."""
    service, metric = series_key(service, metric)
    store().series.delete_series(service, metric)
    state().invalidate_series(service, metric)
    return "", 204
