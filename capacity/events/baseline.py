"""The normal-day baseline an event's uplift is measured against, and how noisy normal days are.

Pure helpers of :mod:`capacity.events.uplift`: each step's log-ratio to the median of the same step in the weeks around it
(skipping event windows), the hour-to-hour and day-to-day noise of those ratios on normal days, and the per-hour
profile and smoothing the learned uplift is built from.
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
    """Each step's log-ratio to its normal-week baseline: the median of the same step 1..``weeks`` weeks before
    and after, skipping blocked (event) steps; NaN where fewer than two such steps exist."""
    n = len(values)
    shifted = np.full((2 * weeks, n), np.nan)
    clean = np.where(blocked | ~np.isfinite(values), np.nan, values)
    row = 0
    for k in range(1, weeks + 1):
        lag = k * per_week
        if lag < n:
            shifted[row, lag:] = clean[:-lag]  # the same step k weeks before
            shifted[row + 1, :-lag] = clean[lag:]  # ... and k weeks after
        row += 2
    enough = np.isfinite(shifted).sum(axis=0) >= 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns are masked just below
        base = np.nanmedian(shifted, axis=0)
    out = np.log(np.maximum(values, floor)) - np.log(np.maximum(base, floor))
    return np.where(enough & np.isfinite(values), out, np.nan)


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
