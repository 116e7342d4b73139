"""Prediction intervals: calibrated from backtest errors, and sample paths consistent with them.

:func:`calibrate` turns the chosen forecast's backtest errors into a per-step error scale (a power law in the
horizon step) and an empirical distribution of standardized errors, split-conformal style, so that stated coverage
is real coverage. :func:`sample_paths` draws paths whose marginals are those calibrated quantiles and whose steps
are correlated like the backtest errors: a Gaussian copula over an AR(1) plus a level shared by every step of a
path, whose share of the variance (``Calibration.persistence``) is the part of the backtest errors that lasts a
whole window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri
from scipy.stats import t as student_t

#: Widening of the calibrated offsets, ``1 + k / sqrt(n_errors)``, for central intervals and for the 95% interval's
#: ends (see :func:`calibrate`); fitted once on the accuracy benchmark's folds (24 h and 7 d horizons).
WIDEN_CENTER_K = 6.5
WIDEN_TAIL_K = 12.0
#: The levels on which the standardized error distribution is tabulated (paths interpolate between them).
_GRID = np.concatenate([[0.001, 0.005], np.linspace(0.01, 0.99, 99), [0.995, 0.999]])


@dataclass(frozen=True)
class Calibration:
    """Calibrated forecast errors.

    Attributes:
        scale: error scale per horizon step, shape ``(horizon,)``.
        levels: probability levels of ``offsets``.
        offsets: standardized error quantiles at ``levels`` (multiply by ``scale`` and add to the mean).
        phi: lag-one autocorrelation of the short-lived part of the standardized errors (for paths).
        n_errors: how many backtest errors the calibration saw.
        persistence: the share of the standardized errors' variance that persists through a whole window (a
            level the forecast missed for days, not hours); 0 for none.
    """

    scale: np.ndarray
    levels: np.ndarray
    offsets: np.ndarray
    phi: float
    n_errors: int
    persistence: float = 0.0


def _scale_curve(errors: np.ndarray, horizon: int, floor: float) -> np.ndarray:
    """Mean absolute error per step fitted by ``a * h ** b`` (``0 <= b <= 0.5``), extended to ``horizon`` steps."""
    hb = errors.shape[1]
    mae = np.mean(np.abs(errors), axis=0) + floor
    steps = np.arange(1, hb + 1, dtype="float64")
    if hb >= 4:
        b, log_a = np.polyfit(np.log(steps), np.log(mae), 1)
        b = float(np.clip(b, 0.0, 0.5))
        log_a = float(np.mean(np.log(mae) - b * np.log(steps)))
    else:
        b, log_a = 0.25, float(np.mean(np.log(mae) - 0.25 * np.log(steps)))
    h = np.arange(1, horizon + 1, dtype="float64")
    return np.maximum(np.exp(log_a) * h**b, floor)


def widening(levels: np.ndarray, center: float, tail: float) -> np.ndarray:
    """The widening factor per level: ``center`` up to the 80% interval's ends, rising to ``tail`` at the 95%
    interval's ends and beyond (linear in the normal quantile of the level)."""
    z = np.abs(ndtri(np.clip(levels, 1e-6, 1 - 1e-6)))
    z80, z95 = float(ndtri(0.9)), float(ndtri(0.975))
    return center + (tail - center) * np.clip((z - z80) / (z95 - z80), 0.0, 1.0)


def calibrate(
    errors: np.ndarray,
    horizon: int,
    floor: float = 1e-9,
    widen_center: float | None = None,
    widen_tail: float | None = None,
) -> Calibration:
    """Calibrate intervals from backtest errors (``actual - forecast``, shape ``(cutoffs, backtest_horizon)``).

    The standardized errors' empirical quantiles are widened by the split-conformal factor ``(n + 1) / n``; with
    fewer than 30 errors a Student-t with their spread is used instead. The offsets from the median are then
    widened by ``widen_center`` (central intervals) to ``widen_tail`` (the 95% interval's ends), by default
    ``1 + k / sqrt(n)``: the chosen model's backtest errors are optimistic (it was chosen for having small ones,
    from few correlated windows), more so the fewer errors there are; the two ``k`` constants, fitted once on the
    accuracy benchmark's folds, correct that for every series alike. For the sample paths it also reads how the
    standardized errors correlate along a window: the share that lasts the whole window (``persistence``, see
    :func:`_persistence`) and the lag-one correlation of the rest (``phi``).
    """
    errors = np.asarray(errors, dtype="float64")
    scale = _scale_curve(errors, horizon, floor)
    z = errors / scale[: errors.shape[1]]
    flat = z.reshape(-1)
    n = flat.size
    if n >= 30:
        adjusted = np.clip(0.5 + (_GRID - 0.5) * (n + 1) / n, 0.0, 1.0)
        offsets = np.quantile(flat, adjusted)
    else:
        spread = float(np.sqrt(np.mean(flat**2))) if n else 1.0
        offsets = float(np.mean(flat)) + spread * student_t.ppf(_GRID, df=max(1, n - 1))
    root = float(np.sqrt(max(n, 1)))
    center = 1.0 + WIDEN_CENTER_K / root if widen_center is None else widen_center
    tail = 1.0 + WIDEN_TAIL_K / root if widen_tail is None else widen_tail
    median = float(np.interp(0.5, _GRID, offsets))
    offsets = median + (offsets - median) * widening(_GRID, center, max(tail, center))
    offsets = np.maximum.accumulate(offsets)
    rho1 = _autocorrelation(z, 1)
    phi = 0.5 if rho1 is None else rho1
    persistence = _persistence(z)
    if persistence > 0.0:
        # The lag-one correlation is persistence + (1 - persistence) * phi of the short-lived part: solve for phi.
        phi = (phi - persistence) / (1.0 - persistence)
    return Calibration(
        scale=scale,
        levels=_GRID.copy(),
        offsets=offsets,
        phi=float(np.clip(phi, 0.0, 0.995)),
        n_errors=n,
        persistence=persistence,
    )


