"""Helpers shared by the blueprints: name checks, JSON/ISO rendering, query schemas used by several routes."""

from __future__ import annotations

from typing import Any

import pandas as pd
from apiflask import Schema
from apiflask.fields import Integer, String
from apiflask.validators import Range, Regexp
from flask import Response, json

from api.http import params
from api.http.render import iso
from capacity.errors import Computing
from capacity.events.names import lookup_event_name
from capacity.schema import validate_name
from capacity.store import SeriesInfo

#: Epoch milliseconds accepted for Grafana's ``from``/``to`` (1990..2100).
MS_MIN, MS_MAX = 631_152_000_000, 4_102_444_800_000


def series_key(service: str, metric: str) -> tuple[str, str]:
    """Validate the names in a series path (422 naming the bad one)."""
    return validate_name(service, "service"), validate_name(metric, "metric")


def event_key(name: str) -> str:
    """Validate an event name from a path."""
    return lookup_event_name(name, "event")


def computing(exc: Computing) -> Response:
    """202 with ``Retry-After``: the forecast a read needs is being computed and nothing stored can serve it yet."""
    body = {"status": "computing", "retry_after": exc.retry_after}
    return Response(
        json.dumps(body),
        status=202,
        mimetype="application/json",
        headers={"Retry-After": str(exc.retry_after)},
    )


def series_json(info: SeriesInfo) -> dict[str, Any]:
    """A series as JSON."""
    return {
        "service": info.service,
        "metric": info.metric,
        "unit": info.unit,
        "agg": info.agg,
        "threshold": info.threshold,
        "instances": info.instances,
        "instance_capacity": info.instance_capacity,
        "description": info.description,
        "data_version": info.data_version,
        "samples": info.samples,
        "first_ts": iso(info.first_ts),
        "last_ts": iso(info.last_ts),
        "last_value": info.last_value,
        "step_seconds": info.step_seconds,
    }


def ms_to_ts(value: int | None) -> pd.Timestamp | None:
    """Epoch milliseconds to a UTC timestamp."""
    return None if value is None else pd.Timestamp(int(value), unit="ms", tz="UTC")


class WindowQuery(Schema):
    """``from``/``to`` in epoch milliseconds (Grafana's ``${__from}``/``${__to}``)."""

    from_ = Integer(
        data_key="from", validate=Range(MS_MIN, MS_MAX), metadata={"description": "Start, epoch ms"}
    )
    to = Integer(validate=Range(MS_MIN, MS_MAX), metadata={"description": "End, epoch ms"})


def horizon_field(description: str) -> String:
    """A ``horizon`` parameter: whole minutes, hours, days or weeks up to 366 days (:data:`params.HORIZON`)."""
    return String(validate=Regexp(params.HORIZON), metadata={"description": description, "example": "14d"})


class ForecastQuery(WindowQuery):
    """Forecast parameters."""

    horizon = horizon_field("How far ahead: 90m, 24h, 14d, 2w (at most 366d; default 14d)")
    quantiles = String(
        validate=Regexp(params.QUANTILES),
        metadata={
            "description": "Comma-separated quantile levels in (0, 1), up to 4 decimals, e.g. 0.05,0.5,0.95",
            "example": "0.05,0.5,0.95",
        },
    )


class SignedQuery(Schema):
    """The parameters of a signed chart URL (:mod:`api.http.signing`): with them, no bearer token is needed."""

    expires = Integer(
        validate=Range(0, 999_999_999_999),
        metadata={"description": "Signed URL: when it expires, epoch seconds (from the chart-url operation)"},
    )
    signature = String(
        validate=Regexp(params.SIGNATURE),
        metadata={"description": "Signed URL: HMAC-SHA256 of GET, the path and expires (from chart-url)"},
    )


class ForecastChartQuery(ForecastQuery, SignedQuery):
    """The forecast chart's parameters, and a signed URL's."""


#: The history ``/points`` shows when no ``from`` is given: enough for a dashboard, far less than the whole store.
POINTS_HISTORY = "14d"


class PointsQuery(WindowQuery):
    """The points' window and how far the forecast part reaches."""

    horizon = horizon_field(
        "How far ahead the forecast points reach (default: the stored forecast's horizon)"
    )
    history = String(
        load_default=POINTS_HISTORY,
        validate=Regexp(params.HORIZON),
        metadata={
            "description": "Without from: how much history before the window's end (the last sample, or to) the "
            "points show, like 90m, 24h, 14d, 2w (at most 366d); from asks for any span",
            "example": "30d",
        },
    )
