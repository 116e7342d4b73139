"""Regularization: fixed frequency, aggregation, duplicates, gaps, spikes vs real peaks, seasonal periods."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from capacity.errors import InvalidHistory, NotEnoughHistory
from capacity.forecast.regularize import detect_periods, regularize, steps_per


def hourly(values: np.ndarray, start: str = "2024-03-04") -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="1h", tz="UTC"))


def daily_wave(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 50 + 20 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 1, n)


def test_irregular_samples_land_on_a_fixed_grid_with_the_chosen_aggregation() -> None:
    index = pd.DatetimeIndex(
        ["2024-01-01 00:10", "2024-01-01 00:40", "2024-01-01 01:05", "2024-01-01 02:59", "2024-01-01 02:01"],
        tz="UTC",
    )
    raw = pd.Series([10.0, 30.0, 5.0, 7.0, 9.0], index=index)
    mean = regularize(raw, "1h", "mean").values
    peak = regularize(raw, "1h", "max").values
    p95 = regularize(raw, "1h", "p95").values
    assert list(mean.index.hour) == [0, 1, 2]
    assert mean.iloc[0] == pytest.approx(20.0)
    assert peak.iloc[0] == 30.0 and peak.iloc[2] == 9.0
    assert mean.iloc[0] <= p95.iloc[0] <= peak.iloc[0]
    assert str(mean.index.tz) == "UTC"


def test_duplicates_are_merged_and_counted_and_input_is_not_mutated() -> None:
    s = hourly(daily_wave(96))
    doubled = pd.concat([s, s.iloc[:10] + 2.0]).sample(frac=1.0, random_state=3)
    before = doubled.copy()
    reg = regularize(doubled, "1h", "mean")
    assert reg.merged_duplicates == 10
    assert len(reg.values) == 96
    assert reg.values.index.is_monotonic_increasing
    pd.testing.assert_series_equal(doubled, before)
    assert any("duplicated" in n for n in reg.notes)


def test_gaps_are_filled_flagged_and_follow_the_season() -> None:
    s = hourly(daily_wave(24 * 10))
    gappy = s.drop(s.index[100:130])  # a 30-hour hole
    reg = regularize(gappy, "1h", "mean")
    assert len(reg.values) == len(s)
    assert reg.filled.sum() == 30 and reg.filled[100:130].all()
    assert np.isfinite(reg.values.to_numpy()).all()
    # filled from the previous day's phase: close to the true wave, not a straight line
    err = np.abs(reg.values.to_numpy()[100:130] - s.to_numpy()[100:130])
    assert err.mean() < 5.0


def test_isolated_spike_is_dampened_but_a_recurring_daily_peak_is_kept() -> None:
    n = 24 * 14
    y = daily_wave(n, seed=1)
    y[np.arange(n) % 24 == 12] += 60.0  # a real peak every day at noon
    y[200] += 500.0  # a one-off glitch
    reg = regularize(hourly(y), "1h", "mean")
    out = reg.values.to_numpy()
    assert reg.dampened >= 1
    assert out[200] < y[200] - 300
    noon = np.arange(n) % 24 == 12
    np.testing.assert_allclose(out[noon], y[noon])


def test_periods_depend_on_length() -> None:
    assert detect_periods(daily_wave(30), "1h") == ()
    assert detect_periods(daily_wave(24 * 5), "1h") == (24,)
    assert detect_periods(daily_wave(24 * 15), "1h") == (24, 168)
    assert detect_periods(np.full(500, 3.0), "1h") == ()
    assert steps_per("15min", "1D") == 96


def test_bad_input_raises_named_errors() -> None:
    with pytest.raises(NotEnoughHistory):
        regularize(hourly(np.array([1.0, 2.0])), "1h", "mean")
    with pytest.raises(NotEnoughHistory):
        regularize(hourly(np.array([np.nan, np.inf, 1.0, np.nan])), "1h", "mean")
    with pytest.raises(InvalidHistory, match="agg"):
        regularize(hourly(daily_wave(50)), "1h", "median")
    with pytest.raises(InvalidHistory, match="freq"):
        regularize(hourly(daily_wave(50)), "fortnightly", "mean")
    with pytest.raises(InvalidHistory, match="DatetimeIndex"):
        regularize(pd.Series([1.0, 2.0, 3.0]), "1h", "mean")
