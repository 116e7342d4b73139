"""Long-range models on daily series without a usable yearly cycle (under two years): a weekly shape and a level.

- ``weekly_median``: per weekday, the median of the last six weeks (FPP3 section 5.2, seasonal naive, with the
  median over weeks instead of the last one).
- ``ets_weekly``: damped additive Holt-Winters with a weekly season on the last year (the grid-fitted recursions of
  :func:`~capacity.forecast.models.ets.holt_winters`; Hyndman et al. 2008, ETS(A,Ad,A)).
- ``trend_weekly``: the last six weeks' weekday shape on a level that grows with the Theil-Sen slope of the last 26
  weekly means, damped: the growth of a young service, without letting one odd week steer it (Sen, 1968).
"""

from __future__ import annotations

import numpy as np

from capacity.forecast.models.base import FitInput, ModelSpec
from capacity.forecast.models.ets import holt_winters

#: Weeks of the weekday profile, of the trend fit, and the trend's damping (days).
PROFILE_WEEKS = 6
TREND_WEEKS = 26
TREND_DAMPING_DAYS = 90.0
#: Days of history the weekly Holt-Winters fits on.
ETS_DAYS = 365


def _tile(profile: np.ndarray, horizon: int) -> np.ndarray:
    return np.tile(profile, horizon // len(profile) + 1)[:horizon]


def weekly_median(data: FitInput) -> np.ndarray:
    """Per weekday, the median of the last six weeks."""
    y = data.y
    k = min(PROFILE_WEEKS, len(y) // 7)
    profile = np.median(y[len(y) - 7 * k :].reshape(k, 7), axis=0)
    return _tile(profile, data.horizon)


def ets_weekly(data: FitInput) -> np.ndarray:
    """Damped Holt-Winters with a weekly season on the last year."""
    return holt_winters(data.y[-ETS_DAYS:], data.horizon, 7)


def trend_weekly(data: FitInput) -> np.ndarray:
    """Weekday shape of the last six weeks on a level growing with the damped Theil-Sen slope of weekly means."""
    y = data.y
    k = min(TREND_WEEKS, len(y) // 7)
    weeks = y[len(y) - 7 * k :].reshape(k, 7)
    means = weeks.mean(axis=1)
    i, j = np.triu_indices(k, 1)
    slope = float(np.median((means[j] - means[i]) / (j - i))) / 7.0 if k >= 3 else 0.0  # per day
    last = weeks[-min(PROFILE_WEEKS, k) :]
    shape = np.median(last - last.mean(axis=1, keepdims=True), axis=0)
    level = float(means[-4:].mean()) + slope * 7 * 1.5  # the last four weeks' mean is centred 1.5 weeks back
    steps = np.arange(1, data.horizon + 1, dtype="float64")
    growth = slope * TREND_DAMPING_DAYS * (1.0 - np.exp(-steps / TREND_DAMPING_DAYS))
    return level + growth + _tile(shape, data.horizon)


def _two_weeks(_: tuple[int, ...]) -> int:
    return 14


def _five_weeks(_: tuple[int, ...]) -> int:
    return 35


def _everything(_: tuple[int, ...]) -> int | None:
    return None


#: The weekly candidates of the long-range engine, in fallback order (the first is the last resort).
WEEKLY_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "weekly_median",
        weekly_median,
        _two_weeks,
        _everything,
        description="median of the last 6 weeks per weekday",
    ),
    ModelSpec(
        "ets_weekly", ets_weekly, _five_weeks, _everything, description="damped Holt-Winters, weekly season"
    ),
    ModelSpec(
        "trend_weekly",
        trend_weekly,
        _five_weeks,
        _everything,
        description="weekday shape + damped Theil-Sen trend",
    ),
)
