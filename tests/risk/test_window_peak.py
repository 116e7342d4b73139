"""The window's peak: from a long-range forecast's calibrated weekly peaks when it has them, else the paths."""

from __future__ import annotations

import numpy as np
import pandas as pd

from capacity.forecast.types import PeakForecast
from capacity.risk.assess import RiskInput, RiskWindow, assess
from capacity.risk.peaks import window_peak
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
