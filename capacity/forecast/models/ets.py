"""Exponential smoothing (Holt-Winters) with a damped additive trend and an additive daily season.

Reference: Hyndman, Koehler, Ord & Snyder, *Forecasting with Exponential Smoothing: The State Space Approach*
(2008), the ETS(A,Ad,A) recursions. The smoothing parameters are chosen on a grid by the in-sample one-step
squared error, all grid points filtered at once with numpy: about ten milliseconds on two weeks of hourly
data, against a few hundred for statsmodels' optimizer, which matters inside a rolling backtest that refits at
every cutoff. statsmodels' ``ETSModel`` is registered as ``ets_statsmodels`` (not in the default set) for
comparison. Damping keeps long-horizon trends from running away.
"""

from __future__ import annotations

import itertools

import numpy as np
from statsmodels.tsa.exponential_smoothing.ets import ETSModel

from capacity.forecast.models.base import FitInput, ModelSpec, register

_ALPHA = (0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9)
_BETA = (0.0, 0.01, 0.05)
_GAMMA = (0.0, 0.02, 0.05, 0.1, 0.2)
_PHI = (0.8, 0.9, 0.95, 0.98)


def _grid(seasonal: bool) -> np.ndarray:
    gammas = _GAMMA if seasonal else (0.0,)
    return np.array(list(itertools.product(_ALPHA, _BETA, gammas, _PHI)), dtype="float64")


def holt_winters(y: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """Damped additive Holt-Winters (season ``period``, or none when ``period <= 1``), grid-fitted; the forecast.

    The first season initializes the level and the seasonal indices, the first two the trend (or the first steps
    without a season). Every grid point is filtered in one vectorized pass; the lowest squared one-step error
    (after the first season) wins.
    """
    n = len(y)
    seasonal = period > 1 and n >= 2 * period + 2
    m = period if seasonal else 1
    grid = _grid(seasonal)
    alpha, beta, gamma, phi = (grid[:, i] for i in range(4))
    g = len(grid)
    if seasonal:
        first, second = y[:m].mean(), y[m : 2 * m].mean()
        level = np.full(g, first)
        trend = np.full(g, (second - first) / m)
        season = np.tile(y[:m] - first, (g, 1))
        start = m
    else:
        level = np.full(g, y[0])
        trend = np.full(g, (y[min(n - 1, 3)] - y[0]) / max(1, min(n - 1, 3)))
        season = np.zeros((g, 1))
        start = 1
    sse = np.zeros(g)
    for t in range(start, n):
        s_old = season[:, t % m]
        damped = phi * trend
        fit = level + damped + s_old
        err = y[t] - fit
        if t >= start + m or not seasonal:
            sse += err * err
        new_level = level + damped + alpha * err
        trend = damped + alpha * beta * err
        season[:, t % m] = s_old + gamma * (1.0 - alpha) * err
        level = new_level
    best = int(np.argmin(sse))
    steps = np.arange(1, horizon + 1)
    damp = np.cumsum(phi[best] ** steps)
    phase = (n + steps - 1) % m
    return level[best] + damp * trend[best] + season[best, phase]


def ets_damped(data: FitInput) -> np.ndarray:
    """Damped additive-trend Holt-Winters with the daily (shortest) season when there are two full seasons."""
    period = min(data.periods) if data.periods else 1
    return holt_winters(data.y, data.horizon, period)


def ets_statsmodels(data: FitInput) -> np.ndarray:
    """statsmodels ``ETSModel`` ETS(A,Ad,A) with the daily season, maximum likelihood (slower, for comparison)."""

    period = min(data.periods) if data.periods else 1
    seasonal = period > 1 and len(data.y) >= 2 * period + 10
    model = ETSModel(
        data.y,
        error="add",
        trend="add",
        damped_trend=True,
        seasonal="add" if seasonal else None,
        seasonal_periods=period if seasonal else None,
        initialization_method="heuristic" if seasonal else "estimated",
    )
    return np.asarray(model.fit(disp=False, maxiter=100).forecast(data.horizon))


def _min_points(p: tuple[int, ...]) -> int:
    return max(10, 2 * min(p) + 2) if p else 10


def _window(p: tuple[int, ...]) -> int:
    return 14 * min(p) if p else 24 * 14


register(
    ModelSpec("ets_damped", ets_damped, _min_points, _window, description="damped Holt-Winters, daily season")
)
register(
    ModelSpec("ets_statsmodels", ets_statsmodels, _min_points, _window, description="statsmodels ETS(A,Ad,A)")
)
