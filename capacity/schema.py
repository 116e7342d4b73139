"""The canonical frames, their column names and dtypes, and their validation.

History is one long frame ``service, metric, ts, value`` with UTC timestamps. A forecast frame has
``service, metric, ts, mean`` and one column per quantile (``q0.025`` ... ``q0.975``). Stages add columns and
never rename them. Validation happens once at each entry point and raises :class:`InvalidHistory` naming the
field, the row and the value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from capacity.errors import InvalidHistory, InvalidInput, InvalidName, NotEnoughHistory, describe_value
from capacity.timestamps import EXPECTED, parse_column, readable

SERVICE = "service"
METRIC = "metric"
TS = "ts"
VALUE = "value"
MEAN = "mean"

HISTORY_COLUMNS: tuple[str, ...] = (SERVICE, METRIC, TS, VALUE)

#: The quantiles every forecast carries unless asked otherwise.
DEFAULT_QUANTILES: tuple[float, ...] = (0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975)

#: Oldest and newest timestamps accepted: anything outside is a unit mistake (seconds vs ms) or a typo.
MIN_TS = pd.Timestamp("1990-01-01", tz="UTC")
MAX_TS = pd.Timestamp("2100-01-01", tz="UTC")

NAME_MAX = 128
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")
_ZONE_RE = r"(?:[zZ]|[+-]\d{2}:?\d{2}|UTC|GMT)$"

PERCENT = "percent"
RATE = "per_second"
GAUGE = "gauge"


def quantile_column(q: float) -> str:
    """The column name of quantile ``q`` in a forecast frame, e.g. ``q0.975``."""
    return f"q{q:g}"


def quantile_of(column: object) -> float | None:
    """The quantile level a forecast column holds (``q0.975`` -> 0.975), None for any other column (including
    ``qnan``, ``q2`` or ``q-1``: a level is strictly between 0 and 1)."""
    if not isinstance(column, str) or not column.startswith("q"):
        return None
    try:
        level = float(column[1:])
    except ValueError:
        return None
    return level if 0.0 < level < 1.0 else None


def quantile_columns(quantiles: Iterable[float]) -> list[str]:
    """The column names of several quantiles, in the given order."""
    return [quantile_column(q) for q in quantiles]


def validate_quantiles(quantiles: Sequence[float]) -> tuple[float, ...]:
    """Check quantile levels: each in (0, 1), no duplicates; returns them sorted.

    Raises:
        InvalidHistory: naming the bad level.
    """
    out = []
    for q in quantiles:
        if not isinstance(q, int | float) or not 0.0 < float(q) < 1.0:
            raise InvalidHistory(f"quantile must be in (0, 1), got {describe_value(q)}", field="quantiles")
        out.append(float(q))
    if len(set(out)) != len(out):
        raise InvalidHistory(f"quantiles must be distinct, got {out}", field="quantiles")
    return tuple(sorted(out))


def unit_for(metric: str) -> str:
    """The unit a metric name implies: percent (cpu, memory, ``*_pct``), a rate (``*rps``, ``*_per_s``) or a gauge.

    Percent metrics must lie in [0, 100]; rates must not be negative; gauges only need to be finite.
    """
    name = metric.lower()
    if name.startswith(("cpu", "mem")) or name.endswith(("_pct", "_percent", "percent", "_util")):
        return PERCENT
    if name.endswith(("rps", "qps", "_per_s", "_per_second", "_rate", "requests")) or name in {
        "requests",
        "rate",
    }:
        return RATE
    return GAUGE


def unit_label(metric: str) -> str:
    """A human label of a metric's unit, for tables and chart axes."""
    return {PERCENT: "%", RATE: "requests/s" if "req" in metric or "rps" in metric else "per second"}.get(
        unit_for(metric), "value"
    )


def validate_name(value: object, field: str, *, row: int | None = None) -> str:
    """Check a service or metric name: 1..128 characters of letters, digits and ``_ . : -``.

    Raises:
        InvalidName: naming the field, the row and echoing the value.
    """
    where = f" (row {row})" if row is not None else ""
    if not isinstance(value, str) or not value:
        raise InvalidName(
            f"{field}{where} must be a non-empty name, got {describe_value(value)}", field=field, row=row
        )
    if len(value) > NAME_MAX:
        raise InvalidName(
            f"{field}{where} must be at most {NAME_MAX} characters, got {len(value)}: {describe_value(value)}",
            field=field,
            row=row,
        )
    if not _NAME_RE.fullmatch(value):  # not match: "$" would let a final newline through
        raise InvalidName(
            f"{field}{where} may hold only letters, digits and _ . : - (starting with a letter or digit), "
            f"got {describe_value(value)}",
            field=field,
            row=row,
        )
    return value


