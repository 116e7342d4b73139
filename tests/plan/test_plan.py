"""Capacity plans: the weeks a plan covers, the week-by-week arithmetic (headroom, instances, crossings), the
growth it assumes, and its score against a quarter with known errors."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from capacity.errors import InvalidInput, NotEnoughHistory
from capacity.forecast.peaks import WeeklyPeaks
from capacity.plan.growth import FORECAST_TREND, YEAR_OVER_YEAR, Growth, assumed_growth
from capacity.plan.plan import PlanTarget, build_plan
from capacity.plan.score import score_plan
from capacity.plan.weeks import parse_quarter, parse_weeks, plan_window

START = pd.Timestamp("2027-01-01", tz="UTC")
# five sample paths (rows) of three weekly peaks; the threshold 80 is reached by rows 1 and 2 in week 1, by row 3
# in week 2, by rows 1 and 4 in week 3
PATHS = np.array(
    [
        [70.0, 75.0, 79.0],
        [85.0, 70.0, 90.0],
        [81.0, 60.0, 50.0],
        [60.0, 80.0, 70.0],
        [50.0, 55.0, 95.0],
    ]
)


def peaks(paths: np.ndarray = PATHS) -> WeeklyPeaks:
    return WeeklyPeaks(
        starts=pd.DatetimeIndex([START + pd.Timedelta(days=7 * j) for j in range(paths.shape[1])]),
        days=(7,) * (paths.shape[1] - 1) + (6,),
        quantiles={0.5: np.quantile(paths, 0.5, axis=0), 0.9: np.quantile(paths, 0.9, axis=0)},
        paths=paths,
        centre=paths.mean(axis=0),
    )


def cpu_sizer(instances: int, threshold: float, margin: float):  # type: ignore[no-untyped-def]
    return lambda peak: max(1, math.ceil(instances * peak * (1 + margin) / threshold - 1e-9))


def test_each_week_holds_its_quantiles_headroom_and_instances() -> None:
    target = PlanTarget("checkout", "cpu", threshold=80.0, instances=10)
    plan = build_plan(
        target,
        peaks(),
        Growth(5.0, YEAR_OVER_YEAR),
        model="m",
        history_end=START,
        size=cpu_sizer(10, 80.0, 0.1),
    )
    assert [w.days for w in plan.weeks] == [7, 7, 6]
    for j, week in enumerate(plan.weeks):
        assert week.p50 <= week.p90
        assert week.p50 == pytest.approx(float(np.quantile(PATHS[:, j], 0.5)))
        assert week.headroom_pct == pytest.approx((80.0 - week.p90) / 80.0 * 100.0)
        assert week.instances_needed == math.ceil(10 * week.p90 * 1.1 / 80.0 - 1e-9)
    # by hand: week 1 paths >= 80: 2 of 5; week 2: 1 of 5; week 3: 2 of 5
    assert [w.crossing for w in plan.weeks] == pytest.approx([0.4, 0.2, 0.4])
    # reached by the end of the week: 2, then 3 (path 4), then 4 (path 5) of 5
    assert [w.cumulative for w in plan.weeks] == pytest.approx([0.4, 0.6, 0.8])
    assert plan.first_crossing == plan.weeks[1].start and plan.first_crossing_probability == pytest.approx(
        0.6
    )
    assert plan.peak_p50 == max(w.p50 for w in plan.weeks)


def test_crossing_probabilities_never_fall_and_the_first_crossing_agrees_with_them() -> None:
    rng = np.random.default_rng(4)
    paths = rng.normal(70, 10, (400, 13)) + np.linspace(0, 15, 13)
    for threshold in (60.0, 80.0, 95.0, 200.0):
        plan = build_plan(
            PlanTarget("s", "cpu", threshold),
            peaks(paths),
            Growth(0.0, FORECAST_TREND),
            model="m",
            history_end=START,
        )
        cumulative = [w.cumulative for w in plan.weeks]
        assert all(b >= a for a, b in itertools.pairwise(cumulative))  # type: ignore[operator]
        assert all(w.cumulative >= w.crossing for w in plan.weeks)  # type: ignore[operator]
        likely = [w for w in plan.weeks if w.cumulative >= 0.5]  # type: ignore[operator]
        if likely:
            assert plan.first_crossing == likely[0].start
            assert plan.first_crossing_probability == likely[0].cumulative
        else:
            assert plan.first_crossing is None and plan.first_crossing_probability is None


def test_without_a_threshold_or_a_sizer_the_plan_says_unknown() -> None:
    plan = build_plan(
        PlanTarget("s", "rps"), peaks(), Growth(0.0, FORECAST_TREND), model="m", history_end=START
    )
    assert all(
        w.headroom_pct is None and w.crossing is None and w.instances_needed is None for w in plan.weeks
    )
    assert plan.first_crossing is None


def test_bad_plan_settings_name_the_field() -> None:
    growth = Growth(0.0, FORECAST_TREND)
    with pytest.raises(InvalidInput) as info:
        build_plan(PlanTarget("s", "cpu", -1.0), peaks(), growth, model="m", history_end=START)
    assert info.value.field == "threshold"
    with pytest.raises(InvalidInput) as info:
        build_plan(PlanTarget("s", "cpu"), peaks(), growth, model="m", history_end=START, margin=-0.5)
    assert info.value.field == "margin"


def test_weeks_and_quarters_parse_and_bad_ones_name_the_field() -> None:
    assert parse_weeks("13w") == 13 and parse_weeks("4") == 4
    label, first, end = parse_quarter("2027q1")
    assert (label, first, end) == ("2027Q1", START, pd.Timestamp("2027-04-01", tz="UTC"))
    for bad, field in (("13d", "horizon"), ("0w", "horizon"), ("99w", "horizon")):
        with pytest.raises(InvalidInput) as info:
            parse_weeks(bad)
        assert info.value.field == field
    for bad in ("2027Q5", "Q1", "27Q1", "1900Q1"):
        with pytest.raises(InvalidInput) as info:
            parse_quarter(bad)
        assert info.value.field == "quarter"


def test_a_quarter_plan_covers_the_quarter_and_must_lie_ahead() -> None:
    window = plan_window(pd.Timestamp("2026-11-15 13:00", tz="UTC"), quarter="2027Q1")
    assert window.first_day == START and window.days == 90 and window.weeks == 13
    assert window.lead_days == (START - pd.Timestamp("2026-11-16", tz="UTC")).days
    assert window.forecast_days == window.lead_days + 90
    ahead = plan_window(pd.Timestamp("2026-11-15 13:00", tz="UTC"), weeks=13)
    assert (
        ahead.first_day == pd.Timestamp("2026-11-16", tz="UTC") and ahead.days == 91 and ahead.lead_days == 0
    )
    # the quarter has begun, or it lies more than a year ahead: this history rules it out (NotEnoughHistory, a 409)
    for history_end in ("2027-02-01", "2025-06-01"):
        with pytest.raises(NotEnoughHistory) as info:
            plan_window(pd.Timestamp(history_end, tz="UTC"), quarter="2027Q1")
        assert info.value.field == "quarter"


def test_growth_is_year_over_year_with_a_year_of_history_else_the_forecast_trend() -> None:
    history = np.full(400, 100.0)
    forecast = np.full(91, 110.0)
    growth = assumed_growth(history, forecast, 0, 91)
    assert growth.basis == YEAR_OVER_YEAR and growth.pct_per_year == pytest.approx(10.0)
    rising = 100.0 + np.arange(91) * (10.0 / 365.25)  # +10 a year on a level of 100
    growth = assumed_growth(np.full(100, 100.0), rising, 0, 91)
    assert growth.basis == FORECAST_TREND and growth.pct_per_year == pytest.approx(10.0, rel=1e-6)


def test_a_quarter_is_scored_week_by_week_against_its_actual_peaks() -> None:
    planned = [(START + pd.Timedelta(days=7 * j), 7, 100.0) for j in range(4)]
    days = pd.date_range(START, periods=28, freq="1D", tz="UTC")
    weekly_max = [100.0, 95.0, 120.0, 110.0]
    values = np.concatenate([np.r_[np.full(6, m - 20.0), m] for m in weekly_max])
    score = score_plan(planned, pd.Series(values, index=days))
    assert score is not None and score.complete and len(score.weeks) == 4
    expected = np.array([0.0, 5 / 95, 20 / 120, 10 / 110])
    assert [w.ape for w in score.weeks] == pytest.approx(expected)
    assert [w.actual for w in score.weeks] == weekly_max
    assert score.mape == pytest.approx(expected.mean() * 100)
    assert score.within_10 == pytest.approx(0.75) and score.within_20 == pytest.approx(1.0)
    # a week with a missing day is not scored; no week at all gives no score
    gappy = pd.Series(values, index=days).drop(days[10])
    partial = score_plan(planned, gappy)
    assert partial is not None and not partial.complete
    assert [w.start for w in partial.weeks] == [planned[0][0], planned[2][0], planned[3][0]]
    assert score_plan(planned, pd.Series(dtype="float64")) is None
