"""The engine's front door: forecast one regularized series with automatic model selection.

``forecast_series(values, spec)`` takes a series of raw samples (a ``DatetimeIndex`` in UTC, float values) and a
:class:`ForecastSpec`, and returns a :class:`ForecastResult`: the forecast frame (``ts, mean`` and quantile
columns), the chosen model, its backtest scores, diagnostics, and sample paths (for breach probabilities).
It is pure: no files, database, clock or environment.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from capacity.events import EventOccurrence
from capacity.schema import DEFAULT_QUANTILES, MEAN, TS, quantile_column


@dataclass(frozen=True)
class ForecastSpec:
    """What to forecast.

    Attributes:
        horizon: number of steps ahead.
        freq: the step (a pandas offset alias), default hourly.
        agg: aggregation of raw samples inside a step: ``mean``, ``max`` or ``p95``.
        quantiles: quantile levels of the forecast frame.
        n_paths: number of sample paths drawn for breach probabilities.
        seed: random seed of the sample paths.
        models: candidate model names; empty means the automatic default set.
        events: the events calendar (past and upcoming occurrences) for uplifts.
    """

    horizon: int = 24 * 14
    freq: str = "1h"
    agg: str = "mean"
    quantiles: tuple[float, ...] = DEFAULT_QUANTILES
    n_paths: int = 200
    seed: int = 0
    models: tuple[str, ...] = ()
    events: tuple[EventOccurrence, ...] = ()


@dataclass(frozen=True)
class ForecastResult:
    """A forecast and how it was made.

    Attributes:
        frame: ``ts, mean`` and one column per quantile, ``horizon`` rows.
        model: the name of the chosen model (or ensemble).
        scores: backtest scores of the chosen model (``mase``, ``smape``, ``coverage_80`` ...).
        diagnostics: what the engine did that a user should know (fallbacks, warnings, filled gaps).
        paths: sample paths, shape ``(n_paths, horizon)``, for breach probabilities.
        periods: the seasonal periods used, in steps.
        history_end: the last timestamp of the regularized history.
        candidates: every candidate's backtest scores, by model name.
        fallback: True when the engine fell back to a baseline because better models failed or data was short.
    """

    frame: pd.DataFrame
    model: str
    scores: Mapping[str, float]
    diagnostics: tuple[str, ...]
    paths: np.ndarray
    periods: tuple[int, ...]
    history_end: pd.Timestamp
    candidates: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    fallback: bool = False


def _regular(values: pd.Series, spec: ForecastSpec) -> pd.Series:
    s = values.sort_index()
    how = {"mean": "mean", "max": "max", "p95": lambda x: x.quantile(0.95)}[spec.agg]
    out = s.resample(spec.freq).agg(how)  # type: ignore[arg-type]
    return out.interpolate(limit_direction="both")


def forecast_series(values: pd.Series, spec: ForecastSpec) -> ForecastResult:
    """Forecast one series (v0: Holt-Winters with a daily season, seasonal naive as fallback).

    Args:
        values: raw samples indexed by UTC timestamps.
        spec: what to forecast.

    Returns:
        The forecast with its model name, diagnostics and sample paths.
    """
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    y = _regular(values, spec)
    step = pd.tseries.frequencies.to_offset(spec.freq)
    index = pd.date_range(y.index[-1] + step, periods=spec.horizon, freq=spec.freq)
    diagnostics: list[str] = []
    period = 24 if len(y) >= 48 else 1
    arr = y.to_numpy(dtype="float64")
    model = "holt_winters"
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = ExponentialSmoothing(
                arr,
                trend="add",
                damped_trend=True,
                seasonal="add" if period > 1 else None,
                seasonal_periods=period if period > 1 else None,
            ).fit()
        diagnostics += [f"holt_winters: {w.message}" for w in caught]
        mean = np.asarray(fit.forecast(spec.horizon))
        resid = arr - np.asarray(fit.fittedvalues)
        if not np.isfinite(mean).all() or np.abs(mean).max() > 10 * max(1.0, np.abs(arr).max()):
            raise ValueError("forecast exploded")
    except Exception as exc:  # statsmodels raises many kinds; fall back and record why
        diagnostics.append(f"holt_winters failed ({exc}); fell back to seasonal_naive")
        model = "seasonal_naive"
        reps = int(np.ceil(spec.horizon / period))
        mean = np.tile(arr[-period:], reps)[: spec.horizon]
        resid = arr[period:] - arr[:-period] if len(arr) > period else np.zeros(1)
    sigma = float(np.nanstd(resid)) or 1e-9
    rng = np.random.default_rng(spec.seed)
    steps = np.sqrt(np.arange(1, spec.horizon + 1))
    paths = mean + rng.standard_normal((spec.n_paths, spec.horizon)) * sigma * np.minimum(steps, 3.0)
    frame = pd.DataFrame({TS: index, MEAN: mean})
    qs = np.quantile(paths, spec.quantiles, axis=0)
    for q, row in zip(spec.quantiles, qs, strict=True):
        frame[quantile_column(q)] = row
    return ForecastResult(
        frame=frame,
        model=model,
        scores={},
        diagnostics=tuple(diagnostics),
        paths=paths,
        periods=(period,),
        history_end=y.index[-1],
    )
