"""The long-range engine: a yearly cycle recovered from three years, intervals that widen with the horizon, the
sub-daily path, weekly peaks, and clear errors for what it cannot do."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from capacity.errors import InvalidInput, ModelFailed
from capacity.events.calendar import make_occurrence
from capacity.forecast.longrange import LONG_MIN_DAYS
from capacity.forecast.models.base import FitInput, run_model
from capacity.forecast.models.yearly import YEARLY_MODELS
from capacity.forecast.peaks import weekly_peaks
from capacity.forecast.pipeline import forecast_long_series, forecast_series
from capacity.forecast.spread import spread_factor
from capacity.forecast.types import ForecastSpec
from capacity.schema import quantile_columns
from tests.support.yearly import YEARLY_AMPLITUDE, daily_series, daily_truth, hourly_series

QUANTILES = (0.025, 0.1, 0.5, 0.9, 0.975)


def check_frame(result, spec: ForecastSpec) -> None:  # type: ignore[no-untyped-def]
    frame = result.frame
    q = frame[quantile_columns(sorted(spec.quantiles))].to_numpy()
    assert len(frame) == spec.horizon and np.isfinite(q).all()
    assert (np.diff(q, axis=1) >= -1e-9).all(), "quantiles must be monotone"
    assert result.paths.shape == (spec.n_paths, spec.horizon) and np.isfinite(result.paths).all()
    assert frame["ts"].iloc[0] > result.history_end
    assert any("long-range engine" in note for note in result.diagnostics)


def test_the_yearly_cycle_of_a_three_year_series_is_recovered() -> None:
    y = daily_series(3.0)
    spec = ForecastSpec(horizon=90, freq="1D", quantiles=QUANTILES, n_paths=200)
    result = forecast_series(y, spec)
    check_frame(result, spec)
    assert any(m.startswith(("climatology", "harmonic_year")) for m in result.members), result.members
    days = pd.DatetimeIndex(result.frame["ts"])
    truth = daily_truth(days)
    mean = result.frame["mean"].to_numpy()
    assert np.mean(np.abs(mean - truth)) < 0.2 * YEARLY_AMPLITUDE
    # the forecast rises with the season like the truth does, which the last month's level cannot
    flat = float(y.iloc[-28:].mean())
    assert np.mean(np.abs(mean - truth)) < 0.5 * np.mean(np.abs(flat - truth))
    assert np.corrcoef(mean, truth)[0, 1] > 0.8


def test_intervals_widen_with_the_horizon_without_a_yearly_cycle() -> None:
    y = daily_series(1.2, seed=3)
    spec = ForecastSpec(horizon=60, freq="1D", quantiles=QUANTILES, n_paths=100)
    result = forecast_series(y, spec)
    check_frame(result, spec)
    for lo, hi in (("q0.1", "q0.9"), ("q0.025", "q0.975")):
        width = (result.frame[hi] - result.frame[lo]).to_numpy()
        assert (np.diff(width) >= -1e-9).all(), f"{lo}..{hi} narrows somewhere"
        assert width[-7:].mean() > width[:7].mean()


def test_with_a_yearly_cycle_intervals_widen_once_the_season_is_taken_out() -> None:
    # 93 days: a forecast made to its own reach (a 120-day one is cut from a 186-day forecast, whose errors on this
    # series do not grow past the first weeks, and whose width is then flat, never narrowing)
    y = daily_series(3.0, seed=5)
    spec = ForecastSpec(horizon=93, freq="1D", quantiles=QUANTILES, n_paths=100)
    result = forecast_series(y, spec)
    days = pd.DatetimeIndex(result.frame["ts"]).normalize()
    factor = spread_factor(y.to_numpy(), pd.DatetimeIndex(y.index).normalize(), days)
    width = (result.frame["q0.9"] - result.frame["q0.1"]).to_numpy() / factor
    assert (np.diff(width) >= -1e-6 * width.max()).all()
    assert width[-14:].mean() > width[:7].mean()


def test_horizons_under_four_weeks_keep_the_short_engine() -> None:
    y = hourly_series(0.2)
    short = forecast_series(y, ForecastSpec(horizon=24 * 7, freq="1h", n_paths=50))
    assert not any("long-range engine" in note for note in short.diagnostics)
    long = forecast_series(y, ForecastSpec(horizon=24 * LONG_MIN_DAYS, freq="1h", n_paths=50))
    assert any("long-range engine" in note for note in long.diagnostics)
    asked = forecast_series(
        y, ForecastSpec(horizon=24 * 30, freq="1h", n_paths=50, models=("seasonal_naive_weekly",))
    )
    assert asked.model == "seasonal_naive_weekly"  # models asked for by name are honoured at any horizon


def test_an_hourly_forecast_a_month_ahead_keeps_the_daily_shape() -> None:
    y = hourly_series(2.5).iloc[:-5]  # a partial last day
    spec = ForecastSpec(horizon=24 * 30, freq="1h", quantiles=QUANTILES, n_paths=100)
    result = forecast_series(y, spec)
    check_frame(result, spec)
    assert result.frame["ts"].iloc[0] == y.index[-1] + pd.Timedelta(hours=1)
    frame = result.frame.set_index("ts")
    hours = pd.DatetimeIndex(frame.index).hour
    assert frame["mean"][hours == 14].mean() > frame["mean"][hours == 2].mean() + 5


def test_a_short_daily_history_still_gets_a_month_ahead() -> None:
    y = daily_series(0.11, seed=2)  # 40 days
    spec = ForecastSpec(horizon=30, freq="1D", quantiles=QUANTILES, n_paths=50)
    result = forecast_series(y, spec)
    check_frame(result, spec)
    assert result.model


def test_weekly_peaks_are_ordered_and_cover_the_weeks_asked_for() -> None:
    y = daily_series(3.0, seed=7)
    spec = ForecastSpec(horizon=95, freq="1D", quantiles=(0.1, 0.5, 0.9), n_paths=100)
    long = forecast_long_series(y, spec)
    assert long.inner is not None and long.yearly
    peaks = weekly_peaks(
        long.daily.to_numpy(), long.result.frame["ts"].iloc[0], long.daily_mean, long.inner,
        first=4, weeks=13, yearly=True, n_paths=300,
    )  # fmt: skip
    assert len(peaks.starts) == 13 and peaks.starts[0] == long.result.frame["ts"].iloc[4]
    assert all(d == 7 for d in peaks.days[:-1]) and 1 <= peaks.days[-1] <= 7
    assert (peaks.at(0.5) <= peaks.at(0.9) + 1e-9).all()
    assert peaks.paths.shape == (300, 13)
    # a week's peak is at least the week's typical day: the p50 peak is above the mean daily forecast
    assert (peaks.at(0.5)[:12] > long.daily_mean[4 : 4 + 84].reshape(12, 7).mean(axis=1)).all()


def test_a_weeks_peaks_do_not_depend_on_which_weeks_were_asked_for() -> None:
    y = daily_series(3.0, seed=8)
    long = forecast_long_series(y, ForecastSpec(horizon=120, freq="1D", quantiles=(0.5, 0.9), n_paths=50))
    assert long.inner is not None
    args = (long.daily.to_numpy(), long.result.frame["ts"].iloc[0], long.daily_mean, long.inner)
    every = weekly_peaks(*args, yearly=True, n_paths=200)
    # weeks 7 to 12 (a later quarter's), cut at day 88: the same calibration, each week at its own lead
    later = weekly_peaks(*args, first=49, weeks=6, cut=88, yearly=True, n_paths=200)
    assert list(later.starts) == list(every.starts[7:13]) and later.days == (7, 7, 7, 7, 7, 4)
    for level in (0.5, 0.9):
        np.testing.assert_allclose(later.at(level)[:5], every.at(level)[7:12], rtol=1e-12)
    np.testing.assert_allclose(later.paths[:, :5], every.paths[:, 7:12], rtol=1e-12)
    # a later week is never more certain than an earlier one: the band never narrows with the lead
    band = every.at(0.9) / every.at(0.5)
    assert (np.diff(band) >= -1e-12).all()


@pytest.mark.parametrize(("freq", "horizon", "field"), [("2D", 40, "freq"), ("1D", 400, "horizon")])
def test_what_the_long_range_engine_cannot_do_names_the_field(freq: str, horizon: int, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        forecast_series(daily_series(1.0), ForecastSpec(horizon=horizon, freq=freq))
    assert info.value.field == field


def test_a_yearly_model_without_dates_fails_cleanly() -> None:
    data = FitInput(y=daily_series(3.0).to_numpy(), horizon=30, periods=(7,))
    for spec in YEARLY_MODELS:
        with pytest.raises(ModelFailed, match="dates"):
            run_model(spec, data)


def test_a_months_peak_is_the_same_at_an_hourly_and_a_daily_step() -> None:
    # hourly samples: the daily maxima of the hourly series are the daily peaks (--freq 1d --agg max)
    y = hourly_series(2.5, seed=4)
    hourly = forecast_series(y, ForecastSpec(horizon=24 * 30, freq="1h", quantiles=QUANTILES, n_paths=100))
    daily = forecast_series(
        y, ForecastSpec(horizon=30, freq="1D", agg="max", quantiles=QUANTILES, n_paths=100)
    )
    assert hourly.peaks is not None and daily.peaks is not None
    assert list(hourly.peaks.days) == list(daily.peaks.days) == [7, 7, 7, 7, 2]
    assert hourly.peaks.starts[0] == daily.peaks.starts[0] == pd.Timestamp(hourly.frame["ts"].iloc[0])
    for level in (0.5, 0.9, 0.95):
        np.testing.assert_allclose(hourly.peaks.levels[level], daily.peaks.levels[level])
    weeks = hourly.peaks.levels
    assert (weeks[0.5] <= weeks[0.9] + 1e-9).all() and (weeks[0.9] <= weeks[0.95] + 1e-9).all()
    # a week's peak is above the week's hourly mean forecast: it is a peak, not a level
    mean = hourly.frame["mean"].to_numpy()[: 24 * 28].reshape(4, -1).mean(axis=1)
    assert (weeks[0.5][:4] > mean).all()


@pytest.mark.parametrize("freq", ["1D", "1h"])
def test_a_days_quantiles_do_not_depend_on_how_far_past_it_the_forecast_runs(freq: str) -> None:
    y = hourly_series(2.5, seed=6) if freq == "1h" else daily_series(3.0, seed=6)
    per_day = 24 if freq == "1h" else 1
    results = [
        forecast_series(y, ForecastSpec(horizon=days * per_day, freq=freq, quantiles=QUANTILES, n_paths=50))
        for days in (33, 60, 93)  # one reach (93 days); up to 32 days is the month's reach
    ]
    first = results[0]
    columns = quantile_columns(sorted(QUANTILES))
    for other in results[1:]:
        shared = other.frame.iloc[: len(first.frame)]
        pd.testing.assert_frame_equal(shared[["ts", "mean", *columns]], first.frame[["ts", "mean", *columns]])
        np.testing.assert_array_equal(other.paths[:, : first.paths.shape[1]], first.paths)
        assert other.model == first.model
        assert first.peaks is not None and other.peaks is not None
        for level in (0.5, 0.9, 0.95):  # every whole week of the shorter forecast
            np.testing.assert_array_equal(other.peaks.levels[level][:4], first.peaks.levels[level][:4])
    assert any("made 93 days ahead, then cut" in note for note in first.diagnostics)


def test_a_short_forecast_carries_no_weekly_peaks() -> None:
    y = hourly_series(0.2, seed=5)
    result = forecast_series(y, ForecastSpec(horizon=48, freq="1h", quantiles=QUANTILES, n_paths=50))
    assert result.peaks is None


def test_an_uplifted_event_keeps_the_daily_peaks_and_drops_the_hourly_ones() -> None:
    y = hourly_series(2.5, seed=6)
    start = y.index[-1] + pd.Timedelta(days=10)
    event = make_occurrence("launch", start.normalize(), start.normalize() + pd.Timedelta(days=1), 1.5, 1.5)
    hourly = forecast_series(
        y, ForecastSpec(horizon=24 * 30, freq="1h", quantiles=QUANTILES, events=(event,))
    )
    daily_spec = ForecastSpec(horizon=30, freq="1D", agg="max", quantiles=QUANTILES, events=(event,))
    daily = forecast_series(y, daily_spec)
    plain = forecast_series(y, replace(daily_spec, events=()))
    assert any("launch" in note for note in hourly.diagnostics)
    # the hourly daily-maximum core never saw the uplift: the window's peak comes from the uplifted paths instead
    assert hourly.peaks is None
    # a daily step's weekly peaks follow the uplifted forecast: the event's week peaks higher than without it
    assert daily.peaks is not None and plain.peaks is not None
    assert np.max(daily.peaks.levels[0.5]) > np.max(plain.peaks.levels[0.5])
