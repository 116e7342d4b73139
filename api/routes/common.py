"""Helpers shared by the blueprints: name checks, JSON/ISO rendering, query schemas used by several routes."""

from __future__ import annotations

from typing import Any

import pandas as pd
from apiflask import Schema
from apiflask.fields import Integer, String
from apiflask.validators import Range

from api.http.render import iso
from capacity.schema import validate_event_name, validate_name
from capacity.store import SeriesInfo

#: Epoch milliseconds accepted for Grafana's ``from``/``to`` (1990..2100).
MS_MIN, MS_MAX = 631_152_000_000, 4_102_444_800_000


def series_key(service: str, metric: str) -> tuple[str, str]:
    """Validate the names in a series path (422 naming the bad one)."""
    return validate_name(service, "service"), validate_name(metric, "metric")


def event_key(name: str) -> str:
    """Validate an event name from a path."""
    return validate_event_name(name, "event")


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


class ForecastQuery(WindowQuery):
    """Forecast parameters."""

    horizon = String(
        validate=lambda s: 0 < len(s) <= 16, metadata={"description": "How far ahead: 24h, 14d, 2w"}
    )
    quantiles = String(
        validate=lambda s: 0 < len(s) <= 200,
        metadata={"description": "Comma-separated quantile levels, e.g. 0.05,0.5,0.95"},
    )
