"""Event uplift: learned from past occurrences by hour of day, planner bands, unknown uplifts, wider intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from capacity.events.calendar import EventOccurrence
from capacity.events.record import LEARNED, PLANNER, UNKNOWN, parse_diagnostics
from capacity.events.uplift import apply_uplift, learn_uplift, unknown_events
from capacity.forecast.pipeline import forecast_series, regularize_for
from capacity.forecast.types import ForecastSpec
from capacity.risk.assess import UNKNOWN as RISK_UNKNOWN
from capacity.risk.assess import RiskInput, RiskWindow, assess
from capacity.schema import MEAN, TS

START = pd.Timestamp("2026-01-01", tz="UTC")
WEEKS = 20


def day(d: str) -> pd.Timestamp:
    return pd.Timestamp(d, tz="UTC")


def occurrence(name: str, d: pd.Timestamp, **kw: object) -> EventOccurrence:
    return EventOccurrence(name, d, d + pd.Timedelta(days=1), **kw)  # type: ignore[arg-type]


def series_with_events(multipliers: dict[str, float], seed: int = 0) -> pd.Series:
    """20 weeks hourly: a daily cycle around 100 with noise; each listed day multiplied by its factor."""
    rng = np.random.default_rng(seed)
    idx = pd.date_range(START, periods=24 * 7 * WEEKS, freq="h")
    values = 100 + 30 * np.sin((idx.hour.to_numpy() - 6) / 24 * 2 * np.pi) + rng.normal(0, 3, len(idx))
    for d, m in multipliers.items():
        inside = (idx >= day(d)) & (idx < day(d) + pd.Timedelta(days=1))
        values[inside] *= m
    return pd.Series(values, index=idx)


PAST_DAYS = ["2026-01-22", "2026-02-19", "2026-03-12"]  # all more than 8 weeks before the end (2026-05-20)
UPCOMING = day("2026-05-23")
HORIZON = 24 * 4
#: One cheap real model for the tests that are about the uplift, not about model choice.
FAST = ("seasonal_mean",)


def window_mask(frame: pd.DataFrame, occ: EventOccurrence) -> np.ndarray:
    ts = pd.DatetimeIndex(frame[TS])
    return np.asarray((ts >= occ.start) & (ts < occ.end))


@pytest.fixture(scope="module")
def doubled() -> tuple[pd.Series, tuple[EventOccurrence, ...], EventOccurrence]:
    y = series_with_events(dict.fromkeys(PAST_DAYS, 2.0))
    upcoming = occurrence("Sale", UPCOMING)
    calendar = (*[occurrence("Sale", day(d)) for d in PAST_DAYS], upcoming)
    return y, calendar, upcoming


def test_known_2x_uplift_is_recovered_within_15_percent(doubled):
    y, calendar, upcoming = doubled
    spec = ForecastSpec(horizon=HORIZON, n_paths=200, events=calendar)
    with_events = forecast_series(y, spec)
    plain = forecast_series(y, ForecastSpec(horizon=HORIZON, n_paths=200))
    inside = window_mask(with_events.frame, upcoming)
    assert inside.sum() == 24
    ratio = with_events.frame.loc[inside, MEAN].to_numpy() / plain.frame.loc[inside, MEAN].to_numpy()
    assert np.all(np.abs(ratio - 2.0) <= 0.15 * 2.0), ratio
    # Outside the window the uplift changes nothing (the engine's own model choice may move it a little).
    outside = with_events.frame.loc[~inside, MEAN].to_numpy() / plain.frame.loc[~inside, MEAN].to_numpy()
    assert np.all(np.abs(outside - 1.0) <= 0.05)
    # Against the truth (twice the normal daily cycle), the event-day forecast is within 15% at every hour.
    ts = pd.DatetimeIndex(with_events.frame.loc[inside, TS])
    truth = 2 * (100 + 30 * np.sin((ts.hour.to_numpy() - 6) / 24 * 2 * np.pi))
    assert np.all(np.abs(with_events.frame.loc[inside, MEAN].to_numpy() / truth - 1) <= 0.15)
    # The paths carry the uplift too, and the result says which uplift was used.
    assert with_events.paths[:, inside].mean() == pytest.approx(
        with_events.frame.loc[inside, MEAN].mean(), rel=0.05
    )
    (uplift,) = parse_diagnostics(with_events.diagnostics)
    assert uplift.source == LEARNED and uplift.occurrences == 3
    assert uplift.multiplier == pytest.approx(2.0, rel=0.15)


def test_uplift_is_shaped_by_hour_of_day():
    # The event doubles only the evening (18:00-23:00) and leaves the rest of the day alone.
    y = series_with_events({})
    for d in PAST_DAYS:
        evening = (y.index >= day(d) + pd.Timedelta(hours=18)) & (y.index < day(d) + pd.Timedelta(days=1))
        y = y.where(~evening, y * 2)
    calendar = (*[occurrence("Promo", day(d)) for d in PAST_DAYS], occurrence("Promo", UPCOMING))
    uplift = learn_uplift(y, calendar[-1], calendar)
    profile = np.asarray(uplift.profile)
    assert np.all(np.abs(profile[19:23] - 2.0) <= 0.3)
    assert np.all(np.abs(profile[2:16] - 1.0) <= 0.1)


def test_disagreeing_occurrences_widen_the_intervals():
    calm = series_with_events(dict.fromkeys(PAST_DAYS, 2.0))
    noisy = series_with_events(dict(zip(PAST_DAYS, (1.4, 2.0, 2.8), strict=True)))
    upcoming = occurrence("Sale", UPCOMING)
    calendar = (*[occurrence("Sale", day(d)) for d in PAST_DAYS], upcoming)
    spec = ForecastSpec(horizon=HORIZON, models=FAST, events=calendar)
    widths = []
    for y in (calm, noisy):
        result = forecast_series(y, spec)
        inside = window_mask(result.frame, upcoming)
        rel = (result.frame["q0.9"] - result.frame["q0.1"]) / result.frame[MEAN]
        widths.append(float(rel[inside].mean()))
        q = result.frame.loc[:, [c for c in result.frame.columns if c.startswith("q")]].to_numpy()
        assert np.all(np.diff(q, axis=1) >= -1e-9)  # quantiles stay monotone
    assert widths[1] > 1.5 * widths[0]


def test_planner_band_is_used_and_said():
    y = series_with_events({})
    upcoming = occurrence("Launch", UPCOMING, multiplier_low=2.0, multiplier_high=3.0)
    spec = ForecastSpec(horizon=HORIZON, models=FAST, events=(upcoming,))
    plain = forecast_series(y, ForecastSpec(horizon=HORIZON, models=FAST))
    result = forecast_series(y, spec)
    (uplift,) = parse_diagnostics(result.diagnostics)
    assert uplift.source == PLANNER and uplift.band == (2.0, 3.0)
    assert "planner multiplier 2x-3x" in uplift.describe()
    inside = window_mask(result.frame, upcoming)
    ratio = result.frame.loc[inside, MEAN].to_numpy() / plain.frame.loc[inside, MEAN].to_numpy()
    assert np.all((ratio > 2.0) & (ratio < 3.0))
    # The band's width shows in the intervals: q0.9/q0.1 spans much more than on a normal day.
    spread = (result.frame["q0.9"] / result.frame["q0.1"])[inside].mean()
    normal = (plain.frame["q0.9"] / plain.frame["q0.1"])[inside].mean()
    assert spread > normal * 1.2


def test_event_without_history_or_multiplier_is_unknown_not_a_normal_day():
    y = series_with_events({})
    upcoming = occurrence("Mystery", UPCOMING)
    spec = ForecastSpec(horizon=HORIZON, models=FAST, events=(upcoming,))
    result = forecast_series(y, spec)
    plain = forecast_series(y, ForecastSpec(horizon=HORIZON, models=FAST))
    (uplift,) = parse_diagnostics(result.diagnostics)
    assert uplift.source == UNKNOWN and uplift.event == "Mystery"
    assert any("unknown uplift" in d for d in result.diagnostics)
    # Nothing is applied (there is nothing to apply) ...
    np.testing.assert_allclose(result.frame[MEAN].to_numpy(), plain.frame[MEAN].to_numpy())
    # ... and the risk ranking reports it as unknown rather than as a normal day.
    unknown = unknown_events(parse_diagnostics(result.diagnostics), None, upcoming.end)
    assert unknown == ("Mystery",)
    risk = assess(
        RiskInput("svc", "cpu", 99.0, result.frame, result.paths, unknown_uplift=unknown),
        RiskWindow(end=upcoming.end),
    )
    assert risk.status == RISK_UNKNOWN and "unknown uplift for Mystery" in risk.note


def test_learning_does_not_mutate_inputs(doubled):
    y, calendar, _ = doubled
    spec = ForecastSpec(horizon=HORIZON, models=FAST, events=calendar)
    plain = forecast_series(y, ForecastSpec(horizon=HORIZON, models=FAST))
    before_frame, before_paths = plain.frame.copy(), plain.paths.copy()
    y_before = y.copy()
    apply_uplift(plain.frame, plain.paths, regularize_for(y, spec).values, calendar, spec.quantiles)
    pd.testing.assert_frame_equal(plain.frame, before_frame)
    np.testing.assert_array_equal(plain.paths, before_paths)
    pd.testing.assert_series_equal(y, y_before)


def test_an_uplift_is_shrunk_more_when_the_calendars_events_disagree_from_year_to_year():
    others = {
        "A": ("2026-01-22", "2026-03-19"),
        "B": ("2026-02-05", "2026-04-02"),
        "C": ("2026-02-19", "2026-04-16"),
    }
    steady = {"A": (1.3, 1.3), "B": (0.8, 0.8), "C": (1.2, 1.2)}
    erratic = {"A": (1.0, 1.7), "B": (0.6, 1.0), "C": (0.9, 1.5)}
    upcoming = occurrence("Dip", UPCOMING)
    calendar = (
        *[occurrence(name, day(d)) for name, days in others.items() for d in days],
        occurrence("Dip", day("2026-03-05")),
        upcoming,
    )
    kept = []
    for factors in (steady, erratic):
        multipliers = {
            d: f for name, days in others.items() for d, f in zip(days, factors[name], strict=True)
        }
        y = series_with_events({**multipliers, "2026-03-05": 0.8})
        uplift = learn_uplift(y, upcoming, calendar)
        assert uplift.source == LEARNED and uplift.occurrences == 1
        kept.append(float(np.mean(np.log(uplift.profile))))
    # The same 0.8x dip: nearly all of it kept when holidays repeat themselves, less when they do not.
    assert kept[0] < np.log(0.85)
    assert kept[0] < kept[1] <= 0.0
