"""The per-series gauges of ``/metrics``: computed when what they rest on changes, stored, and read by a scrape.

A forecast saved (:func:`after_forecast`, called by every forecast write), an ingest (the ledger's
:func:`~capacity.services.accuracy.score_ingested`) and a running server's background pass (:func:`catch_up`: series
whose risk gauges no longer match their newest run or settings, runs the ledger has not scored) write them. A
scrape (:func:`read_gauges`) runs one query and some arithmetic on the rows (seconds until a stored breach time,
the drift rule): no forecasting, no risk assessment, no scoring, and no lock.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass

import pandas as pd

from capacity.services import accuracy
from capacity.services.fleet_risk import risk_gauges
from capacity.store import Store
from capacity.store.staleness import forecast_behind

log = logging.getLogger("capacity.gauges")

#: Series a background pass refreshes at most (the rest wait for the next pass).
CATCH_UP_SERIES = 20


@dataclass(frozen=True)
class SeriesGauges:
    """What ``/metrics`` shows for one series (None: not known, the line is left out).

    Attributes:
        service, metric: the series.
        breach_probability: probability of crossing the threshold within the forecast horizon.
        headroom_ratio: threshold over the forecast p95 peak.
        seconds_to_breach: from now until the first likely breach (0 once it has passed).
        live_mase, backtest_mase: the ledger's live MASE and what the backtests of the same runs promised.
        coverage_80, coverage_95: the share of actuals inside the forecasts' 80% and 95% intervals.
        live_steps: forecast steps scored against actuals.
        drift: the drift rule (see :mod:`capacity.services.accuracy`).
        forecast_age_seconds: since the forecast the risk gauges rest on was made.
        stale: that forecast is behind its series' data or events.
    """

    service: str
    metric: str
    breach_probability: float | None = None
    headroom_ratio: float | None = None
    seconds_to_breach: float | None = None
    live_mase: float | None = None
    backtest_mase: float | None = None
    coverage_80: float | None = None
    coverage_95: float | None = None
    live_steps: int | None = None
    drift: bool | None = None
    forecast_age_seconds: float | None = None
    stale: bool | None = None


def refresh_risk(store: Store, keys: Collection[tuple[str, str]]) -> int:
    """Assess these series from their newest forecast and store their risk gauges; returns how many were stored."""
    if not keys:
        return 0
    return store.gauges.save_risk(risk_gauges(store, only=keys))


def after_forecast(store: Store, service: str, metric: str) -> None:
    """Bring a series' gauges and ledger up to date after a forecast of it was saved. A failure is logged, never
    raised: the forecast is stored whatever happens here, and the next background pass retries."""
    try:
        refresh_risk(store, [(service, metric)])
        accuracy.score_series(store, service, metric)
    except Exception:  # best effort: gauges must never fail a forecast
        log.warning("updating the gauges of %s/%s failed", service, metric, exc_info=True)


def catch_up(store: Store, limit: int = CATCH_UP_SERIES) -> int:
    """One background pass: refresh the risk gauges of up to ``limit`` series that are behind (a new run, changed
    settings) and score up to ``limit`` series the ledger is behind on; returns how many series and runs it did."""
    done = refresh_risk(store, store.gauges.behind(limit))
    return done + accuracy.catch_up(store, limit)


def _seconds(value: int | None, now: float) -> float | None:
    if value is None:
        return None
    return max(0.0, float(value) - now)


def read_gauges(
    store: Store, now: pd.Timestamp, drift_ratio: float = accuracy.DRIFT_RATIO
) -> list[SeriesGauges]:
    """Every series' stored gauges as of ``now`` (one query; what a scrape shows)."""
    out = []
    t = now.timestamp()
    for row in store.gauges.scrape():
        has_run = row["run_created_at"] is not None
        live = row["live_at"] is not None
        out.append(
            SeriesGauges(
                service=row["service"],
                metric=row["metric"],
                breach_probability=row["breach_probability"],
                headroom_ratio=row["headroom_ratio"],
                seconds_to_breach=_seconds(row["first_breach"], t),
                live_mase=row["live_mase"],
                backtest_mase=row["live_backtest_mase"],
                coverage_80=row["live_coverage_80"],
                coverage_95=row["live_coverage_95"],
                live_steps=row["live_steps"],
                drift=accuracy.drift(row, drift_ratio) if live else None,
                forecast_age_seconds=max(0.0, t - row["run_created_at"]) if has_run else None,
                stale=forecast_behind(
                    row["run_data_version"],
                    row["run_events_digest"],
                    row["data_version"],
                    row["events_digest"],
                )
                if has_run
                else None,
            )
        )
    return out
