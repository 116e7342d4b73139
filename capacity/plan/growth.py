"""The growth a plan assumes, stated the way a planner checks it.

With a year of history before the plan's days, growth is year over year: the forecast's mean over the plan's days
against the same days (52 weeks earlier, so the weekdays match) of the history. That compares like with like, so a
summer quarter is not mistaken for growth. Without a year, growth is the trend of the forecast itself: the slope of
a straight line through its daily values, per year, relative to its level at the start. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from capacity.forecast.models.dated import YEAR_LAG

YEAR_OVER_YEAR = "year over year"
FORECAST_TREND = "forecast trend"


@dataclass(frozen=True)
class Growth:
    """Growth per year, in percent, and how it was read (:data:`YEAR_OVER_YEAR` or :data:`FORECAST_TREND`)."""

    pct_per_year: float
    basis: str


def assumed_growth(history: np.ndarray, forecast: np.ndarray, first: int, days: int) -> Growth:
    """The growth the daily ``forecast`` assumes over its days ``[first, first + days)``.

    Args:
        history: the daily history (the day before ``forecast[0]`` is its last).
        forecast: the daily point forecast.
        first: the plan's first day, as an offset into ``forecast``.
        days: the plan's length in days.
    """
    n = len(history)
    span = forecast[first : first + days]
    start = n + first - YEAR_LAG
    if start >= 0 and start + days <= n:
        before = float(np.mean(history[start : start + days]))
        if before > 0:
            return Growth(float((np.mean(span) / before - 1.0) * 100.0), YEAR_OVER_YEAR)
    t = np.arange(len(forecast), dtype="float64")
    slope, intercept = np.polyfit(t, forecast, 1) if len(forecast) > 1 else (0.0, float(forecast[0]))
    level = float(intercept) if abs(float(intercept)) > 1e-12 else float(np.mean(np.abs(forecast))) or 1.0
    return Growth(float(slope * 365.25 / abs(level) * 100.0), FORECAST_TREND)
