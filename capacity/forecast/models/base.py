"""The small model interface, the registry by name, and the guarded runner every fit goes through.

A model is a pure function ``fit_forecast(data: FitInput) -> np.ndarray`` (the point forecast, ``horizon`` values)
behind a thin :class:`ModelSpec` that names it and says how much history it needs and how much it looks at.
Intervals are not the model's job: :mod:`capacity.forecast.intervals` calibrates them from backtest errors, the same way for
every model. :func:`run_model` fits one model with statsmodels warnings captured as diagnostics and rejects
non-finite or exploding forecasts, so a caller can fall back to the next model.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from capacity.errors import ModelFailed


@dataclass(frozen=True)
class FitInput:
    """What a model sees.

    Attributes:
        y: the regular history, oldest first, no NaN.
        horizon: number of steps to forecast.
        periods: the seasonal periods detected in the history, in steps (e.g. ``(24, 168)``).
        exog: optional regressors, shape ``(len(y) + horizon, k)``: history rows then horizon rows (event windows).
    """

    y: np.ndarray
    horizon: int
    periods: tuple[int, ...] = ()
    exog: np.ndarray | None = None


@dataclass(frozen=True)
class ModelSpec:
    """A registered model.

    Attributes:
        name: the registry key, recorded with every forecast.
        fit_forecast: the pure fitting function.
        min_points: the fewest history steps it can fit, as a function of the periods.
        window: the trailing history it fits on, in steps, as a function of the periods (None: everything).
        needs_period: True when it only makes sense with at least one seasonal period.
        description: one line for tables and docs.
        without_period_only: True for non-seasonal models that the seasonal ones supersede when there is a
            period (drift chases noise in seasonal data); they stay available as fallbacks.
    """

    name: str
    fit_forecast: Callable[[FitInput], np.ndarray]
    min_points: Callable[[tuple[int, ...]], int]
    window: Callable[[tuple[int, ...]], int | None]
    needs_period: bool = False
    description: str = ""
    without_period_only: bool = False


@dataclass(frozen=True)
class ModelRun:
    """A point forecast and the warnings its fit raised."""

    mean: np.ndarray
    warnings: tuple[str, ...] = ()


REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model to the registry (last registration of a name wins); returns it."""
    REGISTRY[spec.name] = spec
    return spec


def get_model(name: str) -> ModelSpec:
    """The registered model called ``name``.

    Raises:
        KeyError: when no model has that name.
    """
    return REGISTRY[name]


def usable(spec: ModelSpec, n: int, periods: tuple[int, ...]) -> bool:
    """True when ``spec`` can fit ``n`` steps of history with these periods."""
    if spec.needs_period and not periods:
        return False
    if spec.without_period_only and periods:
        return False
    return n >= spec.min_points(periods)


def trailing(spec: ModelSpec, data: FitInput) -> FitInput:
    """Cut ``data`` to the model's trailing window (regressor rows too)."""
    window = spec.window(data.periods)
    if window is None or len(data.y) <= window:
        return data
    cut = len(data.y) - window
    exog = data.exog[cut:] if data.exog is not None else None
    return FitInput(y=data.y[cut:], horizon=data.horizon, periods=data.periods, exog=exog)


def run_model(spec: ModelSpec, data: FitInput) -> ModelRun:
    """Fit ``spec`` on its trailing window of ``data`` and forecast, guarding against failures.

    Warnings raised while fitting (statsmodels convergence warnings and the like) are captured and returned, never
    shown. A forecast that is not finite or leaves a wide band around the history (an exploding trend) is rejected.

    Raises:
        ModelFailed: with the reason, when the model raised or produced an unusable forecast.
    """
    window = trailing(spec, data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with np.errstate(all="ignore"):
                mean = np.asarray(spec.fit_forecast(window), dtype="float64").reshape(-1)
        except Exception as exc:  # statsmodels and numpy raise many kinds; the caller falls back
            raise ModelFailed(f"{spec.name}: {type(exc).__name__}: {_first_line(exc)}") from None
    notes = tuple(
        dict.fromkeys(
            f"{spec.name}: {type(w.message).__name__ if isinstance(w.message, Warning) else 'warning'}: {_first_line(w.message)}"
            for w in caught
        )
    )
    if mean.shape != (data.horizon,):
        raise ModelFailed(f"{spec.name}: forecast has {mean.size} values, expected {data.horizon}")
    if not np.isfinite(mean).all():
        raise ModelFailed(f"{spec.name}: forecast is not finite")
    y = window.y
    lo, hi = float(np.min(y)), float(np.max(y))
    span = max(hi - lo, 1e-9 + 0.1 * abs(hi))
    if mean.max() > hi + 2.0 * span or mean.min() < lo - 2.0 * span:
        raise ModelFailed(f"{spec.name}: forecast left the plausible band (exploding trend)")
    return ModelRun(mean=mean, warnings=notes)


def _first_line(obj: object) -> str:
    text = str(obj).strip()
    return text.splitlines()[0][:160] if text else ""


def season_length(periods: tuple[int, ...], longest: bool = False) -> int:
    """The shortest (or longest) period, or 1 when there is none."""
    if not periods:
        return 1
    return max(periods) if longest else min(periods)
