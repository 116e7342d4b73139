"""The breach probability model: its invariants (Hypothesis), the recent profile by hand, and its use in assess."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capacity.errors import InvalidConfig
from capacity.risk.assess import RiskInput, RiskSettings, RiskWindow, assess
from capacity.risk.probability import (
    DEFAULT_MODEL,
    MIN_ANALOGS,
    BreachModel,
    RecentProfile,
    breach_curve,
    history_probability,
    paths_probability,
    recent_profile,
    young_probability,
)
from capacity.schema import MEAN, TS

START = pd.Timestamp("2026-03-02", tz="UTC")


def trajectories(seed: int, rows: int, steps: int = 48) -> np.ndarray:
    """Positive random walks around 50 (paths or analogs)."""
    rng = np.random.default_rng(seed)
    return np.abs(50 + rng.normal(0, 3, (rows, steps)).cumsum(axis=1))


profiles = st.builds(
    RecentProfile,
    peak=st.floats(20, 120),
    spikiness=st.floats(0, 3),
    spread=st.floats(math.log(0.01), math.log(2.0)),
)


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    profile=profiles,
    t1=st.floats(1, 150),
    t2=st.floats(1, 150),
    weight=st.floats(0, 1),
)
def test_the_probability_never_falls_when_the_threshold_falls(seed, profile, t1, t2, weight):
    paths, analogs = trajectories(seed, 40), trajectories(seed + 1, 12)
    lo, hi = sorted((t1, t2))
    low = breach_curve(paths, analogs, profile, lo, DEFAULT_MODEL, weight)
    high = breach_curve(paths, analogs, profile, hi, DEFAULT_MODEL, weight)
    assert np.all(low >= high - 1e-12)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 10_000), profile=profiles, threshold=st.floats(1, 150), cut=st.integers(1, 48))
def test_the_probability_never_falls_when_the_window_grows(seed, profile, threshold, cut):
    paths, analogs = trajectories(seed, 40), trajectories(seed + 1, 12)
    curve = breach_curve(paths, analogs, profile, threshold)
    assert np.all(np.diff(curve) >= 0) and np.all((curve >= 0) & (curve <= 1))
    # A window that stops earlier is the same computation on fewer steps: the curve's prefix.
    short = breach_curve(paths[:, :cut], analogs[:, :cut], profile, threshold)
    assert np.allclose(short, curve[:cut])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), t1=st.floats(1, 150), t2=st.floats(1, 150), w1=st.integers(1, 48),
       w2=st.integers(1, 48))  # fmt: skip
def test_assess_keeps_both_invariants_with_the_history_model(seed, t1, t2, w1, w2):
    paths, analogs = trajectories(seed, 40), trajectories(seed + 1, 12)
    ts = pd.date_range(START, periods=paths.shape[1], freq="h")
    frame = pd.DataFrame({TS: ts, MEAN: paths.mean(axis=0)})
    profile = RecentProfile(peak=55.0, spikiness=0.2, spread=math.log(0.1))

    def p(threshold: float, steps: int) -> float:
        item = RiskInput("svc", "cpu", threshold, frame, paths, analogs=analogs, recent=profile)
        risk = assess(item, RiskWindow(end=ts[steps - 1] + pd.Timedelta(hours=1)))
        assert risk.breach_probability is not None
        return risk.breach_probability

    lo, hi = sorted((t1, t2))
    short, long = sorted((w1, w2))
    assert p(lo, long) >= p(hi, long)
    assert p(lo, long) >= p(lo, short)


def test_the_history_part_is_one_half_where_the_threshold_meets_its_location():
    analogs = np.full((4, 24), 80.0)  # every analog peaks at 0.8 x the recent peak
    profile = RecentProfile(peak=100.0, spikiness=0.5, spread=math.log(0.1))
    a, b1, b2 = DEFAULT_MODEL.location
    location = a + (b1 + b2) * math.log(0.8)
    p = history_probability(analogs, profile, 100.0 * math.exp(location), DEFAULT_MODEL)
    assert p[-1] == pytest.approx(0.5)
    # A spikier history widens the spread of what a week reaches: a threshold above the location gets likelier.
    calm = history_probability(analogs, profile, 100.0, DEFAULT_MODEL)[-1]
    spiky = history_probability(analogs, RecentProfile(100.0, 2.5, math.log(0.1)), 100.0, DEFAULT_MODEL)[-1]
    assert calm < spiky < 0.5


def test_recent_profile_by_hand():
    # 5 weeks hourly: every day peaks at 10, except one day in the last week that peaks at 20 and one day three
    # weeks back that peaks at 40 (older than 28 days from the end: outside the recent peak, inside the spread).
    ts = pd.date_range("2026-01-05", periods=24 * 35, freq="h", tz="UTC")
    y = pd.Series(5.0 + 5.0 * (np.arange(len(ts)) % 24 == 12), index=ts)
    y.iloc[-24 * 3 + 12] = 20.0
    y.iloc[24 * 2 + 12] = 40.0  # day 3 of 35: 33 days before the end
    profile = recent_profile(y)
    assert profile is not None
    assert profile.peak == 20.0
    assert profile.spikiness == pytest.approx(math.log(20.0 / 10.0))  # the median day peaks at 10
    # Weekly maxima, most recent first: 20, 10, 10, 10, 40 -> log ratios to 20, spread around their line.
    logs = np.log(np.array([20.0, 10.0, 10.0, 10.0, 40.0]) / 20.0)
    x = np.arange(5.0)
    slope, intercept = np.polyfit(x, logs, 1)
    expected = math.sqrt(np.sum((logs - intercept - slope * x) ** 2) / 3)
    assert profile.spread == pytest.approx(math.log(expected))
    # The 28 whole days before the end, oldest first: the day that peaked at 20 is three from the end.
    assert profile.daily_max == (10.0,) * 25 + (20.0, 10.0, 10.0)


def test_recent_profile_needs_a_positive_peak():
    ts = pd.date_range("2026-01-05", periods=24 * 10, freq="h", tz="UTC")
    assert recent_profile(pd.Series(0.0, index=ts)) is None
    assert recent_profile(pd.Series(dtype="float64", index=pd.DatetimeIndex([], tz="UTC"))) is None


def test_a_model_that_would_break_monotonicity_is_refused():
    with pytest.raises(InvalidConfig, match="monotone"):
        BreachModel((0.0, -0.1, 0.4), (0.0, 0.0, 0.0), (0.0, 0.3, -5.0), 0.8)
    with pytest.raises(InvalidConfig, match="monotone"):
        BreachModel((0.0, 0.4, 0.4), (0.0, 0.0, 0.0), (0.0, 0.3, 1.0), 0.8)
    with pytest.raises(InvalidConfig, match="history_weight"):
        BreachModel((0.0, 0.4, 0.4), (0.0, 0.0, 0.0), (0.0, 0.3, -5.0), 1.5)


def test_without_history_assess_falls_back_to_the_share_of_crossing_paths():
    paths = trajectories(3, 50)
    ts = pd.date_range(START, periods=paths.shape[1], freq="h")
    frame = pd.DataFrame({TS: ts, MEAN: paths.mean(axis=0)})
    threshold = float(np.quantile(paths.max(axis=1), 0.3))
    share = float((paths.max(axis=1) >= threshold).mean())
    plain = assess(RiskInput("svc", "cpu", threshold, frame, paths), RiskWindow())
    assert plain.breach_probability == pytest.approx(share)
    # Analogs without a recent profile (or the reverse) are not enough for the history model either.
    only_analogs = RiskInput("svc", "cpu", threshold, frame, paths, analogs=trajectories(4, 12))
    assert assess(only_analogs, RiskWindow()).breach_probability == pytest.approx(share)
    # A young series (fewer past weeks than the history model was fitted with) gets the paths part alone: the
    # crossing share recalibrated against its recent peak, which the raw share overstated on short histories.
    profile = RecentProfile(peak=55.0, spikiness=0.2, spread=math.log(0.1))
    young = RiskInput(
        "svc", "cpu", threshold, frame, paths, analogs=trajectories(4, MIN_ANALOGS - 1), recent=profile
    )
    recalibrated = float(np.max(paths_probability(paths, profile, threshold)))
    assert assess(young, RiskWindow()).breach_probability == pytest.approx(recalibrated)
    # With its daily maxima, the young series' own record weighs in (hourly steps: 1/24 of a day each).
    recorded = RecentProfile(55.0, 0.2, math.log(0.1), daily_max=(50.0, 56.0, 54.0))
    shrunk = float(np.max(young_probability(paths, recorded, threshold, 1 / 24)))
    assert assess(replace(young, recent=recorded), RiskWindow()).breach_probability == pytest.approx(shrunk)
    grown = RiskInput(
        "svc", "cpu", threshold, frame, paths, analogs=trajectories(4, MIN_ANALOGS), recent=profile
    )
    assert assess(grown, RiskWindow()).breach_probability != pytest.approx(share)


def test_assess_uses_the_history_model_and_its_weight_setting():
    paths, analogs = trajectories(5, 60), trajectories(6, 12)
    ts = pd.date_range(START, periods=paths.shape[1], freq="h")
    frame = pd.DataFrame({TS: ts, MEAN: paths.mean(axis=0)})
    profile = recent_profile(pd.Series(analogs[0], index=ts - pd.Timedelta(days=7)))
    assert profile is not None
    threshold = profile.peak
    item = RiskInput("svc", "cpu", threshold, frame, paths, analogs=analogs, recent=profile)
    for weight in (0.0, 0.5, 1.0):
        got = assess(item, RiskWindow(), RiskSettings(analog_weight=weight)).breach_probability
        assert got == pytest.approx(
            breach_curve(paths, analogs, profile, threshold, DEFAULT_MODEL, weight)[-1]
        )


def test_a_young_series_own_days_move_the_paths_part_by_hand():
    paths = trajectories(7, 200, steps=168)
    threshold = 52.0
    part = paths_probability(paths, RecentProfile(50.0, 0.2, math.log(0.1)), threshold)
    every = RecentProfile(50.0, 0.2, math.log(0.1), daily_max=(53.0, 55.0, 52.0))
    never = replace(every, daily_max=(40.0, 45.0, 50.0))
    got = young_probability(paths, every, threshold, 1 / 24, prior_days=30.0)
    # At the window's end (7 days): the model's daily rate, three days that all reached it, shrunk by 30 days.
    model_rate = 1 - (1 - part[-1]) ** (1 / 7)
    assert got[-1] == pytest.approx(1 - (1 - (3 + 30 * model_rate) / 33) ** 7)
    low = young_probability(paths, never, threshold, 1 / 24)
    assert low[-1] < part[-1] < got[-1]
    # No days known (or no step): the paths part itself; a higher threshold never reads higher.
    assert np.allclose(young_probability(paths, replace(every, daily_max=()), threshold, 1 / 24), part)
    assert np.all(young_probability(paths, every, 60.0, 1 / 24) <= got + 1e-12)