def parse_timestamp(value: object, field: str = "ts") -> pd.Timestamp:
    """Parse one timestamp (ISO text, epoch seconds or a datetime) to UTC; naive times are taken as UTC.

    Raises:
        InvalidHistory: when it cannot be parsed or lies outside 1990..2100.
    """
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            ts = pd.Timestamp(float(value), unit="s", tz="UTC")
        else:
            ts = pd.Timestamp(value)  # type: ignore[arg-type]
            ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidHistory(f"{field} is not a timestamp: {describe_value(value)}", field=field) from exc
    if ts is pd.NaT or pd.isna(ts):
        raise InvalidHistory(f"{field} is not a timestamp: {describe_value(value)}", field=field)
    if not MIN_TS <= ts < MAX_TS:
        raise InvalidHistory(f"{field} must lie between 1990 and 2100, got {ts.isoformat()}", field=field)
    return ts


def zone_flags(raw: pd.Series) -> np.ndarray:
    """For timestamps given as text: which ones carry a time zone (``Z``, ``+02:00``, ``UTC``)."""
    return np.asarray(raw.astype(str).str.strip().str.contains(_ZONE_RE, regex=True), dtype=bool)


def has_mixed_zones(raw: pd.Series) -> bool:
    """True when some text timestamps carry a time zone and others do not."""
    flags = zone_flags(raw)
    return bool(flags.any() and not flags.all())


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def validate_history(frame: pd.DataFrame, *, first_row: int = 1, source: str = "") -> pd.DataFrame:
    """Validate and normalize a history frame; returns a new frame with the canonical columns and dtypes.

    Args:
        frame: a frame holding at least ``service, metric, ts, value`` (extra columns are dropped).
        first_row: the row number to report for the frame's first row (2 for a CSV file with a header).
        source: a prefix for messages, e.g. the file name.

    Returns:
        A frame ``service, metric, ts, value`` with ``ts`` as ``datetime64[ns, UTC]`` and ``value`` as float64,
        in the input order (sorting and merging duplicates is the job of ``capacity.forecast.regularize``).

    Raises:
        InvalidHistory: on a missing column, an empty frame, an unparsable timestamp, a non-numeric, NaN or
            infinite value, a negative rate, a percent outside [0, 100] or a bad name; the message names the
            field, the row and the value.
    """
    prefix = f"{source}: " if source else ""
    missing = [c for c in HISTORY_COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidHistory(
            f"{prefix}missing column {missing[0]!r} (expected {', '.join(HISTORY_COLUMNS)}; got "
            f"{', '.join(map(str, frame.columns)) or 'no columns'})",
            field=missing[0],
        )
    if len(frame) == 0:
        raise InvalidHistory(f"{prefix}no rows of history", field=VALUE)

    def fail(field: str, pos: int, what: str, value: object) -> InvalidHistory:
        row = first_row + pos
        return InvalidHistory(
            f"{prefix}row {row}: {field} {what}, got {describe_value(value)}", field=field, row=row
        )

    services = frame[SERVICE]
    metrics = frame[METRIC]
    # Names: validate each distinct value once, then find its first row for the message.
    for field, col in ((SERVICE, services), (METRIC, metrics)):
        for name in pd.unique(col):
            try:
                validate_name(name, field)
            except InvalidName as exc:
                pos = (
                    _first_bad((col == name).to_numpy())
                    if not pd.isna(name)
                    else _first_bad(col.isna().to_numpy())
                )
                row = first_row + pos
                raise InvalidHistory(f"{prefix}row {row}: {exc.message}", field=field, row=row) from None

    raw_ts = frame[TS]
    if raw_ts.dtype == object:
        has_zone = zone_flags(raw_ts)
        if has_zone.any() and not has_zone.all():
            # Text with an offset next to text without one is ambiguous (is 09:00 local or UTC?): refuse it.
            pos = _first_bad(has_zone != has_zone[0])
            what = (
                "has a time zone while row {} does not"
                if has_zone[pos]
                else "has no time zone while row {} has one"
            )
            raise fail(
                TS, pos, what.format(first_row) + " (mixed time zones are ambiguous)", raw_ts.iloc[pos]
            )
    ts, refused = parse_column(raw_ts)
    bad = ts.isna().to_numpy() | refused
    if bad.any():
        pos = _first_bad(bad)
        what = f"is not {EXPECTED}" if refused[pos] and readable(raw_ts.iloc[pos]) else "is not a timestamp"
        raise fail(TS, pos, what, raw_ts.iloc[pos])
    out_of_range = ((ts < MIN_TS) | (ts >= MAX_TS)).to_numpy()
    if out_of_range.any():
        pos = _first_bad(out_of_range)
        raise fail(TS, pos, "must lie between 1990 and 2100", raw_ts.iloc[pos])

    raw_values = frame[VALUE]
    values = pd.to_numeric(raw_values, errors="coerce") if raw_values.dtype == object else raw_values
    try:
        arr = np.asarray(values, dtype="float64")
    except (TypeError, ValueError):
        values = pd.to_numeric(raw_values, errors="coerce")
        arr = np.asarray(values, dtype="float64")
    nonfinite = ~np.isfinite(arr)
    if nonfinite.any():
        pos = _first_bad(nonfinite)
        raw = raw_values.iloc[pos]
        is_number = isinstance(raw, int | float | np.floating) and not isinstance(raw, bool)
        if not is_number:
            try:
                float(raw)
                is_number = True
            except (TypeError, ValueError):
                is_number = False
        what = "must be a finite number" if is_number else "is not a number"
        if isinstance(raw, str) and re.fullmatch(r"\s*-?\d+,\d+\s*", raw):
            what += " (a decimal comma? write a point: 85.5)"
        raise fail(VALUE, pos, what, raw)

    units = {m: unit_for(m) for m in pd.unique(metrics)}
    unit_arr = metrics.map(units).to_numpy()
    negative = (arr < 0) & (unit_arr != GAUGE)
    if negative.any():
        pos = _first_bad(negative)
        kind = "a percent" if unit_arr[pos] == PERCENT else "a rate"
        raise fail(
            VALUE, pos, f"must not be negative for {metrics.iloc[pos]!r} ({kind})", raw_values.iloc[pos]
        )
    over = (arr > 100.0) & (unit_arr == PERCENT)
    if over.any():
        pos = _first_bad(over)
        raise fail(
            VALUE, pos, f"must be at most 100 for {metrics.iloc[pos]!r} (a percent)", raw_values.iloc[pos]
        )

    return pd.DataFrame(
        {
            SERVICE: services.astype(str).to_numpy(),
            METRIC: metrics.astype(str).to_numpy(),
            TS: ts.array,
            VALUE: arr,
        }
    ).astype({TS: "datetime64[ns, UTC]"})


def empty_history() -> pd.DataFrame:
    """An empty history frame with the canonical columns and dtypes."""
    return pd.DataFrame(
        {
            SERVICE: pd.Series(dtype=str),
            METRIC: pd.Series(dtype=str),
            TS: pd.Series(dtype="datetime64[ns, UTC]"),
            VALUE: pd.Series(dtype="float64"),
        }
    )


def validate_forecast(frame: pd.DataFrame, quantiles: Sequence[float] = DEFAULT_QUANTILES) -> pd.DataFrame:
    """Check a forecast frame: ``ts``, ``mean`` and monotone quantile columns, all finite.

    Raises:
        InvalidHistory: naming the first column or row that breaks the contract.
    """
    needed = [TS, MEAN, *quantile_columns(quantiles)]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InvalidHistory(f"forecast frame misses column {missing[0]!r}", field=missing[0])
    qs = frame[quantile_columns(quantiles)].to_numpy(dtype="float64")
    if not np.isfinite(qs).all() or not np.isfinite(frame[MEAN].to_numpy(dtype="float64")).all():
        raise InvalidHistory("forecast frame holds NaN or infinite values", field=MEAN)
    if qs.shape[1] > 1 and (np.diff(qs, axis=1) < -1e-9 * np.maximum(1.0, np.abs(qs[:, 1:]))).any():
        raise InvalidHistory("forecast quantiles are not monotone", field="quantiles")
    return frame


def is_finite_number(value: object) -> bool:
    """True for an int or float (not bool) that is finite."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


#: The longest duration parsed into a Timedelta (pandas' own limit is about 292 years).
LONGEST_DURATION = pd.Timedelta(days=100 * 366)


def duration_seconds(text: str, field: str = "horizon") -> float:
    """The seconds of a duration like ``24h``, ``14d``, ``2w``, ``90m``, however long.

    Raises:
        InvalidHistory: naming the field when it is not a positive duration.
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", str(text).lower())
    if not match:
        raise InvalidHistory(
            f"{field} must be a duration like 24h, 14d or 2w, got {describe_value(text)}", field=field
        )
    seconds = float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
    if seconds <= 0:
        raise InvalidHistory(f"{field} must be positive, got {describe_value(text)}", field=field)
    return seconds


def parse_duration(text: str, field: str = "horizon") -> pd.Timedelta:
    """Parse a duration like ``24h``, ``14d``, ``2w``, ``90m`` (at most a century).

    Raises:
        InvalidHistory: naming the field when it is not a positive duration, or is over a century.
    """
    seconds = duration_seconds(text, field)
    if seconds > LONGEST_DURATION.total_seconds():
        raise InvalidHistory(f"{field} must be at most 100 years, got {describe_value(text)}", field=field)
    return pd.Timedelta(seconds, unit="s")


def duration_steps(text: str, freq: str = "1h", field: str = "horizon") -> int:
    """How many ``freq`` steps a duration spans (at least 1)."""
    delta = parse_duration(text, field)
    step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))  # type: ignore[arg-type]
    return max(1, math.ceil(delta / step))


