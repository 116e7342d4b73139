"""Forecast accuracy metrics: MASE, sMAPE, WAPE, pinball loss, interval coverage, Brier score.

Each metric is one function of arrays; :data:`POINT_METRICS` is the registry the backtest uses (adding a metric
is one function and one line). Reference: Hyndman & Koehler, "Another look at measures of forecast accuracy"
(2006) for MASE; Gneiting & Raftery (2007) for the pinball loss and the Brier score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

EPS = 1e-9


def seasonal_scale(train: np.ndarray, period: int) -> float:
    """The MASE scale: in-sample mean absolute error of the seasonal naive forecast (lag ``period``, else lag 1).

    Falls back to lag 1 when the training part is shorter than two periods, and to a tiny positive number (or the
    mean absolute level) for a flat series, so the scale is never zero.
    """
    train = np.asarray(train, dtype="float64")
    lag = period if len(train) > period else 1
    if len(train) <= lag:
        return max(float(np.mean(np.abs(train))) if len(train) else 1.0, EPS)
    scale = float(np.mean(np.abs(train[lag:] - train[:-lag])))
    if scale > EPS:
        return scale
    return max(0.01 * float(np.mean(np.abs(train))), EPS)


def mase(actual: np.ndarray, forecast: np.ndarray, scale: float) -> float:
    """Mean absolute error divided by ``scale`` (see :func:`seasonal_scale`)."""
    return float(np.mean(np.abs(np.asarray(actual) - np.asarray(forecast)))) / max(scale, EPS)


def smape(actual: np.ndarray, forecast: np.ndarray, scale: float = 1.0) -> float:
    """Symmetric mean absolute percentage error in percent (0..200); a step where both are zero counts 0."""
    a, f = np.asarray(actual, dtype="float64"), np.asarray(forecast, dtype="float64")
    denom = np.abs(a) + np.abs(f)
    ratio = np.where(denom > 0, 2.0 * np.abs(a - f) / np.where(denom > 0, denom, 1.0), 0.0)
    return float(100.0 * np.mean(ratio))


def wape(actual: np.ndarray, forecast: np.ndarray, scale: float = 1.0) -> float:
    """Weighted absolute percentage error: sum of absolute errors over sum of absolute actuals."""
    a = np.asarray(actual, dtype="float64")
    return float(np.sum(np.abs(a - np.asarray(forecast))) / max(float(np.sum(np.abs(a))), EPS))


def pinball(actual: np.ndarray, predicted: np.ndarray, q: float) -> float:
    """Mean pinball (quantile) loss of the ``q`` quantile forecast ``predicted``."""
    diff = np.asarray(actual, dtype="float64") - np.asarray(predicted, dtype="float64")
    return float(np.mean(np.maximum(q * diff, (q - 1.0) * diff)))


def scaled_pinball(actual: np.ndarray, quantiles: dict[float, np.ndarray], scale: float) -> float:
    """Pinball loss averaged over the given quantile forecasts, divided by ``scale``."""
    losses = [pinball(actual, pred, q) for q, pred in quantiles.items()]
    return float(np.mean(losses)) / max(scale, EPS) if losses else float("nan")


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """The share of actual values inside ``[lower, upper]``."""
    a = np.asarray(actual, dtype="float64")
    return float(np.mean((a >= np.asarray(lower)) & (a <= np.asarray(upper))))


def brier(probabilities: Sequence[float], outcomes: Sequence[bool]) -> float:
    """Brier score: mean squared difference between predicted probabilities and 0/1 outcomes."""
    p = np.asarray(probabilities, dtype="float64")
    o = np.asarray(outcomes, dtype="float64")
    return float(np.mean((p - o) ** 2)) if len(p) else float("nan")


#: Point metrics by name: ``f(actual, forecast, scale) -> float``.
POINT_METRICS: dict[str, Callable[[np.ndarray, np.ndarray, float], float]] = {
    "mase": mase,
    "smape": smape,
    "wape": wape,
}
