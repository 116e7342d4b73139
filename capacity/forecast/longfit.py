"""The daily core of the long-range engine: candidates by history length, an inner backtest at the full horizon,
the choice, and the final fit.

Candidates: the yearly models of :mod:`~capacity.forecast.models.yearly` when the history covers two years, always
the weekly ones of :mod:`~capacity.forecast.models.weekly`. The inner backtest forecasts the whole horizon from up
to twelve origins 30 days apart (a year of windows, so every season is in the errors that set the intervals); the
yearly candidates' origins need 1.25 years of training. With yearly candidates only when four origins had two
full years, histories of two to two and a half years fell back to weekly models (2.72 against Prophet's 1.45 on 16
PJM windows; 1.47 with this rule). The choice is the project's :func:`~capacity.forecast.choose.choose`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from capacity.errors import ModelFailed
from capacity.forecast.backtest import Backtest, make_cutoffs
from capacity.forecast.choose import Choice, choose, combine
from capacity.forecast.metrics import seasonal_scale
from capacity.forecast.models.base import ModelSpec, run_model
from capacity.forecast.models.dated import dated
from capacity.forecast.models.weekly import WEEKLY_MODELS
from capacity.forecast.models.yearly import MIN_YEARLY_DAYS, YEARLY_MODELS

#: Inner origins: up to this many, this many days apart ...
INNER_FOLDS = 12
INNER_SPACING_DAYS = 30
#: Weekly candidates backtested on whole-horizon windows with three horizons of training need this many of them;
#: with fewer, narrower windows with less training (two 92-day windows of a 409-day history calibrated its
#: intervals from two numbers per step, and its Black Friday p95 peak stood 20% above the 30-day forecast's).
MIN_WEEKLY_FOLDS = 4
#: ... with yearly candidates when at least this many origins leave this many days of training.
MIN_YEARLY_FOLDS = 4
INNER_MIN_YEARLY_DAYS = 456


@dataclass(frozen=True)
class InnerPlan:
    """Where the inner backtest's windows start, how wide they are, and whether yearly candidates run."""

    cutoffs: tuple[int, ...]
    width: int
    yearly: bool


