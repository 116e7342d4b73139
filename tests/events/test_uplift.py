"""Event uplift: learned from past occurrences by hour of day, shrunk towards the calendar's prior, planner bands,
assumed and unknown uplifts, wider intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from capacity.events.baseline import baseline_logs, in_windows, level_noise
from capacity.events.calendar import EventOccurrence
from capacity.events.prior import DEFAULT_WITHIN_SD, WITHIN_PER_NOISE
from capacity.events.record import LEARNED, PLANNER, PRIOR, UNKNOWN, parse_diagnostics
from capacity.events.uplift import apply_uplift, learn_uplift, unknown_events
from capacity.forecast.pipeline import forecast_series, regularize_for
from capacity.forecast.types import ForecastSpec
from capacity.risk.assess import BREACH_LIKELY, RiskInput, RiskWindow, assess
from capacity.risk.assess import UNKNOWN as RISK_UNKNOWN
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
    # (a threshold the normal-day forecast is far from: below the breach cut-off an unknown uplift stays unknown)
    risk = assess(
        RiskInput("svc", "cpu", 1000.0, result.frame, result.paths, unknown_uplift=unknown),
        RiskWindow(end=upcoming.end),
    )
    assert risk.status == RISK_UNKNOWN and "unknown uplift for Mystery" in risk.note


@pytest.fixture(scope="module")
def one_christmas() -> tuple[pd.Series, tuple[EventOccurrence, ...], EventOccurrence]:
    """A very regular series (noise 0.1 on a level of 100: a normal day's noise alone would give a log sd of
    ~0.001) with one past Christmas at x4, and the upcoming one."""
    rng = np.random.default_rng(3)
    idx = pd.date_range(START, periods=24 * 7 * WEEKS, freq="h")
    values = 100 + 30 * np.sin((idx.hour.to_numpy() - 6) / 24 * 2 * np.pi) + rng.normal(0, 0.1, len(idx))
    past = day("2026-03-12")
    values[(idx >= past) & (idx < past + pd.Timedelta(days=1))] *= 4.0
    upcoming = occurrence("Christmas", UPCOMING)
    return pd.Series(values, index=idx), (occurrence("Christmas", past), upcoming), upcoming


def test_a_single_past_occurrence_never_yields_near_zero_spread(one_christmas):
    y, calendar, upcoming = one_christmas
    uplift = learn_uplift(y, upcoming, calendar)
    assert uplift.source == LEARNED and uplift.occurrences == 1
    assert min(uplift.log_sd) >= DEFAULT_WITHIN_SD
    assert 3.0 < np.exp(np.mean(np.log(uplift.profile))) < 4.5  # a lone large uplift is kept almost whole
    result = forecast_series(y, ForecastSpec(horizon=HORIZON, models=FAST, events=calendar))
    inside = window_mask(result.frame, upcoming)
    # The uplift's uncertainty shows: an 80 % band at least x1.3 wide around the event's hours.
    assert float((result.frame["q0.9"] / result.frame["q0.1"])[inside].min()) > 1.3


def test_a_single_past_occurrence_does_not_give_a_near_certain_breach(one_christmas):
    # The "Christmas x4.31 from one past day, log sd 0.01": every path's event peak then sat within a few
    # percent of the learned level, and a threshold a little under it was breached with probability 100 %.
    y, calendar, upcoming = one_christmas
    result = forecast_series(y, ForecastSpec(horizon=HORIZON, n_paths=400, models=FAST, events=calendar))
    inside = window_mask(result.frame, upcoming)
    threshold = 0.9 * float(result.frame.loc[inside, MEAN].max())
    window = RiskWindow(start=upcoming.start, end=upcoming.end)
    risk = assess(RiskInput("svc", "rps", threshold, result.frame, result.paths), window)
    # Likely, as one x4 day says, but far from certain: the next Christmas may well be x3.6 rather than x4.
    assert 0.3 < risk.breach_probability < 0.95
    crossed = (result.paths[:, inside] >= threshold).any(axis=1).mean()
    assert 0.3 < crossed < 0.95


def test_small_events_seen_once_get_a_small_spread_not_a_holidays():
    # The demo's memory series: Black Friday and Cyber Monday move memory by 2-3 %, each seen once. The old default
    # spread (log sd 0.15, how much a holiday moves electricity load) put the event's 95 % band at x0.75..x1.35 and
    # gave a threshold 12 % above the forecast peak a 1-in-5 breach chance.
    rng = np.random.default_rng(5)
    idx = pd.date_range(START, periods=24 * 7 * WEEKS, freq="h")
    values = 70 + 5 * np.sin((idx.hour.to_numpy() - 6) / 24 * 2 * np.pi) + rng.normal(0, 0.5, len(idx))
    past = {"Black Friday": (day("2026-03-12"), 1.03), "Cyber Monday": (day("2026-03-16"), 1.02)}
    for d, factor in past.values():
        values[(idx >= d) & (idx < d + pd.Timedelta(days=1))] *= factor
    y = pd.Series(values, index=idx)
    upcoming = occurrence("Black Friday", UPCOMING)
    calendar = (*[occurrence(name, d) for name, (d, _) in past.items()], upcoming)
    uplift = learn_uplift(y, upcoming, calendar)
    assert uplift.source == LEARNED and uplift.occurrences == 1
    logs = baseline_logs(values, in_windows(pd.DatetimeIndex(idx), calendar), 168, 3, 0.7)
    noise = level_noise(pd.DatetimeIndex(idx), logs, in_windows(pd.DatetimeIndex(idx), calendar))
    assert WITHIN_PER_NOISE * noise <= min(uplift.log_sd) and max(uplift.log_sd) < DEFAULT_WITHIN_SD / 3
    result = forecast_series(y, ForecastSpec(horizon=HORIZON, n_paths=400, models=FAST, events=calendar))
    inside = window_mask(result.frame, upcoming)
    threshold = 1.12 * float(result.frame.loc[inside, MEAN].max())
    risk = assess(
        RiskInput("svc", "memory", threshold, result.frame, result.paths),
        RiskWindow(start=upcoming.start, end=upcoming.end),
    )
    assert risk.breach_probability < 0.05


def test_an_event_with_no_past_occurrence_gets_the_calendars_pooled_prior():
    learned = {"A": ("2026-01-22", "2026-03-19"), "B": ("2026-02-05", "2026-04-02")}
    factors = {"A": (1.3, 1.4), "B": (1.1, 1.2)}
    multipliers = {d: f for name, days in learned.items() for d, f in zip(days, factors[name], strict=True)}
    y = series_with_events(multipliers)
    upcoming = occurrence("Launch", UPCOMING)
    calendar = (*[occurrence(name, day(d)) for name, days in learned.items() for d in days], upcoming)
    uplift = learn_uplift(y, upcoming, calendar)
    assert uplift.source == PRIOR and uplift.assumed and uplift.prior_events == 2
    level = float(np.exp(np.mean(np.log(uplift.profile))))
    assert 1.1 < level < 1.4  # between the calendar's events
    assert min(uplift.log_sd) >= DEFAULT_WITHIN_SD
    assert "uplift assumed" in uplift.describe() and "capacity events add" in uplift.describe()
    result = forecast_series(y, ForecastSpec(horizon=HORIZON, models=FAST, events=calendar))
    (used,) = [u for u in parse_diagnostics(result.diagnostics) if u.event == "Launch"]
    assert used.source == PRIOR
    assert unknown_events(parse_diagnostics(result.diagnostics), None, None) == ()
    # Breached on most paths: the assumed uplift is said in the note and the status stays `breach likely` (the risk
    # table passes each uplift's description as a note, as capacity.services.fleet_risk does).
    threshold = 0.9 * float(result.frame.loc[window_mask(result.frame, upcoming), MEAN].max())
    risk = assess(
        RiskInput("svc", "rps", threshold, result.frame, result.paths, notes=(used.describe(),)),
        RiskWindow(start=upcoming.start, end=upcoming.end),
    )
    assert risk.status == BREACH_LIKELY and "Launch" in risk.note and "uplift assumed" in risk.note


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
        assert uplift.raw is not None and uplift.prior is not None
        level = float(np.mean(np.log(uplift.profile)))
        # The share of the dip (measured from the calendar's pooled prior) that the shrinkage keeps.
        kept.append((level - np.log(uplift.prior)) / (np.log(uplift.raw) - np.log(uplift.prior)))
        if factors is steady:
            assert level < np.log(0.85)
    # The same 0.8x dip: nearly all of it kept when holidays repeat themselves, less when they do not.
    assert kept[0] > 0.8
    assert 0.0 <= kept[1] < kept[0]


def test_a_planner_band_at_the_smallest_multiplier_is_a_finite_uplift_not_a_crash():
    """The API accepts any multiplier in (0, 1000]: low * high underflowed to 0, and log(0) was a 500 on plan.png."""
    y = series_with_events({})
    upcoming = occurrence("Launch", UPCOMING, multiplier_low=5e-324, multiplier_high=5e-324)
    uplift = learn_uplift(y, upcoming, (upcoming,))
    assert uplift.source == PLANNER
    assert all(np.isfinite(uplift.log_sd)) and all(np.isfinite(np.log(uplift.profile)))
