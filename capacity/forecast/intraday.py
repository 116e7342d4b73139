"""From a daily long-range forecast to a sub-daily one: each future day's level plus its intraday profile.

A month ahead, an hourly forecast is a daily level (what the long-range engine forecasts well) times the shape of
the day (what last year's same days know best: a summer afternoon peak is not a spring one). The profile of a
future day is the mean deviation from the daily mean of the same-weekday days within two weeks of the same date in
up to three past years; without a past year, the median of the last four weeks' same weekdays. On the PJM hourly
series the past-year profile cut the 30-day MASE from 1.32 to 1.18 (leave-series-out: the same choice in all ten
rotations).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from capacity.forecast.models.dated import YEAR_LAG

#: Past years, and same-weekday neighbours (in weeks either side), of the past-year profile.
PROFILE_YEARS = 3
PROFILE_WEEKS_AROUND = 2
#: Weeks of the recent profile used without a past year.
RECENT_WEEKS = 4


def whole_days(values: pd.Series, steps_per_day: int) -> pd.Series:
    """``values`` (a regular sub-daily series) cut to whole days: from the first midnight, whole days only."""
    index = pd.DatetimeIndex(values.index)
    first = index[0].normalize()
    if index[0] != first:
        first += pd.Timedelta(days=1)
    kept = values[index >= first]
    return kept.iloc[: (len(kept) // steps_per_day) * steps_per_day]


def daily_means(days: pd.Series, steps_per_day: int) -> pd.Series:
    """The mean of each whole day of ``days`` (from :func:`whole_days`), indexed by its midnight."""
    v = days.to_numpy(dtype="float64").reshape(-1, steps_per_day).mean(axis=1)
    index = pd.DatetimeIndex(days.index[::steps_per_day])
    return pd.Series(v, index=index)


def profiles(days: pd.Series, steps_per_day: int, future_days: int) -> np.ndarray:
    """Intraday profiles (deviation from the day's mean) for the ``future_days`` days after the history.

    Returns shape ``(future_days, steps_per_day)``.
    """
    v = days.to_numpy(dtype="float64").reshape(-1, steps_per_day)
    dev = v - v.mean(axis=1, keepdims=True)
    n = len(dev)
    weekdays = pd.DatetimeIndex(days.index[::steps_per_day]).dayofweek.to_numpy()
    k = min(RECENT_WEEKS * 7, n)
    recent = np.zeros((7, steps_per_day))
    for d in range(7):
        rows = dev[n - k :][weekdays[n - k :] == d]
        recent[d] = np.median(rows, axis=0) if len(rows) else np.median(dev[n - k :], axis=0)
    out = np.empty((future_days, steps_per_day))
    for i in range(future_days):
        pos = n + i
        same = [
            dev[p]
            for year in range(1, PROFILE_YEARS + 1)
            for week in range(-PROFILE_WEEKS_AROUND, PROFILE_WEEKS_AROUND + 1)
            if 0 <= (p := pos - YEAR_LAG * year + 7 * week) < n
        ]
        out[i] = np.mean(same, axis=0) if same else recent[(weekdays[-1] + 1 + i) % 7]
    return out


def compose(
    days: pd.Series, steps_per_day: int, daily_forecast: np.ndarray, horizon: int, offset: int
) -> np.ndarray:
    """The sub-daily forecast: each future day's level plus its profile.

    Args:
        days: the whole-day history at the native step.
        steps_per_day: native steps per day.
        daily_forecast: the daily level forecast from the day after ``days``.
        horizon: native steps to return.
        offset: native steps between the end of ``days`` and the first step to return (a partial last day).
    """
    need = -(-(offset + horizon) // steps_per_day)
    if len(daily_forecast) < need:
        raise ValueError(f"the daily forecast covers {len(daily_forecast)} days, {need} are needed")
    shape = profiles(days, steps_per_day, need)
    level = np.repeat(daily_forecast[:need], steps_per_day)
    return (level + shape.reshape(-1))[offset : offset + horizon]