def inner_plan(n: int, horizon: int) -> InnerPlan:
    """The inner backtest for ``n`` days of history and a ``horizon``-day forecast.

    Yearly (two years of history, four origins with 1.25 years): origins 30 days apart from ``n - horizon`` back,
    as far as 1.25 years of training allows. Otherwise origins with three horizons of training when that leaves
    :data:`MIN_WEEKLY_FOLDS` of them; for a shorter history, narrower windows (a quarter of the history) 10 days or
    more apart.
    """
    spacing = INNER_SPACING_DAYS
    if n >= MIN_YEARLY_DAYS and n - horizon - (MIN_YEARLY_FOLDS - 1) * spacing >= INNER_MIN_YEARLY_DAYS:
        return InnerPlan(make_cutoffs(n, horizon, INNER_FOLDS, spacing, INNER_MIN_YEARLY_DAYS), horizon, True)
    cutoffs = make_cutoffs(n, horizon, INNER_FOLDS, spacing, min(3 * horizon, n - horizon))
    if len(cutoffs) >= MIN_WEEKLY_FOLDS:
        return InnerPlan(cutoffs, horizon, False)
    width = min(horizon, max(7, n // 4))
    return InnerPlan(make_cutoffs(n, width, INNER_FOLDS, max(7, width // 3), max(28, n // 3)), width, False)


def candidates(yearly: bool) -> tuple[ModelSpec, ...]:
    """The candidate models: weekly always, yearly with two years of history."""
    return (*YEARLY_MODELS, *WEEKLY_MODELS) if yearly else WEEKLY_MODELS


@dataclass(frozen=True)
class DailyFit:
    """The daily engine's point forecast and how it was chosen.

    Attributes:
        mean: the daily point forecast, ``horizon`` values.
        members: the models averaged.
        choice: the choice over the inner backtest (None on a fallback).
        backtest: the inner backtest (None when no window fits).
        inner: the chosen combination's inner forecasts, shape ``(len(cutoffs), width)`` (None on a fallback).
        yearly: whether yearly candidates ran.
        notes: diagnostics (dropped models, fallbacks).
        fallback: True when no candidate could be backtested and refitted.
    """

    mean: np.ndarray
    members: tuple[str, ...]
    choice: Choice | None
    backtest: Backtest | None
    inner: np.ndarray | None
    yearly: bool
    notes: tuple[str, ...]
    fallback: bool = False


def _run(
    spec: ModelSpec, y: np.ndarray, dates: pd.DatetimeIndex, horizon: int, exog: np.ndarray | None
) -> np.ndarray:
    rows = exog[: len(y) + horizon] if exog is not None else None
    return run_model(spec, dated(y, dates[: len(y) + horizon], horizon, rows)).mean


def inner_backtest(
    y: np.ndarray,
    dates: pd.DatetimeIndex,
    specs: Sequence[ModelSpec],
    plan: InnerPlan,
    exog: np.ndarray | None,
) -> Backtest:
    """Every candidate from every inner origin; a model failing at any origin is dropped with its reason."""
    forecasts: dict[str, np.ndarray] = {}
    failures: dict[str, str] = {}
    for spec in specs:
        try:
            forecasts[spec.name] = np.array(
                [_run(spec, y[:c], dates, plan.width, exog) for c in plan.cutoffs]
            )
        except ModelFailed as exc:
            failures[spec.name] = str(exc)
    return Backtest(
        cutoffs=plan.cutoffs,
        horizon=plan.width,
        actuals=np.array([y[c : c + plan.width] for c in plan.cutoffs]),
        scales=np.array([seasonal_scale(y[:c], 7) for c in plan.cutoffs]),
        forecasts=forecasts,
        failures=failures,
    )


def _fallback(y: np.ndarray, dates: pd.DatetimeIndex, horizon: int, notes: list[str]) -> DailyFit:
    spec = WEEKLY_MODELS[0]
    try:
        mean, name = _run(spec, y, dates, horizon, None), spec.name
    except ModelFailed as exc:
        notes.append(str(exc))
        mean, name = np.full(horizon, float(y[-1])), "naive"
    notes.append(f"fell back to {name}: no long-range candidate could be backtested on {len(y)} days")
    return DailyFit(mean, (name,), None, None, None, False, tuple(notes), fallback=True)


def fit_daily(
    y: np.ndarray, dates: pd.DatetimeIndex, horizon: int, exog: np.ndarray | None = None
) -> DailyFit:
    """Backtest the candidates at the full horizon (the reach), choose, refit the choice on the whole history.

    Args:
        y: the daily history.
        dates: ``len(y) + horizon`` days (history then horizon).
        horizon: days to forecast.
        exog: optional event regressors, ``len(y) + horizon`` rows.
    """
    plan = inner_plan(len(y), horizon)
    notes: list[str] = []
    if not plan.cutoffs:
        return _fallback(y, dates, horizon, notes)
    specs = candidates(plan.yearly)
    bt = inner_backtest(y, dates, specs, plan, exog)
    notes.extend(bt.failures.values())
    if not bt.forecasts:
        return _fallback(y, dates, horizon, notes)
    choice = choose(bt)
    by_name = {s.name: s for s in specs}
    means, kept = [], []
    for name in choice.members:
        try:
            means.append(_run(by_name[name], y, dates, horizon, exog))
            kept.append(name)
        except ModelFailed as exc:
            notes.append(f"final fit failed, dropped from the forecast: {exc}")
    if not means:
        return _fallback(y, dates, horizon, notes)
    return DailyFit(
        mean=np.mean(means, axis=0),
        members=tuple(kept),
        choice=choice,
        backtest=bt,
        inner=combine(bt, kept),
        yearly=plan.yearly,
        notes=tuple(notes),
    )
