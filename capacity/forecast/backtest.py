"""Rolling-origin backtest: where each test window starts, and every candidate forecast from every cutoff.

Two of the three pieces of Prophet's ``diagnostics``: :func:`make_cutoffs` (where each backtest window starts) and
:func:`backtest` (every candidate forecast from every cutoff, using only the history before it); the third, the
metric registry, is :data:`capacity.forecast.metrics.POINT_METRICS`, which :func:`score` applies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from capacity.errors import ModelFailed
from capacity.forecast.metrics import POINT_METRICS, seasonal_scale
from capacity.forecast.models import FitInput, get_model, run_model, usable


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
