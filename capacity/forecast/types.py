"""What the engine is asked (:class:`ForecastSpec`) and what it answers (:class:`ForecastResult`).

Kept apart from the pipeline that makes them so that every layer can name a forecast (the store saves one, the
batch runners send one between processes, the event uplift rescales one) without importing the engine that fits it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from capacity.events.calendar import EventOccurrence
from capacity.schema import DEFAULT_QUANTILES

#: Candidates are backtested from this many rolling origins.
DEFAULT_FOLDS = 4


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
        folds: how many rolling origins the model selection backtests from.
    """

    horizon: int = 24 * 14
    freq: str = "1h"
    agg: str = "mean"
    quantiles: tuple[float, ...] = DEFAULT_QUANTILES
    n_paths: int = 200
    seed: int = 0
    models: tuple[str, ...] = ()
    events: tuple[EventOccurrence, ...] = ()
    folds: int = DEFAULT_FOLDS


@dataclass(frozen=True)
class PeakForecast:
    """The long-range engine's forecast of each week's peak, calibrated as a peak (not read off the sample paths).

    Why it exists: the maximum over a month of an hourly forecast's paths is not a calibrated peak (the paths
    treat most error as hour-to-hour noise, and the maximum of many noisy hours runs wherever that noise puts
    it). The engine forecasts the daily peaks themselves and calibrates each week's peak by its own backtest
    (:func:`capacity.forecast.peaks.weekly_peaks`, what ``capacity plan`` shows), so a window's peak read here is
    the same at ``1h`` and ``1d``.

    Attributes:
        starts: the first instant of each week (the forecast's first day, midnight UTC, then every 7 days).
        days: the length of each week in days (the last may be shorter).
        levels: quantile level -> the weekly peak at that level, one value per week.
        paths: sample paths of the weekly peaks ``(n_paths, weeks)``, drawn as a plan's are (same calibration,
            count and seed), so a long window's breach probability is the plan's crossing probability; None for a
            forecast stored before they were kept.
    """

    starts: pd.DatetimeIndex
    days: tuple[int, ...]
    levels: Mapping[float, np.ndarray]
    paths: np.ndarray | None = None

    def overlapping(self, start: pd.Timestamp, end: pd.Timestamp) -> np.ndarray:
        """Which weeks overlap ``[start, end]`` (a boolean mask over the weeks)."""
        ends = self.starts + pd.to_timedelta(np.asarray(self.days), unit="D")
        return np.asarray((self.starts <= end) & (ends > start))

    def window(self, start: pd.Timestamp, end: pd.Timestamp) -> dict[float, float] | None:
        """Each level's window peak over ``[start, end]``: the highest weekly peak among the weeks overlapping it
        (the plan's "peak p50/p90" over its weeks); None when no week overlaps."""
        keep = self.overlapping(start, end)
        if not keep.any():
            return None
        return {q: float(np.max(np.asarray(v)[keep])) for q, v in self.levels.items()}


@dataclass(frozen=True)
class ForecastResult:
    """A forecast and how it was made.

    Attributes:
        frame: ``ts, mean`` and one column per quantile, ``horizon`` rows.
        model: the name of the chosen model (or ensemble).
        scores: backtest scores of the chosen model (``mase``, ``smape``, ``wape``).
        diagnostics: what the engine did that a user should know (fallbacks, warnings, filled gaps).
        paths: sample paths, shape ``(n_paths, horizon)``, for breach probabilities.
        periods: the seasonal periods used, in steps.
        history_end: the last timestamp of the regularized history.
        candidates: every candidate's backtest scores, by model name.
        fallback: True when the engine fell back to a baseline because better models failed or data was short.
        members: the single models averaged by the chosen ensemble (one name for a single model).
        backtest_horizon: steps per backtest window.
        backtest_folds: how many backtest windows the choice and the intervals rest on.
        peaks: the calibrated weekly peaks of a long-range forecast (four weeks or more), else None; a window's
            peak is read from them, not from the paths' maxima, when present.
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
    members: tuple[str, ...] = ()
    backtest_horizon: int = 0
    backtest_folds: int = 0
    peaks: PeakForecast | None = None
