"""The normal-day baseline an event's uplift is measured against, and how noisy normal days are.

Pure helpers of :mod:`capacity.events.uplift`: each step's log-ratio to its normal-day baseline (skipping event
windows), one occurrence's log-ratios, the hour-to-hour and day-to-day noise of those ratios on normal days, and
the per-hour profile and smoothing the learned uplift is built from.

The baseline is *balanced*: the mean of the median of the same step in the weeks before and the median in the weeks
after. A seasonal drift (December into January, spring into summer) then cancels, where a pooled median over
whichever weeks exist leans to one side at the edges of the history: the older of two past holidays, the one near
the start of a two-year history, was measured against the weeks after it only and carried the season's slope into
its uplift (Christmas Eve -36 % instead of -28 % on a PJM region). A step without a week on both sides has no
baseline. docs/benchmarks.md (Event peaks) has what it changed on the event benchmark.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from capacity.events.calendar import EventOccurrence


def in_windows(index: pd.DatetimeIndex, windows: Sequence[EventOccurrence]) -> np.ndarray:
    """Which steps of ``index`` fall inside any of the windows."""
    mask = np.zeros(len(index), dtype=bool)
    for w in windows:
        mask |= np.asarray((index >= w.start) & (index < w.end))
    return mask


def baseline_logs(
    values: np.ndarray, blocked: np.ndarray, per_week: int, weeks: int, floor: float
) -> np.ndarray:
    """Each step's log-ratio to its balanced normal-week baseline: the mean of the median of the same step
    1..``weeks`` weeks before and the median 1..``weeks`` weeks after, skipping blocked (event) steps; NaN where
    either side has no such step (see the module docstring for why both sides)."""
    n = len(values)
    before = np.full((weeks, n), np.nan)
    after = np.full((weeks, n), np.nan)
    clean = np.where(blocked | ~np.isfinite(values), np.nan, values)
    for k in range(1, weeks + 1):
        lag = k * per_week
        if lag < n:
            before[k - 1, lag:] = clean[:-lag]  # the same step k weeks before
            after[k - 1, :-lag] = clean[lag:]  # ... and k weeks after
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns are masked just below
        base = 0.5 * (np.nanmedian(before, axis=0) + np.nanmedian(after, axis=0))
    out = np.log(np.maximum(values, floor)) - np.log(np.maximum(base, floor))
    return np.where(np.isfinite(base) & np.isfinite(values), out, np.nan)


def occurrence_logs(
    index: pd.DatetimeIndex, logs: np.ndarray, occurrence: EventOccurrence, min_coverage: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """One past occurrence's log-ratios with each step's offset from its start and its hour of day; None when
    fewer than ``min_coverage`` of its steps have a baseline (the history does not cover it well enough)."""
    inside = np.asarray((index >= occurrence.start) & (index < occurrence.end))
    if not inside.any():
        return None
    step = index[1] - index[0] if len(index) > 1 else pd.Timedelta(hours=1)
    positions = np.flatnonzero(inside)
    ok = np.isfinite(logs[positions])
    if ok.sum() < min_coverage * max(1, int((occurrence.end - occurrence.start) / step)):
        return None
    positions = positions[ok]
    offsets = np.asarray((index[positions] - occurrence.start) // step, dtype=int)
    hours = np.asarray(index[positions].hour, dtype=int)
    return offsets, hours, logs[positions]


def shape_noise(index: pd.DatetimeIndex, logs: np.ndarray, blocked: np.ndarray) -> float:
    """How much one hour's log-ratio strays from its day's mean on normal days (robust sd)."""
    ok = np.isfinite(logs) & ~blocked
    if ok.sum() < 48:
        return 0.1
    series = pd.Series(logs[ok], index=index[ok])
    dev = (series - series.groupby(index[ok].normalize()).transform("mean")).to_numpy()
    mad = float(np.median(np.abs(dev - np.median(dev))))
    return max(1e-3, 1.4826 * mad)


def level_noise(index: pd.DatetimeIndex, logs: np.ndarray, blocked: np.ndarray) -> float:
    """How much a normal day's mean log-ratio to its baseline varies (robust sd): the noise of one occurrence's
    level. Hours of a day move together (weather, incidents), so this is the day's, not one hour's, noise."""
    ok = np.isfinite(logs) & ~blocked
    if ok.sum() < 48:
        return 0.1
    days = pd.Series(logs[ok], index=index[ok]).groupby(index[ok].normalize()).agg(["mean", "count"])
    means = days.loc[days["count"] >= max(1, int(0.8 * days["count"].max())), "mean"].to_numpy()
    if means.size < 7:
        return 0.1
    mad = float(np.median(np.abs(means - np.median(means))))
    return max(1e-3, 1.4826 * mad)


def hour_profile(keys: np.ndarray, logs: np.ndarray, size: int) -> np.ndarray:
    """The mean of ``logs`` for each key ``0..size-1`` (an hour of day or an offset into the event); NaN where
    a key has no value."""
    out = np.full(size, np.nan)
    for k in range(size):
        sel = logs[keys == k]
        if sel.size:
            out[k] = sel.mean()
    return out


def smooth(values: np.ndarray, half: int, circular: bool) -> np.ndarray:
    """A moving mean over ``2 * half + 1`` neighbours (wrapping around the day when ``circular``), ignoring NaN."""
    if half <= 0:
        return values
    n = len(values)
    out = np.empty(n)
    for h in range(n):
        idx = (
            [(h + k) % n for k in range(-half, half + 1)]
            if circular
            else range(max(0, h - half), min(n, h + half + 1))
        )
        vals = values[list(idx)]
        vals = vals[np.isfinite(vals)]
        out[h] = vals.mean() if vals.size else np.nan
    return out
