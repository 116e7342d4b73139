"""What a series' risk row and its chart both show, computed once from the same sample paths and quantiles.

A forecast is one set of sample paths and the per-step quantiles they follow (the frame the API returns and the chart
draws as its bands). Two different things are read from them, and this module is the one place that reads both:

- **the window's peak**: the quantiles of each path's maximum over the window (``peak p50/p90/p95`` of the risk
  table, the headroom and the instances to add), drawn on the chart as the window-peak marker. It is not the
  maximum of the per-step bands: over a week the highest hour of a path is usually above most hours' 97.5 %
  quantile, and on the breach benchmark's real folds the maximum of the per-step q0.975 was exceeded by 23-33 % of
  the actual weekly peaks, the paths' peak p95 by 10-12 % (docs/benchmarks.md, Event peaks). Sizing on the band's
  maximum would under-provision.
- **the first likely breach**: a time at which a breach is plausible *at that hour*, i.e. where the chart's upper
  band (per-step q0.975) reaches the threshold, at or after the step where the cumulative crossing probability
  reaches the risk level. Without that rule the step where the cumulative share reached one half could fall at a
  daily low, where some path crossed by a tail draw while the forecast's mean was far below the threshold.

Pure: arrays and frames in, numbers out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from capacity.forecast.types import PeakForecast
from capacity.schema import MEAN, quantile_column, quantile_of

#: A window at least this long reads its breach probability from a long-range forecast's weekly peak paths.
LONG_WINDOW = pd.Timedelta(days=28)
#: The upper edge of the chart's 95 % band.
UPPER_LEVEL = 0.975
#: The window-peak quantiles of the risk table.
PEAK_LEVELS = (0.5, 0.9, 0.95)


@dataclass(frozen=True)
class WindowPeak:
    """The distribution of the window's peak.

    Attributes:
        p50: median of the paths' maxima over the window.
        p90: their 90th percentile.
        p95: their 95th percentile (the risk table's peak p95: headroom and sizing rest on it).
        at: the step of the window where the paths' maxima fall most often (where the chart marks the peak).
    """

    p50: float
    p90: float
    p95: float
    at: pd.Timestamp | None


def upper_band(frame: pd.DataFrame, paths: np.ndarray | None) -> np.ndarray:
    """The upper edge of the 95 % band per step: the frame's q0.975 (what the chart draws), else the paths' 97.5th
    percentile per step, else the highest quantile column, else the mean."""
    column = quantile_column(UPPER_LEVEL)
    if column in frame.columns:
        return frame[column].to_numpy(dtype="float64")
    if paths is not None and paths.ndim == 2 and paths.shape[0] > 0:
        return np.asarray(np.quantile(paths, UPPER_LEVEL, axis=0), dtype="float64")
    levels = sorted((q, c) for c in frame.columns if (q := quantile_of(c)) is not None)
    return frame[levels[-1][1] if levels else MEAN].to_numpy(dtype="float64")


def window_peak(
    ts: pd.DatetimeIndex, frame: pd.DataFrame, paths: np.ndarray | None, peaks: PeakForecast | None = None
) -> WindowPeak:
    """The window's peak quantiles (``frame`` and ``paths`` cut to the window ``ts``).

    With a long-range forecast's calibrated weekly ``peaks``, the highest weekly peak at each level among the
    weeks overlapping the window (what ``capacity plan`` shows, at any step: the maximum of a month of hourly
    paths is not calibrated as a peak); else from the paths' maxima; else from the quantile columns' maxima (then
    a lower bound of the peak). ``at`` always comes from the paths or the columns (where in the window).
    """
    if paths is not None and paths.ndim == 2 and paths.shape[0] > 0 and paths.shape[1] == len(ts):
        p50, p90, p95 = (float(v) for v in np.quantile(paths.max(axis=1), PEAK_LEVELS))
        counts = np.bincount(paths.argmax(axis=1), minlength=paths.shape[1])
        at = ts[int(np.argmax(counts))] if len(ts) else None
    else:

        def column_max(q: float) -> float:
            col = quantile_column(q)
            return float(frame[col].max() if col in frame else frame[MEAN].max())

        p50, p90, p95 = (column_max(q) for q in PEAK_LEVELS)
        col = quantile_column(PEAK_LEVELS[-1])
        at = ts[int(np.argmax(frame[col if col in frame else MEAN].to_numpy()))] if len(ts) else None
    weekly = peaks.window(ts[0], ts[-1]) if peaks is not None and len(ts) else None
    if weekly is not None and all(q in weekly for q in PEAK_LEVELS):
        p50, p90, p95 = (weekly[q] for q in PEAK_LEVELS)
    return WindowPeak(p50, p90, p95, at)


def plausible_steps(band: np.ndarray, threshold: float) -> np.ndarray:
    """Which steps a breach is plausible at: where the upper band reaches the threshold."""
    return np.asarray(band >= threshold)


def first_likely_breach(
    curve: np.ndarray, band: np.ndarray, exceedance: np.ndarray, threshold: float, level: float
) -> int | None:
    """The step of the first likely breach, or None when the crossing probability never reaches ``level``.

    It is the first step at or after the one where the cumulative crossing probability ``curve`` reaches ``level``
    at which the upper ``band`` reaches ``threshold``. When no later step's band reaches it (the probability then
    comes from many hours that are each unlikely to cross), it is the later step whose band comes closest: a daily
    peak, never a daily low. (The step most likely to cross, by per-step ``exceedance``, was the rule before; on a
    sparse count series whose rare spikes fall at any hour it dated a 61 % breach at an hour whose mean was 0.)
    ``exceedance`` breaks ties between steps whose bands are equal.
    """
    hit = np.flatnonzero(curve >= level)
    if not hit.size:
        return None
    start = int(hit[0])
    reach = np.flatnonzero(plausible_steps(band[start:], threshold))
    if reach.size:
        return start + int(reach[0])
    later = band[start:]
    closest = np.flatnonzero(later >= np.nanmax(later) - 1e-12 * max(1.0, abs(float(np.nanmax(later)))))
    return start + int(closest[np.argmax(exceedance[start:][closest])])


def first_crossings(paths: np.ndarray, band: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Each path's first crossing step among the plausible steps, and whether it crosses at one (for the first
    breach's p10/p90 range: a tail draw at a daily low does not date a breach)."""
    crossing = (paths >= threshold) & plausible_steps(band, threshold)[None, :]
    return np.argmax(crossing, axis=1), crossing.any(axis=1)


