"""The forecast ledger: one live accuracy for the CLI, the API, ``/metrics`` and the readiness report.

Each successful forecast run is scored against the actuals that arrive after it, and the score is stored
(``store.ledger``): at ingest (:func:`score_ingested`, called by ``capacity ingest`` and the samples route), when a
forecast is saved, by a running server's background pass (:func:`catch_up`), and, for a series whose runs were
never scored (a database from before the ledger), on the first read of its accuracy (:func:`series_accuracy`).
Everything that shows live accuracy reads the stored rows, so they all show the same numbers.

The maths, defined here once:

- **Actuals** are the raw samples aggregated with the series' aggregation (mean, max or p95) into the run's own
  steps: step ``k`` of a run covers ``[history_end + k * step, history_end + (k + 1) * step)``. A step is scored once
  it has closed: a sample at or after its end minus the series' sampling interval has arrived (so a half-filled
  hour is never scored and re-sending the same samples changes nothing). The aggregation is one pandas groupby per
  run grid (no Python call per step).
- **MASE** is the mean absolute error over the scored steps divided by the run's scale: the in-sample mean absolute
  error of the seasonal-naive forecast over the **28 days of history before the run** (what it saw; regularized as
  the engine does, at the run's step), at the lag of the shortest seasonal period its engine detected (the daily
  cycle for sub-daily data; lag 1 when it found none), as the backtest scores it
  (:func:`capacity.forecast.metrics.seasonal_scale`). The scale is found when the run is first scored and kept.
- **sMAPE**, **WAPE** and the **coverage** of the 80% (q0.1..q0.9) and 95% (q0.025..q0.975) intervals, from
  :mod:`capacity.forecast.metrics`.
- A run is **complete** once every step of its horizon has closed, **partial** before.
- A series' **live accuracy** sums its newest :data:`LIVE_RUNS` runs that have scored steps, weighting each run by
  its steps: MASE over those that have a MASE and a backtest MASE (a fallback run promised nothing to compare
  with), sMAPE and coverage over all, WAPE as total absolute error over total absolute actuals.
- **Drift** is raised when, over at least :data:`DRIFT_MIN_STEPS` scored steps, the live MASE exceeds ``drift_ratio``
  (:data:`DRIFT_RATIO` by default) times the backtest MASE of the same runs.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from capacity.errors import CapacityError, UnknownSeries
from capacity.forecast.metrics import coverage, mase, seasonal_scale, smape, wape
from capacity.forecast.regularize import regularize
from capacity.schema import MEAN, METRIC, SERVICE, TS, quantile_column
from capacity.store import Store
from capacity.store.ledger import RunToScore, Score, SeriesLedger

log = logging.getLogger("capacity.accuracy")

#: Runs (newest first, with scored steps) a series' live accuracy sums.
LIVE_RUNS = 20
#: Live MASE this many times the backtest MASE of the same runs raises the drift flag.
DRIFT_RATIO = 1.2
#: Scored steps needed before drift can be raised (one day of hourly steps).
DRIFT_MIN_STEPS = 24
#: The history before a run its MASE scale is measured on.
SCALE_WINDOW = pd.Timedelta(days=28)
#: The intervals whose coverage is scored: (width in percent, lower level, upper level).
INTERVALS = ((80, 0.1, 0.9), (95, 0.025, 0.975))
QUANTILES = tuple(quantile_column(q) for _, lo, hi in INTERVALS for q in (lo, hi))


def _step(freq: str) -> pd.Timedelta:
    return pd.Timedelta(pd.tseries.frequencies.to_offset(freq))  # type: ignore[arg-type]


def sampling_interval(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The series' usual time between samples: the median positive gap (zero with fewer than two samples)."""
    secs = np.diff(index.asi8)
    secs = secs[secs > 0]
    return pd.Timedelta(int(np.median(secs)), unit="ns") if len(secs) else pd.Timedelta(0)


