"""The calendar a long-range model sees: a daily history with its dates, and the calendar features built from them.

The short-horizon models see positions only (:class:`~capacity.forecast.models.base.FitInput`); a model that
forecasts months ahead needs the date of every step: the day of the year for the yearly cycle, the weekday, and the
same day one, two or more years earlier. :class:`DatedInput` adds the dates (history and horizon) to
``FitInput``, so these models run through the same guarded :func:`~capacity.forecast.models.base.run_model`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from capacity.forecast.models.base import FitInput

#: Days in a mean year (the yearly Fourier period).
YEAR_DAYS = 365.25
#: A year back on the same weekday: 52 weeks.
YEAR_LAG = 364


@dataclass(frozen=True)
class DatedInput(FitInput):
    """A daily history with its dates.

    Attributes:
        dates: ``len(y) + horizon`` midnight timestamps, one a day: the history's days then the horizon's.
    """

    dates: pd.DatetimeIndex | None = None

    @property
    def calendar(self) -> pd.DatetimeIndex:
        """The dates (history then horizon); raises when the input was built without them."""
        if self.dates is None or len(self.dates) != len(self.y) + self.horizon:
            raise ValueError("a long-range model needs the dates of the history and the horizon")
        return self.dates


def dated(y: np.ndarray, dates: pd.DatetimeIndex, horizon: int, exog: np.ndarray | None = None) -> DatedInput:
    """A :class:`DatedInput` for the daily history ``y`` whose days are ``dates[: len(y)]``."""
    return DatedInput(y=y, horizon=horizon, periods=(7,), exog=exog, dates=dates)


def calendar_of(data: FitInput) -> pd.DatetimeIndex:
    """The dates of a :class:`DatedInput` (history then horizon).

    Raises:
        ValueError: for a plain ``FitInput`` (a long-range model asked for without dates); ``run_model`` turns it
            into a model failure.
    """
    if not isinstance(data, DatedInput):
        raise ValueError("a long-range model needs the dates of the history and the horizon")
    return data.calendar


def history_days(data: FitInput) -> float:
    """How many days the history spans."""
    cal = calendar_of(data)
    return float((cal[len(data.y) - 1] - cal[0]) / pd.Timedelta(days=1)) + 1.0


def fourier_year(dates: pd.DatetimeIndex, pairs: int) -> np.ndarray:
    """Sine and cosine columns of the first ``pairs`` harmonics of the year, phased by the calendar date."""
    t = np.asarray((dates - pd.Timestamp("2000-01-01", tz=dates.tz)) / pd.Timedelta(days=1), dtype="float64")
    k = np.arange(1, pairs + 1)
    angle = 2.0 * np.pi * np.outer(t, k) / YEAR_DAYS
    return np.hstack([np.sin(angle), np.cos(angle)])


def weekday_dummies(dates: pd.DatetimeIndex) -> np.ndarray:
    """Six 0/1 columns, Tuesday to Sunday (Monday is the baseline)."""
    day = dates.dayofweek.to_numpy()
    return np.column_stack([(day == j).astype("float64") for j in range(1, 7)])


def weekday_effects(y: np.ndarray, weekdays: np.ndarray, multiplicative: bool) -> np.ndarray:
    """Each weekday's mean deviation from a centred 7-day mean over the last year (ratio when ``multiplicative``).

    Returns seven effects indexed by weekday (Monday = 0), centred (mean 0, or mean 1 for ratios).
    """
    take = min(len(y), YEAR_LAG)
    last, days = y[-take:], weekdays[-take:]
    centred = pd.Series(last).rolling(7, center=True, min_periods=4).mean().to_numpy()
    rel = last / centred if multiplicative else last - centred
    effects = np.array(
        [float(np.nanmean(rel[days == j])) if np.isfinite(rel[days == j]).any() else np.nan for j in range(7)]
    )
    effects = np.where(np.isfinite(effects), effects, 1.0 if multiplicative else 0.0)
    return effects / effects.mean() if multiplicative else effects - effects.mean()
