"""Rolling-origin backtest, model selection (or an ensemble of the best few), and interval calibration.

Three pieces, as in Prophet's ``diagnostics``: :func:`make_cutoffs` (where each backtest window starts),
:func:`backtest` (every candidate forecast from every cutoff, using only the history before it), and the metric
registry :data:`capacity.metrics.POINT_METRICS`. :func:`choose` ranks the candidates by MASE and considers the
mean of the best two and three. :func:`calibrate` turns the chosen forecast's backtest errors into a per-step
error scale (a power law in the horizon step) and an empirical distribution of standardized errors, split-conformal
style, so that stated coverage is real coverage. :func:`sample_paths` draws paths whose marginals are those
calibrated quantiles and whose steps are correlated like the backtest errors: a Gaussian copula over an AR(1) plus
a level shared by every step of a path, whose share of the variance (``Calibration.persistence``) is the part of the
backtest errors that lasts a whole window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr, ndtri

from capacity.errors import ModelFailed
from capacity.metrics import POINT_METRICS, seasonal_scale
from capacity.models import FitInput, get_model, run_model, usable

#: How many of the best single models an ensemble may average.
MAX_MEMBERS = 5
#: Widening of the calibrated offsets, ``1 + k / sqrt(n_errors)``, for central intervals and for the 95% interval's
#: ends (see :func:`calibrate`); fitted once on the accuracy benchmark's folds (24 h and 7 d horizons).
WIDEN_CENTER_K = 6.5
WIDEN_TAIL_K = 12.0
#: The levels on which the standardized error distribution is tabulated (paths interpolate between them).
_GRID = np.concatenate([[0.001, 0.005], np.linspace(0.01, 0.99, 99), [0.995, 0.999]])


@dataclass(frozen=True)
class Backtest:
    """Every candidate's forecasts from every cutoff.

    Attributes:
        cutoffs: start positions of the test windows in the history (training is ``y[:cutoff]``).
        horizon: steps per test window.
        actuals: shape ``(len(cutoffs), horizon)``.
        scales: the MASE scale of each cutoff's training part.
        forecasts: model name -> shape ``(len(cutoffs), horizon)``, for models that succeeded at every cutoff.
        failures: model name -> why it was dropped.
        warnings: fit warnings seen (deduplicated).
    """

    cutoffs: tuple[int, ...]
    horizon: int
    actuals: np.ndarray
    scales: np.ndarray
    forecasts: Mapping[str, np.ndarray]
    failures: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Choice:
    """The chosen model or ensemble.

    Attributes:
        name: ``model`` or ``ensemble(a+b)``.
        members: the single models averaged (one for a single model).
        scores: backtest scores of the choice.
        candidates: backtest scores of every single model and ensemble considered.
    """

    name: str
    members: tuple[str, ...]
    scores: Mapping[str, float]
    candidates: Mapping[str, Mapping[str, float]]


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


def make_cutoffs(n: int, horizon: int, folds: int, spacing: int, min_train: int) -> tuple[int, ...]:
    """Test-window starts ``n - horizon - i * spacing`` for ``i < folds``, each with ``min_train`` steps before it.

    Returns them oldest first. Each test window ``[c, c + horizon)`` lies inside the history and starts strictly
    after its training part ``[0, c)``.
    """
    out = [n - horizon - i * spacing for i in range(folds)]
    return tuple(sorted(c for c in out if c >= max(1, min_train) and c + horizon <= n))


def backtest_plan(
    n: int, horizon: int, periods: tuple[int, ...], folds: int = 4
) -> tuple[int, tuple[int, ...]]:
    """The backtest horizon and cutoffs for ``n`` steps of history and a forecast ``horizon``.

    The backtest horizon is the forecast horizon, shortened to a third of the history for short series. Cutoffs are
    a day apart for short horizons and half a horizon apart (in whole days) for long ones.
    """
    day = min(periods) if periods else 1
    hb = max(1, min(horizon, n // 3))
    if periods:
        spacing = max(day, (hb // 2) // day * day)
        min_train = max(day + 2, min(max(hb, 2 * day + 10), n // 2))
    else:
        spacing = max(1, min(hb, max(1, hb // 2)))
        min_train = max(2, min(hb, n // 2))
    return hb, make_cutoffs(n, hb, folds, spacing, min_train)


def backtest(
    y: np.ndarray,
    periods: tuple[int, ...],
    names: Sequence[str],
    horizon: int,
    cutoffs: Sequence[int],
    exog: np.ndarray | None = None,
) -> Backtest:
    """Forecast ``horizon`` steps from each cutoff with each model, using only the history before the cutoff.

    A model that fails (or cannot fit) at any cutoff is dropped with its reason; its warnings are kept.
    """
    day = min(periods) if periods else 1
    actuals = np.array([y[c : c + horizon] for c in cutoffs])
    scales = np.array([seasonal_scale(y[:c], day) for c in cutoffs])
    forecasts: dict[str, np.ndarray] = {}
    failures: dict[str, str] = {}
    notes: list[str] = []
    for name in names:
        spec = get_model(name)
        rows = []
        for c in cutoffs:
            if not usable(spec, c, periods):
                failures[name] = f"{name}: needs more history than the backtest cutoffs leave"
                break
            rows_exog = exog[: c + horizon] if exog is not None else None
            try:
                run = run_model(spec, FitInput(y=y[:c], horizon=horizon, periods=periods, exog=rows_exog))
            except ModelFailed as exc:
                failures[name] = str(exc)
                break
            notes.extend(run.warnings)
            rows.append(run.mean)
        else:
            forecasts[name] = np.array(rows)
    return Backtest(
        cutoffs=tuple(cutoffs),
        horizon=horizon,
        actuals=actuals,
        scales=scales,
        forecasts=forecasts,
        failures=failures,
        warnings=tuple(dict.fromkeys(notes)),
    )


def score(bt: Backtest, forecasts: np.ndarray) -> dict[str, float]:
    """Every point metric of ``forecasts`` (shape like ``bt.actuals``), averaged over cutoffs."""
    out = {}
    for metric, fn in POINT_METRICS.items():
        values = [fn(a, f, s) for a, f, s in zip(bt.actuals, forecasts, bt.scales, strict=True)]
        out[metric] = float(np.mean(values))
    return out


def ensemble_name(members: Sequence[str]) -> str:
    """The recorded name of a mean ensemble, e.g. ``ensemble(harmonic+theta)``."""
    return members[0] if len(members) == 1 else f"ensemble({'+'.join(members)})"


def choose(bt: Backtest, max_members: int = MAX_MEMBERS) -> Choice:
    """Pick the single model or mean ensemble of the best few with the lowest backtest MASE.

    Raises:
        ValueError: when no model succeeded in the backtest.
    """
    if not bt.forecasts:
        raise ValueError("no model produced a backtest forecast")
    singles = {name: score(bt, f) for name, f in bt.forecasts.items()}
    ranked = sorted(singles, key=lambda name: (singles[name]["mase"], name))
    candidates: dict[str, dict[str, float]] = dict(singles)
    options: dict[str, tuple[str, ...]] = {name: (name,) for name in ranked}
    for k in range(2, min(max_members, len(ranked)) + 1):
        members = tuple(ranked[:k])
        name = ensemble_name(members)
        candidates[name] = score(bt, combine(bt, members))
        options[name] = members
    # ties (and near ties) go to the larger ensemble: averaging is the safer bet out of sample
    best = min(
        options, key=lambda name: (candidates[name]["mase"] * (1.0 - 0.02 * (len(options[name]) - 1)), name)
    )
    return Choice(name=best, members=options[best], scores=candidates[best], candidates=candidates)


def combine(bt: Backtest, members: Sequence[str]) -> np.ndarray:
    """The mean of the members' backtest forecasts."""
    return np.mean([bt.forecasts[m] for m in members], axis=0)


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
        from scipy.stats import t as student_t

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