def step_actuals(
    values: pd.Series, anchor: pd.Timestamp, step: pd.Timedelta, agg: str, sampled: pd.Timedelta
) -> pd.Series:
    """The raw samples aggregated into the steps of the grid through ``anchor`` (``anchor + k * step``), keeping
    the closed steps only; indexed by each step's start.

    Vectorised: the step number of every sample is integer arithmetic on the timestamps, and the aggregation one
    pandas groupby (``mean``, ``max``, or the linear-interpolated 0.95 quantile for ``p95``, as
    :func:`capacity.forecast.regularize.regularize` aggregates).

    Args:
        values: raw samples on a sorted UTC ``DatetimeIndex``.
        anchor: a step start of the grid (a run's ``history_end``).
        step: the grid's step.
        agg: ``mean``, ``max`` or ``p95``.
        sampled: the series' sampling interval: a step has closed once a sample at or after its end minus this has
            arrived.
    """
    if values.empty:
        return pd.Series(dtype="float64")
    ns = pd.DatetimeIndex(values.index).asi8
    k = (ns - anchor.value) // step.value
    grouped = pd.Series(values.to_numpy(dtype="float64"), index=k).groupby(level=0, sort=True)
    if agg == "mean":
        out = grouped.mean()
    elif agg == "max":
        out = grouped.max()
    else:
        out = grouped.quantile(0.95)
    starts = anchor.value + out.index.to_numpy(dtype="int64") * step.value
    closed = starts + step.value - sampled.value <= ns.max()
    return pd.Series(
        out.to_numpy()[closed],
        index=pd.DatetimeIndex(pd.to_datetime(starts[closed], utc=True)),
        dtype="float64",
    )


def mase_scale(history: pd.Series, run: RunToScore, agg: str) -> float | None:
    """The MASE scale of a run: seasonal-naive error of its last :data:`SCALE_WINDOW` of history (see the module
    docstring); None when that history has fewer than three steps."""
    seen = history[
        (history.index > run.history_end - SCALE_WINDOW) & (history.index < run.history_end + _step(run.freq))
    ]
    try:
        regular = regularize(seen, run.freq, agg).values.to_numpy(dtype="float64")
    except CapacityError:
        return None
    return seasonal_scale(regular, min(run.periods) if run.periods else 1)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def score_run(
    run: RunToScore, frame: pd.DataFrame, actual: pd.Series, scale: float | None, complete: bool
) -> Score:
    """One run's score from its forecast frame and the closed actuals on its grid (see the module docstring)."""
    joined = frame.set_index(TS).join(actual.rename("_actual"), how="inner").dropna(subset=["_actual"])
    window_end = run.history_end + (run.horizon + 1) * _step(run.freq)
    base = Score(
        run_id=run.run_id,
        window_end=window_end,
        horizon=run.horizon,
        steps=len(joined),
        complete=complete,
        mase_scale=scale,
        backtest_mase=run.backtest_mase,
    )
    if joined.empty:
        return base
    a = joined["_actual"].to_numpy(dtype="float64")
    f = joined[MEAN].to_numpy(dtype="float64")
    cover: dict[str, float | None] = {}
    for width, lo, hi in INTERVALS:
        lower, upper = joined[quantile_column(lo)].to_numpy(), joined[quantile_column(hi)].to_numpy()
        defined = np.isfinite(lower) & np.isfinite(upper)
        cover[f"coverage_{width}"] = (
            coverage(a[defined], lower[defined], upper[defined]) if defined.all() else None
        )
    return replace(
        base,
        mase=_finite(mase(a, f, scale)) if scale is not None else None,
        smape=_finite(smape(a, f)),
        wape=_finite(wape(a, f)),
        abs_error=float(np.sum(np.abs(a - f))),
        abs_actual=float(np.sum(np.abs(a))),
        coverage_80=cover["coverage_80"],
        coverage_95=cover["coverage_95"],
    )


def summarize(scores: list[Score]) -> dict[str, Any]:
    """A series' live accuracy from its newest runs' scores (see the module docstring): the ``live_*`` values."""
    scored = [s for s in scores if s.steps > 0]
    compared = [s for s in scored if s.mase is not None and s.backtest_mase is not None]

    def weighted(runs: list[Score], key: str) -> float | None:
        pairs = [(getattr(s, key), s.steps) for s in runs if getattr(s, key) is not None]
        n = sum(w for _, w in pairs)
        return float(sum(v * w for v, w in pairs) / n) if n else None

    actual = sum(s.abs_actual or 0.0 for s in scored)
    return {
        "live_runs": len(scored),
        "live_complete": sum(1 for s in scored if s.complete),
        "live_steps": sum(s.steps for s in scored),
        "live_mase": weighted(compared, "mase"),
        "live_backtest_mase": weighted(compared, "backtest_mase"),
        "live_smape": weighted(scored, "smape"),
        "live_wape": float(sum(s.abs_error or 0.0 for s in scored) / actual) if actual > 0 else None,
        "live_coverage_80": weighted(scored, "coverage_80"),
        "live_coverage_95": weighted(scored, "coverage_95"),
    }


