"""Fleet configuration: per-series thresholds and capacity, and the events calendar, declared once.

The fleet config is a TOML file::

    [[series]]
    service = "checkout"
    metric = "cpu"            # cpu/memory are percent, *rps a rate
    threshold = 75.0          # the scaling threshold, in the metric's unit
    instances = 12            # optional: current instance count
    instance_capacity = 40.0  # optional: what one instance serves, in the metric's unit (e.g. requests/s)
    agg = "max"               # how raw samples inside a step are aggregated: mean, max or p95

    [[events]]
    name = "Black Friday"
    start = "2026-11-27"
    end = "2026-11-30"        # a date-only end is inclusive of that day
    multiplier_low = 2.0      # optional planner band
    multiplier_high = 3.0
    service = "checkout"      # optional: scope to one service

:func:`parse_fleet_config` is pure (a dict in, dataclasses out); :func:`load_fleet_config` reads the file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capacity.errors import InvalidConfig, describe_value
from capacity.events.calendar import EventOccurrence, make_occurrence
from capacity.schema import PERCENT, unit_for, validate_name

AGGREGATIONS = ("mean", "max", "p95")


@dataclass(frozen=True)
class SeriesConfig:
    """What the planner declares about one (service, metric).

    Attributes:
        service: service name.
        metric: metric name (its unit follows from the name, see ``capacity.schema.unit_for``).
        threshold: the scaling threshold in the metric's unit, or None when unknown.
        instances: current instance count, when known.
        instance_capacity: what one instance can serve in the metric's unit (for rates), when known.
        agg: aggregation of raw samples inside a step: ``mean``, ``max`` or ``p95``.
        description: free text.
    """

    service: str
    metric: str
    threshold: float | None = None
    instances: int | None = None
    instance_capacity: float | None = None
    agg: str = "mean"
    description: str = ""


@dataclass(frozen=True)
class FleetConfig:
    """The whole fleet: its series and its events calendar."""

    series: tuple[SeriesConfig, ...] = ()
    events: tuple[EventOccurrence, ...] = ()


def validate_series_config(raw: Mapping[str, Any], where: str = "series") -> SeriesConfig:
    """Validate one series entry (a mapping) into a :class:`SeriesConfig`.

    Raises:
        InvalidConfig: naming the field (``where.field``) and echoing the value.
    """
    known = {"service", "metric", "threshold", "instances", "instance_capacity", "agg", "description"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InvalidConfig(
            f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})", field=unknown[0]
        )
    try:
        service = validate_name(raw.get("service"), "service")
        metric = validate_name(raw.get("metric"), "metric")
    except Exception as exc:
        raise InvalidConfig(f"{where}: {exc}", field=getattr(exc, "field", None)) from None
    threshold = _number(raw.get("threshold"), f"{where}.threshold", positive=True)
    if threshold is not None and unit_for(metric) == PERCENT and threshold > 100:
        raise InvalidConfig(
            f"{where}: threshold for {metric} must be in (0, 100], got {describe_value(raw.get('threshold'))}",
            field="threshold",
        )
    instances_raw = raw.get("instances")
    instances: int | None = None
    if instances_raw is not None:
        if not isinstance(instances_raw, int) or isinstance(instances_raw, bool) or instances_raw < 1:
            raise InvalidConfig(
                f"{where}: instances must be a whole number >= 1, got {describe_value(instances_raw)}",
                field="instances",
            )
        instances = instances_raw
    capacity = _number(raw.get("instance_capacity"), f"{where}.instance_capacity", positive=True)
    agg = raw.get("agg", "mean")
    if agg not in AGGREGATIONS:
        raise InvalidConfig(
            f"{where}: agg must be one of {', '.join(AGGREGATIONS)}, got {describe_value(agg)}", field="agg"
        )
    description = raw.get("description", "")
    if not isinstance(description, str) or len(description) > 2000:
        raise InvalidConfig(
            f"{where}: description must be text of at most 2000 characters", field="description"
        )
    return SeriesConfig(service, metric, threshold, instances, capacity, agg, description)


def _number(value: object, field: str, *, positive: bool) -> float | None:
    if value is None:
        return None
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or value != value
        or value
        in (
            float("inf"),
            float("-inf"),
        )
    ):
        raise InvalidConfig(
            f"{field} must be a number, got {describe_value(value)}", field=field.rsplit(".", 1)[-1]
        )
    if positive and value <= 0:
        raise InvalidConfig(
            f"{field} must be > 0, got {describe_value(value)}", field=field.rsplit(".", 1)[-1]
        )
    return float(value)


def parse_fleet_config(raw: Mapping[str, Any], source: str = "fleet config") -> FleetConfig:
    """Validate a parsed TOML document into a :class:`FleetConfig`.

    Raises:
        InvalidConfig: naming the entry (``series[3].threshold``) and the value.
    """
    unknown = sorted(set(raw) - {"series", "events", "fleet"})
    if unknown:
        raise InvalidConfig(
            f"{source}: unknown table {unknown[0]!r} (known: series, events, fleet)", field=unknown[0]
        )
    series_raw = raw.get("series", [])
    events_raw = raw.get("events", [])
    if not isinstance(series_raw, list) or not isinstance(events_raw, list):
        raise InvalidConfig(f"{source}: series and events must be arrays of tables ([[series]], [[events]])")
    series = tuple(validate_series_config(s, f"{source}: series[{i}]") for i, s in enumerate(series_raw))
    seen: set[tuple[str, str]] = set()
    for s in series:
        key = (s.service, s.metric)
        if key in seen:
            raise InvalidConfig(f"{source}: series {s.service}/{s.metric} is declared twice", field="series")
        seen.add(key)
    events = []
    for i, e in enumerate(events_raw):
        if not isinstance(e, Mapping):
            raise InvalidConfig(f"{source}: events[{i}] must be a table")
        extra = sorted(set(e) - {"name", "start", "end", "multiplier_low", "multiplier_high", "service"})
        if extra:
            raise InvalidConfig(f"{source}: events[{i}]: unknown key {extra[0]!r}", field=extra[0])
        events.append(
            make_occurrence(
                e.get("name"),
                e.get("start"),
                e.get("end"),
                e.get("multiplier_low"),
                e.get("multiplier_high"),
                e.get("service"),
                where=f"{source}: events[{i}]",
            )
        )
    return FleetConfig(series, tuple(events))


def load_fleet_config(path: Path) -> FleetConfig:
    """Read and validate a fleet config TOML file.

    Raises:
        InvalidConfig: when the file is missing, not TOML, or fails validation.
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidConfig(f"fleet config {path} does not exist", field="config") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidConfig(f"{path}: not a valid TOML file ({exc})", field="config") from None
    return parse_fleet_config(raw, source=str(path.name))
