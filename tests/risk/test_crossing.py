"""Seasonal analogs follow a clear upward trend (and nothing else), so a growing service whose forecast crosses its
threshold is rated a likely breach instead of being held down by last quarter's lower weeks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from capacity.forecast.pipeline import forecast_series
from capacity.forecast.types import ForecastSpec
from capacity.risk.assess import BREACH_LIKELY, RiskInput, RiskWindow, assess
from capacity.risk.crossing import seasonal_analogs, trend_growth
from capacity.risk.probability import recent_profile

TS = pd.date_range("2026-06-01", periods=24 * 90, freq="h", tz="UTC")
HOURS = np.arange(len(TS))


def history(growth_per_day: float, seed: int = 1, noise: float = 2.0) -> pd.Series:
    rng = np.random.default_rng(seed)
    y = (
        40
        + growth_per_day * HOURS / 24
        + 8 * np.sin(2 * np.pi * HOURS / 24)
        + rng.normal(0, noise, len(HOURS))
    )
    return pd.Series(y, index=TS)


FUTURE = pd.date_range(TS[-1] + pd.Timedelta(hours=1), periods=24 * 14, freq="h")


def test_flat_and_falling_histories_keep_their_analogs_as_they_were():
    for growth in (0.0, -0.5):
        y = history(growth)
        plain = seasonal_analogs(y, FUTURE, 12, follow_trend=False)
        assert plain is not None
        np.testing.assert_array_equal(seasonal_analogs(y, FUTURE, 12), plain)


def test_a_clear_upward_trend_lifts_each_analog_by_the_growth_since():
    y = history(0.6)
    plain = seasonal_analogs(y, FUTURE, 12, follow_trend=False)
    lifted = seasonal_analogs(y, FUTURE, 12)
    assert plain is not None and lifted is not None
    lift = (lifted - plain).mean(axis=1)
    weekly = 0.6 * 7
    # analog k lies 2 + k weeks back (a 14-day forecast needs two whole weeks to reach past the history end);
    # 90 days hold 11 of the 12
    np.testing.assert_allclose(lift, weekly * (2 + np.arange(len(lift))), rtol=0.05)
    # once lifted, the analogs sit at the current level rather than trailing it
    assert abs(lifted.mean() - y.iloc[-24 * 7 :].mean() - weekly * 1.5) < 2.0


def test_trend_growth_needs_a_clear_line_and_enough_analogs():
    back = np.arange(2.0, 14.0)
    assert trend_growth(100 - 3 * back, back).tolist() == (3 * back).tolist()  # exact line: lifted
    noisy = 100 - 0.3 * back + np.random.default_rng(0).normal(0, 5, len(back))
    assert not trend_growth(noisy, back).any()  # a weak slope in noise: left alone
    assert not trend_growth(100 + 3 * back, back).any()  # falling: left alone
    assert not trend_growth(np.array([3.0, 2.0, 1.0]), np.array([1.0, 2.0, 3.0])).any()  # too few


def test_a_growing_service_whose_forecast_crosses_is_breach_likely():
    y = history(0.6)
    result = forecast_series(y, ForecastSpec(horizon=len(FUTURE), n_paths=400))
    threshold = float(y.iloc[-24 * 7 :].max()) + 5.0
    ts = pd.DatetimeIndex(result.frame["ts"])
    risks = {
        follow: assess(
            RiskInput(
                "shop",
                "cpu",
                threshold,
                result.frame,
                result.paths,
                analogs=seasonal_analogs(y, ts, 12, follow_trend=follow),
                recent=recent_profile(y),
            ),
            RiskWindow(),
        )
        for follow in (False, True)
    }
    assert risks[True].peak_p50 is not None and risks[True].peak_p50 > threshold  # the forecast crosses
    assert (
        risks[False].breach_probability is not None and risks[False].breach_probability < 0.5
    )  # the old answer
    assert risks[True].breach_probability is not None and risks[True].breach_probability >= 0.5
    assert risks[True].status == BREACH_LIKELY


def test_the_trend_gate_stays_shut_on_stationary_noise_with_long_windows():
    # Analogs a week apart overlap when the window is longer than a week; their levels are read off their first week
    # only, so overlapping means do not inflate the slope's t-statistic (mean over the whole analog: 6 of 100 here).
    ts = pd.date_range("2026-01-01", periods=24 * 7 * 20, freq="h", tz="UTC")
    hours = np.arange(len(ts))
    future = pd.date_range(ts[-1] + pd.Timedelta(hours=1), periods=24 * 30, freq="h")
    opened = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        day_level = np.repeat(rng.normal(0, 3, len(ts) // 24 + 1), 24)[: len(ts)]
        y = pd.Series(
            50 + 8 * np.sin(2 * np.pi * hours / 24) + day_level + rng.normal(0, 2, len(ts)), index=ts
        )
        plain = seasonal_analogs(y, future, 12, follow_trend=False)
        opened += not np.array_equal(plain, seasonal_analogs(y, future, 12))
    assert opened <= 1
