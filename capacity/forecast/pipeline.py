"""The engine's front door: forecast one series with automatic model selection and calibrated intervals.

``forecast_series(values, spec)`` takes a series of raw samples (a ``DatetimeIndex`` in UTC, float values) and a
:class:`~capacity.forecast.types.ForecastSpec`, and returns a :class:`~capacity.forecast.types.ForecastResult`:
the forecast frame (``ts, mean`` and quantile columns), the chosen model, its backtest scores, diagnostics, and
sample paths (for breach probabilities).

The steps: regularize (:mod:`capacity.forecast.regularize`), backtest every candidate model from a few rolling
origins (:mod:`capacity.forecast.backtest`), choose the best model or a mean ensemble of the best few by MASE
(:mod:`capacity.forecast.choose`), refit the choice on the whole history, calibrate the quantiles per horizon step
from the choice's backtest errors and draw correlated sample paths consistent with them
(:mod:`capacity.forecast.intervals`), then apply the upcoming events' uplifts (:mod:`capacity.events.uplift`). It
never crashes on a usable series: failing models fall back to the next and every fallback is recorded in
``diagnostics``. It is pure: no files, database, clock or environment.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from capacity.errors import InvalidInput, ModelFailed
from capacity.events.calendar import EventOccurrence
from capacity.events.uplift import apply_uplift
from capacity.forecast.backtest import backtest, backtest_plan
from capacity.forecast.choose import choose
from capacity.forecast.intervals import Calibration, calibrate, quantile_forecast, sample_paths
from capacity.forecast.longrange import LongForecast, daily_peak_forecast, forecast_long, is_long, reach_steps
from capacity.forecast.models import (
    DEFAULT_MODELS,
    FALLBACK_ORDER,
    REGISTRY,
    FitInput,
    get_model,
    run_model,
    usable,
)
from capacity.forecast.regularize import RegularSeries, regularize
from capacity.forecast.types import ForecastResult, ForecastSpec
from capacity.schema import MEAN, TS, quantile_column, validate_quantiles


def _check_spec(spec: ForecastSpec) -> None:
    if not isinstance(spec.horizon, int) or spec.horizon < 1:
        raise InvalidInput(
            f"horizon must be a positive number of steps, got {spec.horizon!r}", field="horizon"
        )
    if spec.n_paths < 1:
        raise InvalidInput(f"n_paths must be at least 1, got {spec.n_paths!r}", field="n_paths")
    validate_quantiles(spec.quantiles)
    unknown = [m for m in spec.models if m not in REGISTRY]
    if unknown:
        raise InvalidInput(
            f"unknown model {unknown[0]!r}; known: {', '.join(sorted(REGISTRY))}", field="models"
        )


def regularize_for(values: pd.Series, spec: ForecastSpec) -> RegularSeries:
    """The regularized history ``forecast_series`` fits on (same frequency, aggregation and cleaning).

    Raises:
        NotEnoughHistory: when fewer than three steps hold data.
        InvalidHistory: when ``values`` is not a time-indexed series or ``spec.agg`` is unknown.
    """
    return regularize(values, spec.freq, spec.agg)


def event_regressors(index: pd.DatetimeIndex, events: Sequence[EventOccurrence]) -> np.ndarray | None:
    """One 0/1 column per event name: 1 at the steps of ``index`` inside one of its windows; None without events."""
    names = sorted({e.name for e in events})
    if not names:
        return None
    out = np.zeros((len(index), len(names)))
    for e in events:
        j = names.index(e.name)
        out[:, j] = np.maximum(out[:, j], ((index >= e.start) & (index < e.end)).astype("float64"))
    return out


def _future_index(history_end: pd.Timestamp, spec: ForecastSpec) -> pd.DatetimeIndex:
    step = pd.tseries.frequencies.to_offset(spec.freq)
    return pd.date_range(history_end + step, periods=spec.horizon, freq=spec.freq)


def _event_exog(regular: RegularSeries, future: pd.DatetimeIndex, spec: ForecastSpec) -> np.ndarray | None:
    """The event regressors of the history and the horizon, the horizon's rows zeroed.

    Past event windows stay in the regressors so they do not bend the fitted cycles; the upcoming ones are zeroed
    because capacity.events.uplift applies their learned effect (counting it twice would double it).
    """
    exog = event_regressors(pd.DatetimeIndex(regular.values.index.append(future)), spec.events)
    if exog is not None:
        exog = exog.copy()
        exog[len(regular.values) :] = 0.0
    return exog


def _fit_final(
    members: Sequence[str], data: FitInput, notes: list[str]
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Refit each member on the whole history and average; drops members that fail now (recorded)."""
    means, kept = [], []
    for name in members:
        try:
            run = run_model(get_model(name), data)
        except ModelFailed as exc:
            notes.append(f"final fit failed, dropped from the forecast: {exc}")
            continue
        notes.extend(run.warnings)
        means.append(run.mean)
        kept.append(name)
    if not means:
        raise ModelFailed("every chosen model failed on the full history")
    return np.mean(means, axis=0), tuple(kept)


