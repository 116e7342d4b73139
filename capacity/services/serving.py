"""Serving a forecast: fresh when the data or the events changed, otherwise from the store.

A read looks up the series' data version and calendar digest (cached for ``freshness_ttl_s``) and the latest
stored run. When the data, or the events that apply to the series, changed since that run (or the read asks for a
longer horizon or other quantiles), the forecast is recomputed for this one series on a small thread pool, and the
read waits at most ``budget_s``; past the budget it gets the stored forecast marked stale (or :class:`Computing`
when there is none), and the computation finishes in the background and is stored. The API serves every forecast
read through one :class:`ForecastServing` per app; how the answer is rendered (JSON, ETag, PNG) is the API's.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from capacity.errors import CapacityError, Computing, ForecastFailed, NotEnoughHistory
from capacity.forecast.types import ForecastSpec
from capacity.schema import DEFAULT_QUANTILES, check_horizon, history_span, quantile_of
from capacity.schema import duration_steps as _duration_steps
from capacity.services.cache import LRU
from capacity.services.forecasting import forecast_stored
from capacity.services.staleness import behind
from capacity.store import SeriesInfo, Store, StoredForecast


@functools.lru_cache(maxsize=256)
def duration_steps(text: str, freq: str = "1h", field: str = "horizon") -> int:
    """``capacity.schema.duration_steps``, memoized: every forecast read converts its horizon."""
    return _duration_steps(text, freq, field)


@dataclass(frozen=True)
class Freshness:
    """What a forecast read needs to know about a series, cached briefly."""

    info: SeriesInfo
    latest: dict[str, Any] | None  # newest run of any status
    ok: StoredForecast | None  # newest successful run


#: Stored runs kept in memory per app (frames without paths: what a forecast read serves).
RUNS_KEPT = 256


class ForecastServing:
    """Which forecast to serve for a series, computing a fresh one within a time budget when the stored one is
    behind. Thread-safe; one per app.

    Args:
        store: the open store.
        default_horizon: the horizon of a read that names none (``14d``).
        budget_s: seconds a read waits for a fresh forecast before it is served the stored one, marked stale.
        freshness_ttl_s: seconds a series' freshness record (data version, newest runs) is reused.
        on_forecast: called with (service, metric) after a fresh forecast was stored (a cache to drop); by
            default the series' freshness record is forgotten.
    """

    def __init__(
        self,
        store: Store,
        *,
        default_horizon: str,
        budget_s: float,
        freshness_ttl_s: float,
        on_forecast: Callable[[str, str], None] | None = None,
    ) -> None:
        self.store = store
        self.default_horizon = default_horizon
        self.budget_s = budget_s
        self.freshness_cache: LRU[tuple[str, str], Freshness] = LRU(4096, ttl=freshness_ttl_s)
        self.on_forecast = on_forecast or self.forget
        self._runs: dict[int, StoredForecast] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._inflight: dict[tuple[Any, ...], Future[int]] = {}

    def forget(self, service: str, metric: str) -> None:
        """Drop the freshness record of one series (after a write that changes it)."""
        self.freshness_cache.drop(lambda k: k == (service, metric))

    def forget_all(self) -> None:
        """Drop every freshness record (after a calendar write, which may change any series)."""
        self.freshness_cache.clear()

    def freshness(self, service: str, metric: str) -> Freshness:
        """The cached freshness record of a series.

        Raises:
            UnknownSeries: no such series.
        """
        fresh = self.freshness_cache.get((service, metric))
        if fresh is not None:
            return fresh
        info = self.store.series.describe(service, metric)
        latest = self.store.forecasts.latest_run_status(service, metric)
        ok = None
        if latest is not None:
            ok = self._run(service, metric, latest["id"] if latest["status"] == "ok" else None)
        fresh = Freshness(info, latest, ok)
        self.freshness_cache.put((service, metric), fresh)
        return fresh

    def _run(self, service: str, metric: str, run_id: int | None) -> StoredForecast | None:
        runs = self._runs
        if run_id is not None and run_id in runs:
            return runs[run_id]
        stored = self.store.forecasts.latest_forecast(service, metric, with_paths=False)
        if stored is not None:
            if len(runs) > RUNS_KEPT:
                runs.clear()
            runs[stored.run_id] = stored
        return stored

    def _compute(self, service: str, metric: str, horizon: int, quantiles: tuple[float, ...]) -> int:
        base = ForecastSpec(horizon=horizon, quantiles=quantiles)
        outcome = forecast_stored(self.store, [(service, metric)], base)[0]
        self.on_forecast(service, metric)
        if not outcome.ok or outcome.run_id is None:
            raise ForecastFailed(f"forecasting {service}/{metric} failed: {outcome.error}", field="series")
        return outcome.run_id

    def _submit(self, key: tuple[Any, ...], *args: Any) -> Future[int]:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="forecast")
            future = self._inflight.get(key)
            if future is None:
                future = self._pool.submit(self._compute, *args)
                self._inflight[key] = future
                future.add_done_callback(lambda _f: self._inflight.pop(key, None))
            return future

    def resolve(
        self, service: str, metric: str, horizon: str | None, quantiles: tuple[float, ...] | None
    ) -> tuple[StoredForecast, int, tuple[float, ...], bool, Freshness]:
        """The forecast to serve: (stored run, horizon steps, quantiles, stale flag, freshness record).

        Raises:
            UnknownSeries: no such series.
            NotEnoughHistory: the series has no samples, or forecasting it failed and nothing is stored.
            Computing: the computation passed the time budget and nothing is stored yet.
            InvalidInput: a horizon longer than the series' history allows (``capacity.schema.check_horizon``).
        """
        fresh = self.freshness(service, metric)
        if fresh.info.samples == 0:
            raise NotEnoughHistory(f"series {service}/{metric} has no samples yet", field="series")
        ok = fresh.ok
        freq = ok.freq if ok is not None else "1h"
        steps = duration_steps(horizon or self.default_horizon, freq=freq)
        if horizon:
            check_horizon(horizon, history_span(fresh.info), series=f"{service}/{metric}")
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
            needs = False  # data changed but the newest attempt failed: serve the last good forecast, marked stale
        if not needs:
            assert ok is not None
            stale = behind(ok.data_version, ok.events_digest, info)
            return ok, min(steps, ok.horizon), tuple(wanted_q), stale, fresh
        all_q = tuple(sorted(set(wanted_q) | set(DEFAULT_QUANTILES)))
        default_steps = duration_steps(self.default_horizon, freq=freq)
        compute_steps = max(steps, default_steps, ok.horizon if ok is not None else 0)
        key = (service, metric, info.data_version, info.events_digest, compute_steps, all_q)
        future = self._submit(key, service, metric, compute_steps, all_q)
        try:
            future.result(timeout=self.budget_s)
        except FutureTimeout:
            if ok is not None and steps <= ok.horizon and set(wanted_q) <= set(_stored_quantiles(ok)):
                return ok, steps, tuple(wanted_q), True, fresh
            raise Computing(retry_after=max(1, int(self.budget_s))) from None
        except CapacityError:
            if ok is not None and steps <= ok.horizon and set(wanted_q) <= set(_stored_quantiles(ok)):
                return ok, steps, tuple(wanted_q), True, fresh
            raise
        fresh = self.freshness(service, metric)
        assert fresh.ok is not None
        if steps > fresh.ok.horizon or not set(wanted_q) <= set(_stored_quantiles(fresh.ok)):
            # Another process stored a newer run (other quantiles, a shorter horizon) between ours and this read:
            # ask the client to come back rather than render columns the run does not have (a KeyError, a 500).
            raise Computing(retry_after=1)
        return fresh.ok, steps, tuple(wanted_q), False, fresh


def _stored_quantiles(fc: StoredForecast) -> tuple[float, ...]:
    return _levels(tuple(fc.frame.columns))


@functools.lru_cache(maxsize=64)
def _levels(columns: tuple[str, ...]) -> tuple[float, ...]:
    return tuple(sorted(q for col in columns if (q := quantile_of(col)) is not None))
