"""Crossing probabilities: how likely a set of trajectories is to reach a level, at any step of a window.

Pure and small: the pieces :mod:`capacity.risk` assembles into a series' breach risk, and the breach benchmark
scores. A crossing at *any* step counts (the share of trajectories whose running maximum reaches the level), so
the probability never falls when the level falls or the window grows; the calibration map is monotone, so it keeps
both. The trajectories are the forecast's sample paths and the series' own seasonal analogs
(:func:`seasonal_analogs`).
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import pandas as pd

from capacity.schema import MEAN, quantile_of


class Calibrated(Protocol):
    """What the calibration map reads (``capacity.risk.assess.RiskSettings`` has both)."""

    @property
    def calibration_a(self) -> float: ...

    @property
    def calibration_b(self) -> float: ...


def calibrate(p: np.ndarray | float, settings: Calibrated | None = None) -> np.ndarray:
    """Map raw path shares to calibrated probabilities: ``sigmoid(a + b * logit(p))``, monotone increasing.

    0 and 1 stay 0 and 1 only when the map is the identity; otherwise they are squeezed by half a path's worth
    first, so a calibration learned on finite paths never returns certainty it did not see. No settings: identity.
    """
    arr = np.asarray(p, dtype="float64")
    if settings is None or (settings.calibration_a == 0.0 and settings.calibration_b == 1.0):
        return arr
    eps = 1e-3
    clipped = np.clip(arr, eps, 1.0 - eps)
    z = settings.calibration_a + settings.calibration_b * np.log(clipped / (1.0 - clipped))
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


#: An upward trend across the analogs' weekly levels lifts them when its slope's t-statistic passes this.
TREND_T_GATE = 4.0
#: Fewest analogs a trend is read from.
TREND_MIN_ANALOGS = 4


def seasonal_analogs(
    history: pd.Series,
    forecast_ts: pd.DatetimeIndex,
    count: int = 12,
    season: pd.Timedelta | None = None,
    *,
    follow_trend: bool = True,
) -> np.ndarray | None:
    """The series' own past as extra sample paths: the same weekday and hour 1..``count`` whole seasons back.

    Analog ``k`` at forecast step ``t`` is the history at ``t - (s + k) * season`` where ``s`` is the fewest whole
    seasons (a week by default) that reach past the history end from the last forecast step, so every analog
    step is observed. Their crossing share is the classical climatological probability ("how often did a week
    like this reach the threshold?"); being fixed trajectories, it never falls as the threshold falls or the window
    grows.

    A growing service is the case a planner most needs flagged, and there last quarter's weeks sit below this
    week's level and would vote "no breach" however clearly the forecast crosses. So with ``follow_trend``, when
    the analogs' levels (their means) rise with recency along a line whose slope has a t-statistic above
    :data:`TREND_T_GATE`, each analog is lifted by the growth since it happened (slope x seasons back). Only
    upward: a falling line is not trusted to lower a risk. On the real-data breach benchmark the gate opens on two
    of 39 folds (both pjm-aep, seasonal load rising into summer), and the Brier score does not worsen.

    Args:
        history: the regularized history (regular UTC index).
        forecast_ts: the forecast's timestamps.
        count: how many analogs.
        season: the season length (default one week).
        follow_trend: lift the analogs along a clear upward trend (see above).

    Returns:
        An array ``(k, len(forecast_ts))`` of the analogs fully inside the history, or None when there are none.
    """
    season = season or pd.Timedelta(days=7)
    if len(history) == 0 or len(forecast_ts) == 0:
        return None
    span = forecast_ts[-1] - history.index[-1]
    first = max(1, math.ceil(span / season))
    rows, back_seasons = [], []
    for k in range(count):
        back = history.reindex(forecast_ts - (first + k) * season).to_numpy(dtype="float64")
        if np.isfinite(back).all():
            rows.append(back)
            back_seasons.append(first + k)
    if not rows:
        return None
    analogs = np.vstack(rows)
    if follow_trend:
        # Each analog's level is its first season only: analogs a season apart overlap when the window is longer
        # than a season, and overlapping means would be correlated and inflate the slope's t-statistic.
        block = max(1, int(np.searchsorted(np.asarray(forecast_ts), np.asarray(forecast_ts[0] + season))))
        levels = analogs[:, :block].mean(axis=1)
        growth = trend_growth(levels, np.asarray(back_seasons, dtype="float64"))
        analogs = analogs + growth[:, None]
    return analogs


def trend_growth(levels: np.ndarray, seasons_back: np.ndarray, gate: float = TREND_T_GATE) -> np.ndarray:
    """How much to lift each analog: ``slope x seasons back`` when the levels rise with recency along a clear
    line (least squares, slope t-statistic above ``gate``), else zeros.

    Args:
        levels: each analog's level (mean).
        seasons_back: how many seasons back each analog lies.
        gate: the t-statistic the slope must pass.
    """
    none = np.zeros(len(levels))
    if len(levels) < TREND_MIN_ANALOGS:
        return none
    x = -seasons_back  # more recent = larger x
    xc = x - x.mean()
    sxx = float(np.sum(xc**2))
    if sxx <= 0:
        return none
    slope = float(np.sum(xc * (levels - levels.mean())) / sxx)
    resid = levels - levels.mean() - slope * xc
    s2 = float(np.sum(resid**2)) / (len(levels) - 2)
    se = math.sqrt(s2 / sxx) if s2 > 0 else 0.0
    clear = slope > 0 and (se == 0.0 or slope / se > gate)
    return slope * seasons_back if clear else none


def crossing_curve(paths: np.ndarray, threshold: float) -> np.ndarray:
    """Cumulative crossing probability by step: the share of paths that have reached ``threshold`` by each step.

    Non-decreasing by construction; its last value is the (raw) breach probability of the whole span.
    """
    if paths.size == 0:
        return np.zeros(paths.shape[1] if paths.ndim == 2 else 0)
    crossed = np.maximum.accumulate(paths >= threshold, axis=1)
    return np.asarray(crossed.mean(axis=0), dtype="float64")


def breach_probability(paths: np.ndarray, threshold: float, settings: Calibrated | None = None) -> float:
    """The calibrated probability that a path reaches ``threshold`` at least once (any step counts).

    Args:
        paths: sample paths ``(n_paths, steps)`` over the window.
        threshold: the level.
        settings: for the calibration map; default no calibration.

    Returns:
        A probability in [0, 1]; 0 for an empty window.
    """
    if paths.ndim != 2 or paths.shape[1] == 0 or paths.shape[0] == 0:
        return 0.0
    raw = float((paths.max(axis=1) >= threshold).mean())
    return float(calibrate(raw, settings))


def quantile_exceedance(frame: pd.DataFrame, threshold: float) -> np.ndarray:
    """Per-step probability of exceeding ``threshold``, interpolated from the quantile columns (the mean's
    0/1 crossing when there are none)."""
    qcols = sorted((q, c) for c in frame.columns if (q := quantile_of(c)) is not None)
    if not qcols:
        return (frame[MEAN].to_numpy(dtype="float64") >= threshold).astype("float64")
    levels = np.array([q for q, _ in qcols])
    values = frame[[c for _, c in qcols]].to_numpy(dtype="float64")
    out = np.empty(len(frame))
    for i, row in enumerate(values):
        cdf = np.interp(threshold, row, levels, left=0.0, right=1.0) if np.all(np.diff(row) >= 0) else 0.5
        out[i] = 1.0 - cdf
    return out
