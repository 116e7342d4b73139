"""Serving forecasts: fresh when the data or the events changed, otherwise from the store, rendered once and cached
with an ETag.

A request reads the series' data version and calendar digest (cached for ``freshness_ttl_s``) and the latest
stored run. When the data, or the events that apply to the series, changed since that run (or the request asks for
a longer horizon or other quantiles), the forecast is recomputed for this one series on a small thread pool, and
the request waits at most ``forecast_budget_s``; past the budget it is answered with the stored forecast marked
stale (or 202 when there is none), and the computation finishes in the background and is stored. Rendered bodies
are cached by (series, run, parameters).
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from api.context import AppState
from api.staleness import stale_reason
from capacity.errors import CapacityError, Computing, ForecastFailed, InvalidInput, NotEnoughHistory
from capacity.schema import DEFAULT_QUANTILES, MEAN, TS, quantile_column, quantile_of
from capacity.schema import duration_steps as _duration_steps
from capacity.store import SeriesInfo, StoredForecast
from capacity.store.calendar import calendar_changed
from capacity.store.staleness import forecast_behind


@functools.lru_cache(maxsize=256)
def duration_steps(text: str, freq: str = "1h", field: str = "horizon") -> int:
    """``capacity.schema.duration_steps``, memoized: every forecast read converts its horizon."""
    return _duration_steps(text, freq, field)


#: The longest horizon a request may ask for.
MAX_HORIZON = "366d"


@dataclass(frozen=True)
class Freshness:
    """What a forecast read needs to know about a series, cached briefly."""

    info: SeriesInfo
    latest: dict[str, Any] | None  # newest run of any status
    ok: StoredForecast | None  # newest successful run


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


def freshness(st: AppState, service: str, metric: str) -> Freshness:
    """The cached freshness record of a series (raises UnknownSeries)."""
    fresh = st.freshness.get((service, metric))
    if fresh is not None:
        return fresh
    info = st.store.describe(service, metric)
    latest = st.store.latest_run_status(service, metric)
    ok = None
    if latest is not None:
        ok = _run(st, service, metric, latest["id"] if latest["status"] == "ok" else None)
    fresh = Freshness(info, latest, ok)
    st.freshness.put((service, metric), fresh)
    return fresh


def _run(st: AppState, service: str, metric: str, run_id: int | None) -> StoredForecast | None:
    runs = st.extras.setdefault("runs", {})
    if run_id is not None and run_id in runs:
        return runs[run_id]
    stored = st.store.latest_forecast(service, metric, with_paths=False)
    if stored is not None:
        if len(runs) > 256:
            runs.clear()
        runs[stored.run_id] = stored
    return stored


def _executor(st: AppState) -> ThreadPoolExecutor:
    with _LOCK:
        pool = st.extras.get("compute")
        if pool is None:
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="forecast")
            st.extras["compute"] = pool
            st.extras["inflight"] = {}
        return pool


_LOCK = threading.Lock()


def _compute(st: AppState, service: str, metric: str, horizon: int, quantiles: tuple[float, ...]) -> int:
    from capacity.forecast.types import ForecastSpec
    from capacity.services.forecasting import forecast_stored

    base = ForecastSpec(horizon=horizon, quantiles=quantiles)
    outcome = forecast_stored(st.store, [(service, metric)], base)[0]
    st.invalidate_series(service, metric)
    if not outcome.ok or outcome.run_id is None:
        raise ForecastFailed(f"forecasting {service}/{metric} failed: {outcome.error}", field="series")
    return outcome.run_id


def _submit(st: AppState, key: tuple[Any, ...], *args: Any) -> Future[int]:
    pool = _executor(st)
    with _LOCK:
        inflight: dict[tuple[Any, ...], Future[int]] = st.extras["inflight"]
        future = inflight.get(key)
        if future is None:
            future = pool.submit(_compute, st, *args)
            inflight[key] = future
            future.add_done_callback(lambda _f: inflight.pop(key, None))
        return future


def resolve(
    st: AppState, service: str, metric: str, horizon: str | None, quantiles: tuple[float, ...] | None
) -> tuple[StoredForecast, int, tuple[float, ...], bool, Freshness]:
    """The forecast to serve: (stored run, horizon steps, quantiles, stale flag, freshness record).

    Raises:
        UnknownSeries: no such series.
        NotEnoughHistory: the series has no samples, or forecasting it failed and nothing is stored.
        Computing: the computation passed the time budget and nothing is stored yet.
    """
    fresh = freshness(st, service, metric)
    if fresh.info.samples == 0:
        raise NotEnoughHistory(f"series {service}/{metric} has no samples yet", field="series")
    ok = fresh.ok
    freq = ok.freq if ok is not None else "1h"
    steps = duration_steps(horizon or st.settings.default_horizon, freq=freq)
    if steps > duration_steps(MAX_HORIZON, freq=freq):
        raise InvalidInput(f"horizon must be at most {MAX_HORIZON}, got {horizon}", field="horizon")
    wanted_q = quantiles or (_stored_quantiles(ok) if ok is not None else DEFAULT_QUANTILES)
    info = fresh.info
    needs = (
        ok is None
        or behind(ok.data_version, ok.events_digest, info)
        or steps > ok.horizon
        or not set(wanted_q) <= set(_stored_quantiles(ok))
    )
    latest = fresh.latest
    failed_now = (
        latest is not None
        and latest["status"] == "failed"
        and not behind(latest["data_version"], latest.get("events_digest"), info)
        and (ok is None or behind(ok.data_version, ok.events_digest, info))
    )
    if needs and failed_now:
        if ok is None:
            raise ForecastFailed(
                f"forecasting {service}/{metric} failed: {(str(latest['error'] or 'no reason recorded').splitlines() or [''])[0]}",  # type: ignore[index]
                field="series",
            )
        needs = (
            False  # data changed but the newest attempt failed: serve the last good forecast, marked stale
        )
    if not needs:
        assert ok is not None
        stale = behind(ok.data_version, ok.events_digest, info)
        return ok, min(steps, ok.horizon), tuple(wanted_q), stale, fresh
    all_q = tuple(sorted(set(wanted_q) | set(DEFAULT_QUANTILES)))
    default_steps = duration_steps(st.settings.default_horizon, freq=freq)
    compute_steps = max(steps, default_steps, ok.horizon if ok is not None else 0)
    key = (service, metric, info.data_version, info.events_digest, compute_steps, all_q)
    future = _submit(st, key, service, metric, compute_steps, all_q)
    try:
        future.result(timeout=st.settings.forecast_budget_s)
    except FutureTimeout:
        if ok is not None and steps <= ok.horizon and set(wanted_q) <= set(_stored_quantiles(ok)):
            return ok, steps, tuple(wanted_q), True, fresh
        raise Computing(retry_after=max(1, int(st.settings.forecast_budget_s))) from None
    except CapacityError:
        if ok is not None and steps <= ok.horizon and set(wanted_q) <= set(_stored_quantiles(ok)):
            return ok, steps, tuple(wanted_q), True, fresh
        raise
    fresh = freshness(st, service, metric)
    assert fresh.ok is not None
    return fresh.ok, steps, tuple(wanted_q), False, fresh


def behind(data_version: int, events_digest: str | None, info: SeriesInfo) -> bool:
    """True when a run of ``data_version`` made with the events of ``events_digest`` is behind its series: the
    samples changed since, or the events calendar that applies to the series did."""
    return forecast_behind(data_version, events_digest, info.data_version, info.events_digest)


def _stored_quantiles(fc: StoredForecast) -> tuple[float, ...]:
    return _levels(tuple(fc.frame.columns))


@functools.lru_cache(maxsize=64)
def _levels(columns: tuple[str, ...]) -> tuple[float, ...]:
    return tuple(sorted(q for col in columns if (q := quantile_of(col)) is not None))


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
