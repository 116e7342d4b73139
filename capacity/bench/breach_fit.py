"""Fitting the breach probability's constants (:class:`capacity.risk.probability.BreachModel`) on a fleet.

The constants the engine ships were fitted here, and ``capacity bench breach --fit-on FOLDER`` refits them on other
series before scoring, so a held-out figure (fit on one folder, score on another) is one command anyone can rerun
on their own fleet.

Fitting cases: for every series, cutoffs a week apart back from its end (the week after each cutoff observed), at
least :data:`MIN_TRAIN_DAYS` days of history before each and at most :data:`MAX_ORIGINS` per series (spread evenly
over its span, so a five-year series does not outweigh a fleet of three-month ones). At each: the engine's forecast
(400 sample paths), the seasonal analogs, the recent profile and the maximum actually reached in the week after.

The three parts are fitted in turn: the history part by maximum likelihood of ``log(week max / recent peak)``
(clipped to [-1, 1]: the levels that matter are near the peak) under its logistic location-scale model; the paths
part by log-loss of "reached ``level x`` the recent peak" over the benchmark's levels; the blend weight by the
Brier score on the same cases. Location weights and the crossing-share weight are bounded at zero and the level
weight at zero from above, so the fitted model keeps the probability monotone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from capacity.errors import InvalidInput
from capacity.forecast.pipeline import forecast_series
from capacity.forecast.types import ForecastSpec
from capacity.risk.crossing import seasonal_analogs
from capacity.risk.probability import (
    MIN_ANALOGS,
    BreachModel,
    RecentProfile,
    history_features,
    history_probability,
    logit_share,
    recent_profile,
)

#: Fewest days of history before a fitting cutoff.
MIN_TRAIN_DAYS = 28
#: Most fitting cutoffs per series.
MAX_ORIGINS = 40
#: Sample paths per fitting forecast (as the benchmark's).
N_PATHS = 400
#: L2 penalty on the weights (not the intercepts): keeps a fit on a few series from chasing noise.
L2 = 1e-3


@dataclass(frozen=True)
class FitCase:
    """One fitting origin: what the engine knew at the cutoff and the maximum of the window after it."""

    series: str
    profile: RecentProfile
    analogs: np.ndarray
    paths: np.ndarray
    ahead_max: float


def fit_cutoffs(n: int, horizon: int, steps_per_day: int) -> list[int]:
    """Cutoffs a ``horizon`` apart back from ``n - horizon``, each with :data:`MIN_TRAIN_DAYS` days before it,
    at most :data:`MAX_ORIGINS` of them spread evenly; oldest first."""
    cuts = sorted(c for c in range(n - horizon, 0, -horizon) if c >= MIN_TRAIN_DAYS * steps_per_day)
    if len(cuts) > MAX_ORIGINS:
        cuts = [cuts[i] for i in sorted(set(np.linspace(0, len(cuts) - 1, MAX_ORIGINS).round().astype(int)))]
    return cuts


def collect_fit_cases(
    series: Mapping[str, pd.Series],
    horizon: int,
    *,
    analog_weeks: int = 12,
    on_series: Callable[[str, int], None] | None = None,
) -> list[FitCase]:
    """Forecast every fitting origin of every hourly series (see the module doc); origins without a positive recent
    peak or with fewer than :data:`MIN_ANALOGS` analogs are left out."""
    cases: list[FitCase] = []
    for name, y in series.items():
        got = 0
        for cut in fit_cutoffs(len(y), horizon, 24):
            train = y.iloc[:cut]
            profile = recent_profile(train)
            if profile is None:
                continue
            result = forecast_series(train, ForecastSpec(horizon=horizon, n_paths=N_PATHS))
            analogs = seasonal_analogs(train, pd.DatetimeIndex(result.frame["ts"]), count=analog_weeks)
            if analogs is None or len(analogs) < MIN_ANALOGS:
                continue
            ahead = float(np.max(y.iloc[cut : cut + horizon].to_numpy(dtype="float64")))
            cases.append(FitCase(name, profile, analogs, result.paths, ahead))
            got += 1
        if on_series is not None:
            on_series(name, got)
    return cases


def _nll_logistic(r: np.ndarray) -> np.ndarray:
    return np.asarray(np.logaddexp(0.0, r) + np.logaddexp(0.0, -r))


def fit_history(cases: Sequence[FitCase]) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """The history part's location and log-scale constants (maximum likelihood, see the module doc)."""
    rows = []
    for c in cases:
        recent, typical = history_features(c.analogs, c.profile.peak)
        target = math.log(max(c.ahead_max, 1e-6 * c.profile.peak) / c.profile.peak)
        rows.append(
            (recent[-1], typical[-1], c.profile.spikiness, c.profile.spread, float(np.clip(target, -1, 1)))
        )
    data = np.array(rows)
    loc_x, scale_x, y = data[:, :2], data[:, 2:4], data[:, 4]

    def objective(t: np.ndarray) -> float:
        location = t[0] + loc_x @ t[1:3]
        log_scale = t[3] + scale_x @ t[4:6]
        r = (y - location) / np.exp(log_scale)
        return float(np.mean(_nll_logistic(r) + log_scale) + L2 * np.sum(t[[1, 2, 4, 5]] ** 2))

    bounds = [(None, None), (0.0, None), (0.0, None), (None, None), (None, None), (None, None)]
    t = minimize(
        objective, np.array([0.0, 0.0, 0.0, math.log(0.2), 0.0, 0.0]), method="L-BFGS-B", bounds=bounds
    ).x
    return (float(t[0]), float(t[1]), float(t[2])), (float(t[3]), float(t[4]), float(t[5]))


def fit_model(cases: Sequence[FitCase], levels: Sequence[float]) -> BreachModel:
    """All the constants: the history part, then the paths part and the blend weight (see the module doc)."""
    if len(cases) < 10:
        raise InvalidInput(
            f"fitting the breach model needs at least 10 origins, got {len(cases)}", field="fit_on"
        )
    location, log_scale = fit_history(cases)
    interim = BreachModel(location, log_scale, (0.0, 0.0, 0.0), 1.0)
    x, outcome, history = [], [], []
    for c in cases:
        for level in levels:
            threshold = level * c.profile.peak
            share = float(np.mean(c.paths.max(axis=1) >= threshold))
            x.append((float(logit_share(np.array([share]), c.paths.shape[0])[0]), math.log(level)))
            outcome.append(float(c.ahead_max >= threshold))
            history.append(float(history_probability(c.analogs, c.profile, threshold, interim)[-1]))
    xa, o, ph = np.array(x), np.array(outcome), np.array(history)

    def log_loss(b: np.ndarray) -> float:
        z = b[0] + xa @ b[1:]
        return float(np.mean(np.logaddexp(0.0, z) - o * z) + L2 * 0.1 * np.sum(b[1:] ** 2))

    b = minimize(log_loss, np.zeros(3), method="L-BFGS-B", bounds=[(None, None), (0.0, None), (None, 0.0)]).x
    pp = 1.0 / (1.0 + np.exp(-(b[0] + xa @ b[1:])))
    weights = np.linspace(0.0, 1.0, 101)
    w = float(weights[np.argmin([np.mean((wi * ph + (1 - wi) * pp - o) ** 2) for wi in weights])])
    return BreachModel(location, log_scale, (float(b[0]), float(b[1]), float(b[2])), w)