def drift(summary: dict[str, Any] | None, ratio: float = DRIFT_RATIO) -> bool:
    """The drift rule (see the module docstring) on a series' live summary."""
    if not summary:
        return False
    live, promised, steps = (
        summary.get("live_mase"),
        summary.get("live_backtest_mase"),
        summary.get("live_steps"),
    )
    return bool(
        live is not None
        and promised is not None
        and (steps or 0) >= DRIFT_MIN_STEPS
        and float(live) > ratio * max(float(promised), 1e-9)
    )


def score_series(
    store: Store, service: str, metric: str, touched: tuple[pd.Timestamp, pd.Timestamp] | None = None
) -> int:
    """Score the series' runs that need it (see ``store.ledger.pending``) and store the scores with the series'
    live summary; returns how many runs were scored.

    Raises:
        UnknownSeries: when the series does not exist.
    """
    version, agg, runs = store.ledger.pending(service, metric, touched)
    if not runs:
        return 0
    frames = store.ledger.forecasts([r.run_id for r in runs], QUANTILES)
    first = min(r.history_end for r in runs)
    need_scale = any(r.mase_scale is None for r in runs)
    start = first - SCALE_WINDOW if need_scale else first
    end = max(r.history_end + (r.horizon + 2) * _step(r.freq) for r in runs)
    raw = store.series.load_history(service, metric, start=start, end=end)
    sampled = sampling_interval(pd.DatetimeIndex(raw.index))
    newest = raw.index[-1] if len(raw) else first
    grids: dict[tuple[int, int], pd.Series] = {}
    scores = []
    for run in runs:
        step = _step(run.freq)
        key = (step.value, run.history_end.value % step.value)
        if key not in grids:  # runs on the same grid share one aggregation of the actuals
            grids[key] = step_actuals(raw[raw.index >= first + step], run.history_end, step, agg, sampled)
        frame = frames.get(run.run_id)
        if frame is None:
            continue  # a run without points (deleted meanwhile)
        scale = run.mase_scale if run.mase_scale is not None else mase_scale(raw, run, agg)
        window_end = run.history_end + (run.horizon + 1) * step
        scores.append(score_run(run, frame, grids[key], scale, bool(newest >= window_end - sampled)))
    store.ledger.save(service, metric, version, scores, summarize, LIVE_RUNS)
    return len(scores)


def score_ingested(store: Store, history: pd.DataFrame) -> int:
    """Rescore what an ingest of ``history`` (a validated history frame, already stored) reached: per series, the
    runs whose window overlaps the span written, and any partial run. A failure is logged, never raised: the
    samples are stored whatever happens here, and the next pass scores what this one missed.

    Returns:
        How many runs were scored.
    """
    done = 0
    for (service, metric), part in history.groupby([SERVICE, METRIC], sort=False):
        span = (pd.Timestamp(part[TS].min()), pd.Timestamp(part[TS].max()))
        try:
            done += score_series(store, str(service), str(metric), span)
        except Exception:  # the ingest succeeded; the ledger catches up later
            log.warning("scoring %s/%s after ingest failed", service, metric, exc_info=True)
    return done


def _run_json(entry: Any) -> dict[str, Any]:
    s = entry.score
    return {
        "run_id": s.run_id,
        "created_at": _iso(entry.created_at),
        "history_end": _iso(entry.history_end),
        "model": entry.model,
        "scored_steps": s.steps,
        "horizon_steps": s.horizon,
        "complete": s.complete,
        "mase": _round(s.mase),
        "mase_scale": _round(s.mase_scale),
        "smape": _round(s.smape),
        "wape": _round(s.wape),
        "coverage_80": _round(s.coverage_80),
        "coverage_95": _round(s.coverage_95),
        "backtest_mase": _round(s.backtest_mase),
        "scored_at": _iso(entry.scored_at),
    }


