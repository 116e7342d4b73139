"""The window's peak: from a long-range forecast's calibrated weekly peaks when it has them, else the paths; and a
long window's breach probability from the same weeks' paths."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from capacity.forecast.types import PeakForecast
from capacity.risk.assess import RiskInput, RiskWindow, assess
from capacity.risk.peaks import weekly_breach_curve, window_peak
from capacity.schema import MEAN, TS

START = pd.Timestamp("2026-01-05", tz="UTC")
WEEKS = PeakForecast(
    starts=pd.DatetimeIndex([START + pd.Timedelta(days=7 * k) for k in range(3)]),
    days=(7, 7, 2),
    levels={
        0.5: np.array([10.0, 30.0, 20.0]),
        0.9: np.array([12.0, 33.0, 25.0]),
        0.95: np.array([13.0, 35.0, 26.0]),
    },
)


def hourly(days: int, start: pd.Timestamp = START) -> tuple[pd.DatetimeIndex, pd.DataFrame, np.ndarray]:
    ts = pd.date_range(start, periods=24 * days, freq="1h")
    paths = np.random.default_rng(0).normal(5.0, 1.0, (200, len(ts)))
    return ts, pd.DataFrame({TS: ts, MEAN: paths.mean(axis=0)}), paths


def test_the_highest_overlapping_week_sets_each_level() -> None:
    assert WEEKS.window(START, START + pd.Timedelta(days=16)) == {0.5: 30.0, 0.9: 33.0, 0.95: 35.0}
    assert WEEKS.window(START, START + pd.Timedelta(days=6, hours=23)) == {0.5: 10.0, 0.9: 12.0, 0.95: 13.0}
    # a window inside the last (two-day) week, and one after every week
    assert WEEKS.window(START + pd.Timedelta(days=15), START + pd.Timedelta(days=15, hours=5))[0.5] == 20.0  # type: ignore[index]
    assert WEEKS.window(START + pd.Timedelta(days=16), START + pd.Timedelta(days=20)) is None


def test_weekly_peaks_replace_the_paths_maxima_and_keep_where() -> None:
    ts, frame, paths = hourly(16)
    from_paths = window_peak(ts, frame, paths)
    peak = window_peak(ts, frame, paths, WEEKS)
    assert (peak.p50, peak.p90, peak.p95) == (30.0, 33.0, 35.0)
    assert peak.at == from_paths.at and from_paths.p50 < 10.0
    later = hourly(3, START + pd.Timedelta(days=20))
    assert window_peak(*later, WEEKS) == window_peak(*later)  # no week overlaps: the paths


def test_a_risk_run_reads_the_weekly_peaks() -> None:
    _, frame, paths = hourly(16)
    risk = assess(RiskInput("svc", "cpu", 32.0, frame, paths, peaks=WEEKS), RiskWindow())
    assert (risk.peak_p50, risk.peak_p90, risk.peak_p95) == (30.0, 33.0, 35.0)
    assert risk.headroom == -3.0
    plain = assess(RiskInput("svc", "cpu", 32.0, frame, paths), RiskWindow())
    assert plain.peak_p95 < 10.0


def with_paths(weeks: PeakForecast, n: int = 400) -> PeakForecast:
    """``weeks`` with weekly-peak paths around its p50 (week k's paths spread by 10 %, independent)."""
    rng = np.random.default_rng(1)
    centre = np.asarray(weeks.levels[0.5])
    paths = centre[None, :] * np.exp(rng.normal(0.0, 0.1, (n, len(centre))))
    return replace(weeks, paths=paths)


def test_a_long_window_reads_its_probability_from_the_weekly_paths() -> None:
    ts, frame, paths = hourly(30)
    starts = pd.DatetimeIndex([START + pd.Timedelta(days=7 * k) for k in range(5)])
    weeks = with_paths(PeakForecast(starts, (7, 7, 7, 7, 2), {0.5: np.array([10.0, 30.0, 20.0, 25.0, 28.0])}))
    assert weeks.paths is not None
    for threshold in (9.0, 27.0, 31.0, 40.0):
        risk = assess(RiskInput("svc", "cpu", threshold, frame, paths, peaks=weeks), RiskWindow())
        share = float(np.mean(weeks.paths.max(axis=1) >= threshold))
        assert risk.breach_probability == pytest.approx(share)
    # by week: the curve reaches the week-2 share at week 2's first step, not before
    curve = weekly_breach_curve(ts, weeks, 27.0)
    assert curve is not None and curve.shape == (len(ts),)
    by_week = np.maximum.accumulate(weeks.paths >= 27.0, axis=1).mean(axis=0)
    assert curve[0] == by_week[0] and curve[24 * 7] == by_week[1] and curve[-1] == by_week[-1]
    assert np.all(np.diff(curve) >= 0)


def test_a_short_window_and_an_old_forecast_keep_the_blend() -> None:
    _, frame, paths = hourly(16)
    weeks = with_paths(WEEKS)
    old = replace(weeks, paths=None)  # stored before the weekly paths were kept
    for window in (RiskWindow(), RiskWindow(end=START + pd.Timedelta(days=5))):  # 16 and 5 days: both short
        new = assess(RiskInput("svc", "cpu", 32.0, frame, paths, peaks=weeks), window)
        assert new == assess(RiskInput("svc", "cpu", 32.0, frame, paths, peaks=old), window)
    _, frame, paths = hourly(30)
    starts = pd.DatetimeIndex([START + pd.Timedelta(days=7 * k) for k in range(5)])
    long_old = PeakForecast(starts, (7, 7, 7, 7, 2), {0.5: np.full(5, 30.0)})
    risk = assess(RiskInput("svc", "cpu", 32.0, frame, paths, peaks=long_old), RiskWindow())
    blend = assess(RiskInput("svc", "cpu", 32.0, frame, paths), RiskWindow())
    assert risk.breach_probability == blend.breach_probability