def _autocorrelation(z: np.ndarray, lag: int) -> float | None:
    """Pooled autocorrelation of standardized errors at ``lag`` within each window (about zero, not their mean:
    a window's bias is persistence too); None when the windows are too short."""
    if z.shape[1] <= lag:
        return None
    den = float(np.sum(z[:, :-lag] ** 2))
    return float(np.sum(z[:, lag:] * z[:, :-lag]) / den) if den > 0 else None


#: Persistence is read off the autocorrelation at lags between these fractions of a backtest window.
PERSISTENCE_LAGS = (0.25, 0.5)


def _persistence(z: np.ndarray) -> float:
    """The share of error variance that lasts a whole window: the mean autocorrelation at lags a quarter to half a
    window long (where an hour-scale AR(1) part has died out), clipped to [0, 0.9]; 0 for windows under 8 steps."""
    width = z.shape[1]
    if width < 8:
        return 0.0
    lags = range(max(2, int(width * PERSISTENCE_LAGS[0])), max(3, int(width * PERSISTENCE_LAGS[1])) + 1)
    values = [r for lag in lags if (r := _autocorrelation(z, lag)) is not None]
    return float(np.clip(np.mean(values), 0.0, 0.9)) if values else 0.0


def quantile_offsets(cal: Calibration, quantiles: Sequence[float]) -> np.ndarray:
    """Standardized offsets of the calibrated error distribution at ``quantiles`` (monotone)."""
    return np.maximum.accumulate(np.interp(quantiles, cal.levels, cal.offsets))


def quantile_forecast(mean: np.ndarray, cal: Calibration, quantiles: Sequence[float]) -> np.ndarray:
    """Quantile forecasts, shape ``(len(quantiles), horizon)``, monotone in the level at every step."""
    offsets = quantile_offsets(cal, quantiles)
    return mean[None, :] + offsets[:, None] * cal.scale[None, : len(mean)]


def sample_paths(mean: np.ndarray, cal: Calibration, n_paths: int, seed: int) -> np.ndarray:
    """Sample paths ``(n_paths, horizon)``: marginals follow the calibrated quantiles, steps correlate like AR(1).

    A stationary Gaussian AR(1) with coefficient ``cal.phi``, plus a per-path level shared by every step with
    variance ``cal.persistence`` (the total stays unit), is mapped through the normal CDF and then through the
    calibrated quantile function of the standardized errors (a Gaussian copula), and scaled per step. Without the
    shared level, a path's errors would forget themselves within hours while real forecast errors last for days,
    and the maximum of a path over a long window would overstate how high the series goes.
    """
    horizon = len(mean)
    rng = np.random.default_rng(seed)
    shocks = rng.standard_normal((n_paths, horizon))
    u = np.empty_like(shocks)
    u[:, 0] = shocks[:, 0]
    innovation = float(np.sqrt(1.0 - cal.phi**2))
    for h in range(1, horizon):
        u[:, h] = cal.phi * u[:, h - 1] + innovation * shocks[:, h]
    if cal.persistence > 0.0:
        level = rng.standard_normal((n_paths, 1))
        u = np.sqrt(1.0 - cal.persistence) * u + np.sqrt(cal.persistence) * level
    levels = np.clip(ndtr(u), cal.levels[0], cal.levels[-1])
    z = np.interp(levels, cal.levels, cal.offsets)
    return mean[None, :] + z * cal.scale[None, :horizon]


def normal_levels(width: float) -> tuple[float, float]:
    """The lower and upper levels of a central interval of ``width`` (e.g. 0.8 -> (0.1, 0.9))."""
    return (0.5 - width / 2.0, 0.5 + width / 2.0)


def z_value(level: float) -> float:
    """The standard normal quantile at ``level``."""
    return float(ndtri(level))