def _iso(ts: pd.Timestamp | None) -> str | None:
    return None if ts is None else pd.Timestamp(ts).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _round(value: Any) -> float | None:
    return round(float(value), 6) if isinstance(value, int | float) and math.isfinite(value) else None


def _numbers(scores: Any) -> dict[str, float | None]:
    return (
        {k: _round(v) for k, v in scores.items() if isinstance(v, int | float)}
        if isinstance(scores, dict)
        else {}
    )


def accuracy_json(service: str, metric: str, ledger: SeriesLedger, drift_ratio: float) -> dict[str, Any]:
    """What ``capacity accuracy --json`` prints and ``GET .../accuracy`` returns for one series."""
    summary = ledger.summary or {}
    newest = ledger.newest_scores
    return {
        "service": service,
        "metric": metric,
        "backtest": {
            "run_id": ledger.newest_run,
            "model": ledger.newest_model,
            "scores": _numbers(newest.get("chosen")),
            "candidates": {
                k: _numbers(v) for k, v in (newest.get("candidates") or {}).items() if isinstance(v, dict)
            },
        },
        "live": {
            "runs_scored": int(summary.get("live_runs") or 0),
            "runs_complete": int(summary.get("live_complete") or 0),
            "scored_steps": int(summary.get("live_steps") or 0),
            "mase": _round(summary.get("live_mase")),
            "backtest_mase": _round(summary.get("live_backtest_mase")),
            "smape": _round(summary.get("live_smape")),
            "wape": _round(summary.get("live_wape")),
            "coverage_80": _round(summary.get("live_coverage_80")),
            "coverage_95": _round(summary.get("live_coverage_95")),
            "runs": [_run_json(e) for e in ledger.entries],
        },
        "drift_ratio": drift_ratio,
        "drift": drift(summary, drift_ratio),
    }


def series_accuracy(
    store: Store, service: str, metric: str, *, drift_ratio: float = DRIFT_RATIO, limit: int = LIVE_RUNS
) -> dict[str, Any]:
    """A series' backtest scores and live accuracy from the ledger (runs never scored are scored first: a database
    from before the ledger is backfilled lazily, series by series).

    Raises:
        UnknownSeries: when the series does not exist.
    """
    score_series(store, service, metric)
    return accuracy_json(service, metric, store.ledger.read(service, metric, limit), drift_ratio)


def fleet_accuracy(
    store: Store, keys: Iterable[tuple[str, str]], *, drift_ratio: float = DRIFT_RATIO, limit: int = LIVE_RUNS
) -> list[dict[str, Any]]:
    """:func:`series_accuracy` of each series in ``keys`` (a series deleted meanwhile is left out)."""
    out = []
    for service, metric in keys:
        try:
            out.append(series_accuracy(store, service, metric, drift_ratio=drift_ratio, limit=limit))
        except UnknownSeries:
            continue
    return out


def live_summaries(
    store: Store, keys: Iterable[tuple[str, str]], drift_ratio: float = DRIFT_RATIO
) -> dict[tuple[str, str], dict[str, Any]]:
    """The stored live accuracy of each series in ``keys`` that has one (what the readiness report shows): MASE,
    the backtest MASE of the same runs, steps and runs scored, interval coverage and the drift flag. A read: runs
    not scored yet are left for the next ingest, forecast or background pass."""
    stored = store.ledger.summaries()
    out = {}
    for key in keys:
        summary = stored.get(key)
        if summary is None or not summary.get("live_runs"):
            continue
        out[key] = {
            "mase": _round(summary.get("live_mase")),
            "backtest_mase": _round(summary.get("live_backtest_mase")),
            "scored_steps": int(summary.get("live_steps") or 0),
            "runs_scored": int(summary.get("live_runs") or 0),
            "runs_complete": int(summary.get("live_complete") or 0),
            "coverage_80": _round(summary.get("live_coverage_80")),
            "coverage_95": _round(summary.get("live_coverage_95")),
            "drift": drift(summary, drift_ratio),
        }
    return out


def catch_up(store: Store, limit: int = 20) -> int:
    """Score up to ``limit`` series whose runs were never scored or are partial and behind their data (a running
    server's background pass); returns how many runs were scored."""
    done = 0
    for service, metric in store.ledger.behind(limit):
        try:
            done += score_series(store, service, metric)
        except UnknownSeries:
            continue
    return done
