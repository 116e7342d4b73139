"""The breach probability: a small fitted model of how high a window's maximum goes, blended with the forecast.

Why not the sample paths alone: over a week the paths' maxima are far too spread (on the breach benchmark, 1.1x the
last 28 days' maximum: mean path share 0.15-0.24 where 3-8% of the weeks reached it), and their crossing share
ranked weeks worse than the series' own past weeks did. Why not the past weeks alone: they miss what the forecast
knows (a smooth, forecastable load moving with the season; a growing service).

So the probability that a window's maximum reaches ``threshold`` is a blend, weight :data:`HISTORY_WEIGHT` on the
first part:

- **history**: ``log(window max / recent peak)`` is modelled as logistic with location
  ``mu = a + b1 * recent + b2 * typical`` and scale ``exp(s0 + s1 * spikiness + s2 * spread)``, where the recent
  peak is the maximum of the last :data:`PEAK_DAYS` days, ``recent`` / ``typical`` are the log ratios to it of the
  most recent seasonal analog's maximum and of the analogs' median maximum over the window (the same weekday and
  hour in past weeks, :func:`capacity.risk.crossing.seasonal_analogs`), ``spikiness`` is how far that peak stands
  above a typical day's maximum, and ``spread`` how much the weekly maxima vary (both from the history alone).
  The probability is then ``1 - F((log(threshold / peak) - mu) / scale)``;
- **paths**: the forecast's crossing share recalibrated, ``sigmoid(c0 + c1 * logit(share) + c2 *
  log(threshold / peak))``.

It degrades towards a base rate per threshold level when the information is weak: a spiky or erratic history
widens the scale, which pulls the history part towards one half and leaves the level terms to speak.

The two invariants a planner relies on hold by construction: every term is non-increasing in the threshold (the
location and scale do not depend on it; ``b1, b2, c1 >= 0``, ``c2 <= 0``) and, over a window's steps, ``recent``,
``typical`` and the crossing share only grow (running maxima) while the scale is fixed per series, so the
cumulative curve never falls; a running maximum guards that anyway. Pure: arrays and a history in, arrays out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from capacity.errors import InvalidConfig

#: The recent peak the model measures every level against: the maximum of this many days of history.
PEAK_DAYS = 28
#: Weeks of history whose maxima measure how much a week's peak varies (``spread``).
SPREAD_WEEKS = 12
#: ``spread`` when fewer than two whole weeks are known (about the median over the fitting series).
SPREAD_DEFAULT = 0.1
#: Fewest seasonal analogs the model is used with: every origin it was fitted on had at least 28 days of history,
#: so at least four; with fewer (a young series) the risk falls back to the share of crossing paths, which follows
#: the forecast's trend where three past weeks cannot show one.
MIN_ANALOGS = 4
#: How many days of the paths part's own daily rate a young series' record is shrunk towards
#: (:func:`young_probability`): with 3 days of history the model's rate weighs ten times the record, with 14 days
#: about twice. Chosen by Brier score on the 3/7/14-day cuts of ``../shared/data/real-vms`` (29.9, rounded) and
#: scored on those of ``../shared/data/real``; the reverse split chose 20.8 (see :mod:`capacity.risk.status`).
RECORD_PRIOR_DAYS = 30.0
#: Log ratios to the recent peak are clipped to this range (a series that fell to zero, or a tiny peak).
LOG_RATIO_RANGE = (-3.0, 1.0)


@dataclass(frozen=True)
class BreachModel:
    """The fitted constants of the breach probability (see the module doc for the formula).

    Attributes:
        location: ``(a, b1, b2)``: intercept, weight of the most recent analog's and of the analogs' median max.
        log_scale: ``(s0, s1, s2)``: intercept, weight of the spikiness and of the log spread of weekly maxima.
        paths: ``(c0, c1, c2)``: intercept, weight of the logit crossing share, of ``log(threshold / peak)``.
        history_weight: weight of the history part in the blend (the rest goes to the paths part).
    """

    location: tuple[float, float, float]
    log_scale: tuple[float, float, float]
    paths: tuple[float, float, float]
    history_weight: float

    def __post_init__(self) -> None:
        if min(self.location[1:]) < 0 or self.paths[1] < 0 or self.paths[2] > 0:
            raise InvalidConfig(
                "breach model weights must keep the probability monotone: location weights and the crossing-share "
                f"weight >= 0, the level weight <= 0; got location={self.location}, paths={self.paths}",
                field="breach_model",
            )
        if not 0.0 <= self.history_weight <= 1.0:
            raise InvalidConfig(
                f"history_weight must be in [0, 1], got {self.history_weight}", field="history_weight"
            )


#: The shipped constants, and where they come from: fitted by :mod:`capacity.bench.breach_fit` (maximum likelihood
#: for the history part, log-loss for the paths part, Brier score for the weight) on 355 weekly origins of the 37
#: series of ``../shared/data/real`` and ``../shared/data/real-vms`` with at least 28 days of history (what
#: ``capacity bench breach --fit-on ../shared/data/real --fit-on ../shared/data/real-vms`` refits). Scored on those
#: folders they are dev figures; the held-out figures refit on one folder and score the other (``--fit-on``):
#: docs/benchmarks.md, "Breach risk: skill over climatology on held-out series".
DEFAULT_MODEL = BreachModel(
    location=(-0.007, 0.435, 0.399),
    log_scale=(-1.258, 0.411, 0.644),
    paths=(-0.813, 0.275, -10.002),
    history_weight=0.8,
)


@dataclass(frozen=True)
class RecentProfile:
    """What the history says about a series' recent peaks.

    Attributes:
        peak: the maximum of the last :data:`PEAK_DAYS` days (> 0).
        spikiness: ``log(peak / median daily maximum)`` over those days, clipped to [0, 3].
        spread: log of the spread of the log weekly maxima over the last :data:`SPREAD_WEEKS` weeks around their trend.
        daily_max: the maxima of the 24-hour blocks ending at the history's end, over those days (oldest first): a
            young series' own record of how often its days reached a level (:func:`young_probability`).
    """

    peak: float
    spikiness: float
    spread: float
    daily_max: tuple[float, ...] = ()


def recent_profile(history: pd.Series) -> RecentProfile | None:
    """The recent peak, spikiness and spread of a regularized history; None when it holds no positive peak (the
    model measures levels as ratios to it)."""
    values = history[np.isfinite(history.to_numpy(dtype="float64"))]
    if len(values) == 0:
        return None
    end = values.index[-1]
    recent = values[values.index > end - pd.Timedelta(days=PEAK_DAYS)]
    peak = float(recent.max())
    if not peak > 0:
        return None
    daily = recent.resample("24h", origin="end", closed="right", label="right").max().dropna()
    typical_day = float(np.median(daily.to_numpy(dtype="float64")))
    spikiness = math.log(peak / typical_day) if typical_day > 0 else 3.0
    weekly = []
    for k in range(SPREAD_WEEKS):
        lo, hi = end - pd.Timedelta(days=7 * (k + 1)), end - pd.Timedelta(days=7 * k)
        week = values[(values.index > lo) & (values.index <= hi)]
        if len(week) == 0 or week.index[0] > lo + pd.Timedelta(days=1):  # a partial week: stop there
            break
        weekly.append(float(week.max()))
    sd = _spread(_log_ratio(np.array(weekly), peak))
    return RecentProfile(
        peak=peak,
        spikiness=float(np.clip(spikiness, 0.0, 3.0)),
        spread=math.log(max(sd, 0.01)),
        daily_max=tuple(float(v) for v in daily.to_numpy(dtype="float64")),
    )


def _spread(log_weekly: np.ndarray) -> float:
    """How much a week's peak varies: the standard deviation of the log weekly maxima around their straight-line
    trend (a growing service's steady rise is not variability), plain with under four weeks, a default with under
    two."""
    n = len(log_weekly)
    if n < 2:
        return SPREAD_DEFAULT
    if n < 4:
        return float(np.std(log_weekly))
    x = np.arange(n, dtype="float64")
    slope, intercept = np.polyfit(x, log_weekly, 1)
    residual = log_weekly - (intercept + slope * x)
    return float(np.sqrt(np.sum(residual**2) / (n - 2)))


def _log_ratio(values: np.ndarray, peak: float) -> np.ndarray:
    return np.clip(np.log(np.maximum(values, 1e-6 * peak) / peak), *LOG_RATIO_RANGE)


def logit_share(share: np.ndarray, n: int) -> np.ndarray:
    """The logit of a share of ``n`` trajectories, smoothed by one pseudo-count each way (never infinite)."""
    p = (share * n + 1.0) / (n + 2.0)
    return np.asarray(np.log(p / (1.0 - p)))


def history_features(analogs: np.ndarray, peak: float) -> tuple[np.ndarray, np.ndarray]:
    """Per step: ``recent`` and ``typical``, the log ratios to ``peak`` of the most recent analog's running maximum
    and of the analogs' median running maximum. ``analogs`` is ``(k >= 1, steps)``, most recent first."""
    running = _log_ratio(np.maximum.accumulate(analogs, axis=1), peak)
    return running[0], np.asarray(np.median(running, axis=0))


def history_probability(
    analogs: np.ndarray, profile: RecentProfile, threshold: float, model: BreachModel = DEFAULT_MODEL
) -> np.ndarray:
    """The history part, per step: the probability that the window's maximum up to that step reaches
    ``threshold``."""
    recent, typical = history_features(analogs, profile.peak)
    a, b1, b2 = model.location
    location = a + b1 * recent + b2 * typical
    s0, s1, s2 = model.log_scale
    scale = math.exp(s0 + s1 * profile.spikiness + s2 * profile.spread)
    z = (math.log(threshold / profile.peak) - location) / scale
    return np.asarray(1.0 / (1.0 + np.exp(np.clip(z, -50, 50))))


def paths_probability(
    paths: np.ndarray, profile: RecentProfile, threshold: float, model: BreachModel = DEFAULT_MODEL
) -> np.ndarray:
    """The paths part, per step: the recalibrated share of sample paths that have reached ``threshold``."""
    share = np.maximum.accumulate(paths >= threshold, axis=1).mean(axis=0)
    c0, c1, c2 = model.paths
    z = c0 + c1 * logit_share(share, paths.shape[0]) + c2 * math.log(threshold / profile.peak)
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


def young_probability(
    paths: np.ndarray,
    profile: RecentProfile,
    threshold: float,
    step_days: float,
    model: BreachModel = DEFAULT_MODEL,
    prior_days: float = RECORD_PRIOR_DAYS,
) -> np.ndarray:
    """The breach probability of a series too young for the seasonal analogs, per step: the paths part's
    probability turned into a daily rate, shrunk towards the series' own record, turned back into the window's.

    Why: the paths part alone measures a level against the young history's peak with constants fitted on four
    weeks and more; a few days' peak sits lower than a month's, so a level its days did reach kept reading low (at
    0.9 x the 28-day maximum: mean 0.46-0.55 where 67 % of the weeks breached). What the young history does show is
    how many of its ``n`` days reached the level (``k``): the daily rate is ``(k + m * r_model) / (n + m)`` with
    ``m = prior_days`` and ``r_model`` the daily rate that gives the paths part's probability over the window so
    far; the probability is ``1 - (1 - rate) ** days`` over the window's days so far. A history whose days never
    reached the level only lowers the rate in proportion (it cannot show a breach it has not seen).

    Non-increasing in the threshold (``k`` and the paths part both are); the caller keeps the curve's running
    maximum over steps. Without daily maxima in ``profile`` it is the paths part.
    """
    part = paths_probability(paths, profile, threshold, model)
    days = len(profile.daily_max)
    if days == 0 or not step_days > 0:
        return part
    reached = float(np.sum(np.asarray(profile.daily_max) >= threshold))
    window_days = step_days * np.arange(1, len(part) + 1, dtype="float64")
    model_rate = 1.0 - np.power(np.clip(1.0 - part, 1e-12, 1.0), 1.0 / window_days)
    rate = (reached + prior_days * model_rate) / (days + prior_days)
    return np.asarray(1.0 - np.power(1.0 - rate, window_days))


def breach_curve(
    paths: np.ndarray,
    analogs: np.ndarray,
    profile: RecentProfile,
    threshold: float,
    model: BreachModel = DEFAULT_MODEL,
    history_weight: float | None = None,
) -> np.ndarray:
    """The cumulative breach probability by step over a window: non-decreasing, its last value the window's.

    Args:
        paths: the forecast's sample paths over the window ``(n_paths, steps)``.
        analogs: the seasonal analogs over the window ``(k, steps)``, most recent first.
        profile: the series' :class:`RecentProfile`.
        threshold: the level (> 0: the model measures it as a ratio to the recent peak).
        model: the fitted constants.
        history_weight: overrides ``model.history_weight`` (``RiskSettings.analog_weight``).
    """
    w = model.history_weight if history_weight is None else history_weight
    blend = w * history_probability(analogs, profile, threshold, model) + (1.0 - w) * paths_probability(
        paths, profile, threshold, model
    )
    return np.maximum.accumulate(blend)