#: The farthest any forecast reaches, whatever its history: a year and a day, one yearly peak ahead.
MAX_HORIZON = pd.Timedelta(days=366)
#: Horizons up to this are allowed on any history (the default horizon), so a new short series still forecasts.
FREE_HORIZON = pd.Timedelta(days=14)


def format_days(delta: pd.Timedelta) -> str:
    """A duration as whole days (rounded down) or, under two days, whole hours: text ``--horizon`` accepts."""
    if delta >= pd.Timedelta(days=2):
        return f"{int(delta / pd.Timedelta(days=1))}d"
    return f"{max(1, int(delta / pd.Timedelta(hours=1)))}h"


def history_span(info: object) -> pd.Timedelta | None:
    """How far back a stored series' history reaches (``last_ts - first_ts``); None without samples."""
    first, last = getattr(info, "first_ts", None), getattr(info, "last_ts", None)
    return None if first is None or last is None else pd.Timestamp(last) - pd.Timestamp(first)


def horizon_limit(history_span: pd.Timedelta | None) -> pd.Timedelta:
    """The longest horizon a series whose history spans ``history_span`` may be forecast over.

    As far ahead as the history reaches back: a cycle or a trend the history has not seen once cannot be
    extrapolated (nine months of history say nothing of the next Christmas), and the forecast, its sample paths
    and what the store keeps grow with the horizon (2000 days were 704 MB). Never less than :data:`FREE_HORIZON`
    (the default horizon works on a new series) nor more than :data:`MAX_HORIZON`.
    """
    span = history_span if history_span is not None else MAX_HORIZON
    return min(MAX_HORIZON, max(FREE_HORIZON, span))


