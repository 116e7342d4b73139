"""The daily peaks a plan is made on: whole days of the series at the risk run's step, each day reduced by its peak.

A plan and a risk run over the same weeks must state one peak. A risk run forecasts a series at its step (hourly by
default, each hour the series' own aggregation of its samples) and reads a window's peak from the daily maxima of
the whole days of that hourly series (:mod:`capacity.forecast.longrange`). So a plan works on the same days:

- the series put on the hourly grid with its own aggregation (the ``agg`` of ``capacity series set``: how the
  samples inside an hour are combined), as a risk run does;
- whole days only: a history ending at 00:00 holds one hour of its last day, and that hour is not the day's peak
  (counted as a day, it was a low day in the history and the plan's first week started a day late, so no plan
  week held that day while the risk run's first week did);
- each day reduced by the plan's ``day_agg``: ``max`` by default (the day's peak hour, the risk table's peak), or
  ``p95``/``mean`` when a planner asks for them.

A series whose samples are a day or more apart (a daily CSV) is reduced to days directly. Pure.
"""

from __future__ import annotations

import pandas as pd

from capacity.forecast.intraday import whole_days
from capacity.forecast.longrange import DAY, step_of
from capacity.forecast.regularize import regularize
from capacity.forecast.types import ForecastSpec

#: The step a risk run forecasts in by default (:class:`~capacity.forecast.types.ForecastSpec`), and the step a
#: plan's days are built from.
RISK_STEP = ForecastSpec().freq
STEPS_PER_DAY = round(DAY / step_of(RISK_STEP))
#: A plan's default daily reduction: the day's peak hour.
DEFAULT_DAY_AGG = "max"
_DAY = 86_400


def plan_basis(day_agg: str, series_agg: str, step_seconds: int | None) -> str:
    """How the plan's daily peaks were made, as the plan's header states it (``daily max of hourly means``)."""
    if step_seconds is not None and step_seconds >= _DAY:
        return f"daily {day_agg}"
    of_hour = {"mean": "means", "max": "maxima", "p95": "p95s"}.get(series_agg, series_agg)
    return f"daily {day_agg} of hourly {of_hour}"


def plan_days(
    values: pd.Series, series_agg: str, day_agg: str = DEFAULT_DAY_AGG, step_seconds: int | None = None
) -> pd.Series:
    """The daily peaks of ``values`` (raw samples): whole days of the hourly series, each reduced by ``day_agg``.

    Args:
        values: raw samples indexed by UTC timestamps.
        series_agg: how samples inside an hour are combined (the series' own aggregation).
        day_agg: how a day's hours are reduced to its peak (``max``, ``p95``, ``mean``).
        step_seconds: the series' sample step, when known (a day or more: reduced to days directly).

    Raises:
        NotEnoughHistory: when the samples are too few or too sparse (from :func:`regularize`).
        InvalidHistory: for an unknown aggregation.
    """
    if step_seconds is not None and step_seconds >= _DAY:
        return regularize(values, "1D", day_agg).values
    hourly = regularize(values, RISK_STEP, series_agg).values
    days = whole_days(hourly, STEPS_PER_DAY)
    if days.empty:
        return pd.Series(dtype="float64", index=pd.DatetimeIndex([], tz="UTC"))
    grouped = days.groupby(pd.DatetimeIndex(days.index).normalize())
    if day_agg == "max":
        return grouped.max()
    if day_agg == "p95":
        return grouped.quantile(0.95)
    return grouped.mean()
