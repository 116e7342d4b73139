"""JSON bodies of the API: timestamps, a forecast (with its ETag), and the ranked risk table.

What to serve is decided in :mod:`capacity.services` (which forecast, how stale, the ranked risks); how it looks
on the wire is decided here, once.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from capacity.schema import MEAN, TS, quantile_column
from capacity.services.serving import Freshness
from capacity.services.staleness import stale_reason
from capacity.store import StoredForecast
from capacity.store.staleness import calendar_changed


@dataclass(frozen=True)
class Rendered:
    """A forecast response body ready to send."""

    body: bytes
    etag: str
    run_id: int
    stale: bool


def iso(ts: pd.Timestamp | None) -> str | None:
    """A UTC timestamp as ISO 8601 text with a Z, or None."""
    if ts is None or pd.isna(ts):
        return None
    return pd.Timestamp(ts).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def window(frame: pd.DataFrame, start_ms: int | None, end_ms: int | None) -> pd.DataFrame:
    """Rows of ``frame`` with ``ts`` in [from, to] (epoch milliseconds, either bound optional)."""
    ms = frame[TS].astype("int64").to_numpy() // 1_000_000
    mask = np.ones(len(frame), dtype=bool)
    if start_ms is not None:
        mask &= ms >= start_ms
    if end_ms is not None:
        mask &= ms <= end_ms
    return frame.loc[mask]


def band(quantiles: tuple[float, ...]) -> tuple[float, float] | None:
    """The band drawn by charts and flat point lists: 5%..95% when present, else the outermost quantiles."""
    if not quantiles:
        return None
    if 0.05 in quantiles and 0.95 in quantiles:
        return 0.05, 0.95
    return min(quantiles), max(quantiles)


def _clean(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 6)


def render(
    fc: StoredForecast,
    steps: int,
    quantiles: tuple[float, ...],
    stale: bool,
    fresh: Freshness,
    start_ms: int | None,
    end_ms: int | None,
) -> Rendered:
    """The JSON body of a forecast response and its ETag."""
    frame = window(fc.frame.iloc[:steps], start_ms, end_ms)
    qcols = [quantile_column(q) for q in quantiles]
    lo_hi = band(quantiles)
    threshold = fresh.info.threshold
    columns = {col: frame[col].to_numpy(dtype="float64") for col in [MEAN, *qcols]}
    stamps = [iso(t) for t in frame[TS]]
    lo_col = quantile_column(lo_hi[0]) if lo_hi is not None else None
    hi_col = quantile_column(lo_hi[1]) if lo_hi is not None else None
    points = []
    for i, stamp in enumerate(stamps):
        point: dict[str, Any] = {"ts": stamp, "mean": _clean(columns[MEAN][i])}
        for col in qcols:
            point[col] = _clean(columns[col][i])
        if lo_col is not None and hi_col is not None:
            point["lower"] = point[lo_col]
            point["upper"] = point[hi_col]
        point["threshold"] = threshold
        points.append(point)
    chosen = fc.scores.get("chosen", fc.scores) if isinstance(fc.scores, dict) else {}
    body = {
        "service": fc.service,
        "metric": fc.metric,
        "unit": fresh.info.unit,
        "run_id": fc.run_id,
        "created_at": iso(fc.created_at),
        "model": fc.model,
        "freq": fc.freq,
        "horizon": steps,
        "history_end": iso(fc.history_end),
        "data_version": fc.data_version,
        "stale": stale,
        "stale_reason": stale_reason(
            fresh.latest,
            fresh.info.data_version,
            fc.data_version,
            events_stale=calendar_changed(fc.events_digest, fresh.info.events_digest),
            events_digest=fresh.info.events_digest,
            events_changed_at=fresh.info.events_changed_at,
        )
        if stale
        else None,
        "threshold": threshold,
        "quantiles": list(quantiles),
        "band": list(lo_hi) if lo_hi else None,
        "scores": {k: _clean(v) for k, v in chosen.items() if isinstance(v, int | float)},
        "candidates": {
            name: {k: _clean(v) for k, v in sc.items() if isinstance(v, int | float)}
            for name, sc in (fc.scores.get("candidates", {}) or {}).items()
            if isinstance(sc, dict)
        },
        "diagnostics": [str(d) for d in fc.diagnostics],
        "points": points,
    }
    raw = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
    tag = hashlib.sha256(raw).hexdigest()[:32]
    return Rendered(raw, f'"{tag}"', fc.run_id, stale)


def etag_matches(header: str | None, etag: str) -> bool:
    """True when an ``If-None-Match`` header names ``etag`` (weak comparison, ``*`` matches anything)."""
    if not header:
        return False
    bare = etag.removeprefix("W/")
    for item in header.split(","):
        item = item.strip()
        if item == "*" or item.removeprefix("W/") == bare:
            return True
    return False


def plain(value: Any) -> Any:
    """A value of a pandas record as JSON: ISO timestamps, None for NaN/NaT, floats to 6 decimals, numpy scalars
    as Python ones."""
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return iso(value)
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 6)
    if hasattr(value, "item"):  # numpy scalars
        return plain(value.item())
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def risk_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The ranked risk frame as JSON-ready dicts (ISO timestamps, no NaN), with a rank column."""
    out = []
    for i, rec in enumerate(frame.to_dict(orient="records"), start=1):
        row = {"rank": i, **{str(k): plain(v) for k, v in rec.items()}}
        for key in INTEGER_COLUMNS:  # a column with gaps comes back from pandas as float
            if isinstance(row.get(key), float):
                row[key] = int(row[key])
        out.append(row)
    return out


#: Risk columns that count instances.
INTEGER_COLUMNS = ("instances", "instances_needed", "instances_to_add")