def _fallback(data: FitInput, notes: list[str]) -> tuple[np.ndarray, str]:
    for name in FALLBACK_ORDER:
        spec = get_model(name)
        if not usable(spec, len(data.y), data.periods):
            continue
        try:
            run = run_model(spec, data)
        except ModelFailed as exc:
            notes.append(str(exc))
            continue
        return run.mean, name
    return np.full(data.horizon, float(data.y[-1])), "naive"


def _heuristic_calibration(y: np.ndarray, horizon: int, periods: tuple[int, ...]) -> Calibration:
    """Calibration from in-sample seasonal (or one-step) differences when no backtest window fits."""
    lag = min(periods) if periods and len(y) > min(periods) else 1
    diffs = y[lag:] - y[:-lag] if len(y) > lag else np.zeros(1)
    floor = 1e-9 + 1e-3 * float(np.mean(np.abs(y)))
    return calibrate(diffs.reshape(-1, 1), horizon, floor)


def _plain_forecast(values: pd.Series, spec: ForecastSpec) -> tuple[ForecastResult, RegularSeries]:
    """Regularize, select, refit, calibrate and sample; returns the result and the regularized history."""
    _check_spec(spec)
    regular = regularize_for(values, spec)
    y = regular.values.to_numpy(dtype="float64")
    periods = regular.periods
    notes: list[str] = list(regular.notes)
    future = _future_index(regular.values.index[-1], spec)
    exog = _event_exog(regular, future, spec)
    data = FitInput(y=y, horizon=spec.horizon, periods=periods, exog=exog)
    names = [m for m in (spec.models or DEFAULT_MODELS) if usable(get_model(m), len(y), periods)]
    hb, cutoffs = backtest_plan(len(y), spec.horizon, periods, spec.folds)
    floor = 1e-9 + 1e-4 * float(np.mean(np.abs(y)))
    fallback = False
    members: tuple[str, ...] = ()
    scores: Mapping[str, float] = {}
    candidates: Mapping[str, Mapping[str, float]] = {}
    cal: Calibration | None = None
    mean: np.ndarray | None = None
    if cutoffs and names:
        bt = backtest(y, periods, names, hb, cutoffs, exog[: len(y)] if exog is not None else None)
        notes.extend(bt.failures.values())
        notes.extend(bt.warnings)
        if bt.forecasts:
            choice = choose(bt)
            candidates, scores = choice.candidates, choice.scores
            try:
                mean, members = _fit_final(choice.members, data, notes)
            except ModelFailed as exc:
                notes.append(str(exc))
            else:
                errors = bt.actuals - np.mean([bt.forecasts[m] for m in members], axis=0)
                cal = calibrate(errors, spec.horizon, floor)
                if hb < spec.horizon:
                    notes.append(
                        f"backtested {hb} of {spec.horizon} steps (short history); wider steps extrapolated"
                    )
    if mean is None:
        fallback = True
        mean, name = _fallback(data, notes)
        members = (name,)
        notes.append(f"fell back to {name}: no candidate could be backtested and refitted on {len(y)} steps")
    if cal is None:
        cal = _heuristic_calibration(y, spec.horizon, periods)
    model = members[0] if len(members) == 1 else f"ensemble({'+'.join(members)})"
    quantiles = tuple(sorted(spec.quantiles))
    qs = quantile_forecast(mean, cal, quantiles)
    paths = sample_paths(mean, cal, spec.n_paths, spec.seed)
    if float(np.min(y)) >= 0.0:  # a non-negative history (utilization, rates) stays non-negative
        mean, qs, paths = np.maximum(mean, 0.0), np.maximum(qs, 0.0), np.maximum(paths, 0.0)
    frame = pd.DataFrame({TS: future, MEAN: mean})
    for q, row in zip(quantiles, qs, strict=True):
        frame[quantile_column(q)] = row
    result = ForecastResult(
        frame=frame,
        model=model,
        scores=dict(scores),
        diagnostics=tuple(dict.fromkeys(notes)),
        paths=paths,
        periods=periods,
        history_end=regular.values.index[-1],
        candidates={k: dict(v) for k, v in candidates.items()},
        fallback=fallback,
        members=members,
        backtest_horizon=hb if cutoffs else 0,
        backtest_folds=len(cutoffs),
    )
    return result, regular


