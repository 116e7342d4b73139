"""Baselines and last-resort fallbacks: naive, drift, seasonal naive (daily, weekly), seasonal mean.

Reference: Hyndman & Athanasopoulos, *Forecasting: Principles and Practice* (3rd ed.), section 5.2 "Some simple
forecasting methods". The seasonal mean averages the same phase over the last few seasons, which removes most of
the noise a single-season copy carries while staying as robust as seasonal naive.
"""

from __future__ import annotations

import numpy as np

from capacity.models.base import FitInput, ModelSpec, register


def naive(data: FitInput) -> np.ndarray:
    """Repeat the last value."""
    return np.full(data.horizon, float(data.y[-1]))


def drift(data: FitInput) -> np.ndarray:
    """The last value plus the average step change over the history (a straight line through first and last)."""
    y = data.y
    slope = (y[-1] - y[0]) / max(1, len(y) - 1)
    return y[-1] + slope * np.arange(1, data.horizon + 1)


def _repeat_last_season(y: np.ndarray, period: int, horizon: int) -> np.ndarray:
    reps = int(np.ceil(horizon / period))
    return np.tile(y[-period:], reps)[:horizon]


def seasonal_naive_daily(data: FitInput) -> np.ndarray:
    """Repeat the last day (the shortest period)."""
    return _repeat_last_season(data.y, min(data.periods), data.horizon)


def seasonal_naive_weekly(data: FitInput) -> np.ndarray:
    """Repeat the last week (the longest period)."""
    return _repeat_last_season(data.y, max(data.periods), data.horizon)


def seasonal_mean(data: FitInput, seasons: int = 4) -> np.ndarray:
    """Per phase of the longest period, the mean of the last ``seasons`` seasons, shifted to the recent level.

    The level shift is the difference between the last day's mean and the profile's mean over the same phases, so
    a recent level change is carried forward.
    """
    y = data.y
    period = max(data.periods)
    k = max(1, min(seasons, len(y) // period))
    block = y[len(y) - k * period :].reshape(k, period)
    profile = block.mean(axis=0)
    day = min(data.periods)
    recent = y[-day:].mean() - profile[-day:].mean()
    shift = 0.5 * recent  # half of the recent level difference: full shifts chase noise
    reps = int(np.ceil(data.horizon / period))
    return np.tile(profile, reps)[: data.horizon] + shift


def _one(_: tuple[int, ...]) -> int:
    return 2


register(ModelSpec("naive", naive, _one, lambda p: None, description="last value carried forward"))
register(
    ModelSpec(
        "drift",
        drift,
        _one,
        lambda p: 4 * max(p) if p else 24 * 7,
        description="last value plus the average recent step change",
    )
)
register(
    ModelSpec(
        "seasonal_naive_daily",
        seasonal_naive_daily,
        lambda p: min(p) if p else 10**9,
        lambda p: None,
        needs_period=True,
        description="the last day repeated",
    )
)
register(
    ModelSpec(
        "seasonal_naive_weekly",
        seasonal_naive_weekly,
        lambda p: max(p) if len(p) > 1 else 10**9,
        lambda p: None,
        needs_period=True,
        description="the last week repeated",
    )
)
register(
    ModelSpec(
        "seasonal_mean",
        seasonal_mean,
        lambda p: 2 * max(p) if p else 10**9,
        lambda p: None,
        needs_period=True,
        description="mean of the last 4 seasons per phase, level-adjusted",
    )
)