def check_horizon(
    horizon: str | pd.Timedelta,
    history_span: pd.Timedelta | None = None,
    *,
    series: str = "",
    field: str = "horizon",
) -> pd.Timedelta:
    """Check a horizon (text like ``14d``, or a duration) against :func:`horizon_limit`; returns the duration.

    The CLI (``capacity forecast``, ``risks --event``) and the API's forecast routes all call this, so the rule and
    its message are the same everywhere. Without ``history_span`` only the absolute cap is checked; ``series``
    (``service/metric``) and ``field`` (the option) are named in the message.

    Raises:
        InvalidInput: past the absolute cap (a malformed request anywhere).
        NotEnoughHistory: longer than this series' history allows, naming the limit and why (the API's 409).
    """
    text = horizon if isinstance(horizon, str) else format_days(horizon)
    seconds = duration_seconds(horizon, field) if isinstance(horizon, str) else horizon.total_seconds()
    if seconds > MAX_HORIZON.total_seconds():
        raise InvalidInput(
            f"{field} must be at most 366d, got {text}: no forecast reaches more than a year and a day ahead",
            field=field,
        )
    delta = pd.Timedelta(seconds, unit="s")
    limit = horizon_limit(history_span)
    if history_span is not None and delta > limit:
        raise NotEnoughHistory(  # the request is well formed; this series' history is what is too short
            f"{field} {text} is too long for the history of {series or 'the series'}, which spans "
            f"{format_days(history_span)}: at most {format_days(limit)} (a forecast reaches at most as far ahead as "
            "its history reaches back; 14d is always allowed, 366d never exceeded)",
            field=field,
        )
    return delta