def single_threaded_blas() -> contextlib.AbstractContextManager[Any]:
    """Limit BLAS to one thread while fitting: the fits are tiny, and on a busy machine BLAS threads fighting over
    the cores made statsmodels' optimizers five times slower. A no-op without ``threadpoolctl``."""
    try:
        # deferred: optional (threadpoolctl comes with most scipy installs, not all)
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scipy's usual installs
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def forecast_long_series(values: pd.Series, spec: ForecastSpec) -> LongForecast:
    """Forecast one series months ahead with the long-range engine (:mod:`capacity.forecast.longrange`).

    The same as :func:`forecast_series` for a horizon of four weeks or more, with what a capacity plan needs
    besides the forecast: the daily history, the daily point forecast (uplifts included) and the inner backtest.
    The forecast is made to the engine's reach (:func:`~capacity.forecast.longrange.reach_steps`) and cut to
    ``spec.horizon``, so a day's quantiles do not depend on how far past it the forecast runs.

    Raises:
        NotEnoughHistory: when fewer than three steps hold data.
        InvalidInput: for a bad spec, a step that does not divide a day, or a horizon past a year.
    """
    _check_spec(spec)
    regular = regularize_for(values, spec)
    full = replace(spec, horizon=reach_steps(spec, pd.DatetimeIndex(regular.values.index)))
    future = _future_index(regular.values.index[-1], full)
    long = _cut(
        forecast_long(regular, full, _event_exog(regular, future, full), regular.notes, keep=spec.horizon),
        spec.horizon,
    )
    frame, paths, notes = apply_uplift(
        long.result.frame, long.result.paths, regular.values, spec.events, spec.quantiles
    )
    if not notes:  # no occurrence in the forecast: nothing was applied
        return long
    daily = len(long.daily) == len(regular.values)  # a daily step: the plan's weekly peaks see the uplifts
    mean = frame[MEAN].to_numpy() if daily else long.daily_mean
    # the weekly peaks follow the uplift on a daily step (calibrated over the whole reach, as without an uplift);
    # a sub-daily step's daily-maximum core never saw it, so its window peak comes from the (uplifted) paths
    peaks, reach_mean = None, long.daily_mean
    if daily:
        reach_mean = np.concatenate([mean, long.daily_mean[len(mean) :]])
        peaks = daily_peak_forecast(long.daily, reach_mean, long.inner, long.yearly, spec.horizon)
    diagnostics = (*long.result.diagnostics, *notes)
    result = replace(long.result, frame=frame, paths=paths, diagnostics=diagnostics, peaks=peaks)
    return replace(long, result=result, daily_mean=reach_mean if daily else mean)


def _cut(long: LongForecast, horizon: int) -> LongForecast:
    """A long forecast made to its reach, its frame and paths cut to the ``horizon`` steps asked for (its weekly
    peaks already are; the daily point forecast keeps the reach, which a plan's weeks are calibrated over)."""
    result = long.result
    if len(result.frame) <= horizon:
        return long
    frame = result.frame.iloc[:horizon].reset_index(drop=True)
    return replace(long, result=replace(result, frame=frame, paths=result.paths[:, :horizon]))


def forecast_series(values: pd.Series, spec: ForecastSpec) -> ForecastResult:
    """Forecast one series: regularize, choose a model by backtest, calibrate quantiles, sample paths.

    From four weeks ahead (and without models asked for by name) the long-range engine forecasts instead: yearly
    cycle, growth, a backtest at the forecast's reach (:func:`forecast_long_series`).

    Args:
        values: raw samples indexed by UTC timestamps (irregular, duplicated or gappy samples are fine).
        spec: what to forecast.

    Returns:
        The forecast with its model name, backtest scores, diagnostics and sample paths.

    Raises:
        NotEnoughHistory: when fewer than three steps hold data.
        InvalidInput: for a bad spec (horizon, quantiles, model names) or values that are not a time series.
    """
    if is_long(spec) and not spec.models:
        return forecast_long_series(values, spec).result
    result, regular = _plain_forecast(values, spec)
    # Peak events: each upcoming occurrence gets the uplift learned from its past occurrences, the planner's band,
    # or the calendar's pooled prior, recorded in the diagnostics; with none of these it is an unknown uplift.
    frame, paths, notes = apply_uplift(
        result.frame, result.paths, regular.values, spec.events, spec.quantiles
    )
    if not notes:  # no occurrence in the forecast: nothing was applied
        return result
    return replace(result, frame=frame, paths=paths, diagnostics=(*result.diagnostics, *notes))


__all__ = [
    "event_regressors",
    "forecast_long_series",
    "forecast_series",
    "regularize_for",
    "single_threaded_blas",
]