def weekly_breach_curve(ts: pd.DatetimeIndex, peaks: PeakForecast, threshold: float) -> np.ndarray | None:
    """The cumulative breach probability by step over a long window ``ts``, from the weekly peak paths.

    Each step gets the share of weekly-peak paths whose maximum over the weeks overlapping the window, up to and
    including the week holding that step, reaches ``threshold`` (0 before the first week): what ``capacity plan``
    reports as a week's cumulative crossing probability, so the plan's and the risk table's probability over the
    same weeks are one number, and the last value (the window's probability) is read from the same weeks and
    paths as the window's peak quantiles (a threshold under the peak p90 gets about 10 % or more). Why not the
    short-window blend of :mod:`capacity.risk.probability`: it is fitted on weekly windows of hourly paths, whose
    maxima over a month are not calibrated as peaks, and on PJM it gave 10 % where the window's peak p90 stood
    above the threshold. None when the peaks carry no paths or no week overlaps the window.
    """
    if peaks.paths is None or not len(ts):
        return None
    keep = peaks.overlapping(ts[0], ts[-1])
    if not keep.any() or peaks.paths.shape[1] != len(keep):
        return None
    reached = np.maximum.accumulate(peaks.paths[:, keep] >= threshold, axis=1).mean(axis=0)
    week = np.searchsorted(np.asarray(peaks.starts[keep]), np.asarray(ts), side="right") - 1
    return np.where(week >= 0, reached[np.clip(week, 0, None)], 0.0)
