"""A quarterly capacity plan for one series: week by week, the expected peak, headroom, instances and crossings.

From the weekly peaks of a long-range forecast (:class:`~capacity.forecast.peaks.WeeklyPeaks`) and the series'
threshold and fleet: each week's p50 and p90 peak; the headroom of the p90 peak under the threshold; the
instances that keep the p90 peak times ``1 + margin`` under the limit (:func:`~capacity.risk.assess.instances_needed`,
the same sizing as a risk run); the probability that the week's peak reaches the threshold, and the probability
that it has been reached by the end of the week (the share of weekly sample paths, so it never falls from one week
to the next); the first week where that cumulative probability reaches ``likely`` (0.5: more likely than not), with
its probability; and the growth the forecast assumes. Pure: the caller passes everything, nothing is read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from capacity.errors import InvalidInput
from capacity.forecast.peaks import WeeklyPeaks
from capacity.plan.growth import Growth

#: Sizing: instances needed for a peak (the services pass the risk run's sizing, so a plan and a risk run agree).
Sizer = Callable[[float], int | None]

#: The planning quantile: instances and headroom are sized on the p90 weekly peak.
PLAN_LEVEL = 0.9
#: The first crossing is the first week whose cumulative crossing probability reaches this.
LIKELY = 0.5
#: The default capacity margin (the risk run's).
DEFAULT_MARGIN = 0.1


@dataclass(frozen=True)
class PlanTarget:
    """What a series is planned against.

    Attributes:
        service: the service.
        metric: the metric.
        threshold: the scaling threshold (None: none declared; headroom and crossings are then unknown).
        instances: the current instance count, when known.
        instance_capacity: what one instance handles, in the metric's unit, when known.
    """

    service: str
    metric: str
    threshold: float | None = None
    instances: int | None = None
    instance_capacity: float | None = None


@dataclass(frozen=True)
class PlanWeek:
    """One week of a plan.

    Attributes:
        start: the week's first day (UTC midnight).
        days: its length in days (7, or fewer for the last week of a quarter).
        p50: the median forecast of the week's peak.
        p90: the 90% quantile of the week's peak.
        headroom_pct: ``(threshold - p90) / threshold * 100`` (negative: over); None without a threshold.
        instances_needed: instances keeping ``p90 x (1 + margin)`` under the limit; None when unknowable.
        crossing: probability that the week's peak reaches the threshold.
        cumulative: probability that the threshold has been reached by the end of this week.
    """

    start: pd.Timestamp
    days: int
    p50: float
    p90: float
    headroom_pct: float | None
    instances_needed: int | None
    crossing: float | None
    cumulative: float | None


@dataclass(frozen=True)
class SeriesPlan:
    """The plan of one series.

    Attributes:
        target: what it is planned against.
        weeks: the plan, week by week.
        first_crossing: the first week whose cumulative crossing probability reaches ``likely`` (None: none).
        first_crossing_probability: that week's cumulative probability (None without a crossing).
        growth: the growth the forecast assumes.
        model: the long-range model (or ensemble) behind it.
        history_end: the last timestamp of the history the plan was made from.
        margin: the capacity margin used.
        quarter: the quarter's label, when one was asked for.
    """

    target: PlanTarget
    weeks: tuple[PlanWeek, ...]
    first_crossing: pd.Timestamp | None
    first_crossing_probability: float | None
    growth: Growth
    model: str
    history_end: pd.Timestamp
    margin: float = DEFAULT_MARGIN
    quarter: str | None = None

    @property
    def peak_p50(self) -> float:
        """The highest weekly p50: the plan's expected peak."""
        return max(w.p50 for w in self.weeks)


def build_plan(
    target: PlanTarget,
    peaks: WeeklyPeaks,
    growth: Growth,
    *,
    model: str,
    history_end: pd.Timestamp,
    size: Sizer | None = None,
    margin: float = DEFAULT_MARGIN,
    likely: float = LIKELY,
    quarter: str | None = None,
) -> SeriesPlan:
    """The week-by-week plan of one series from its weekly peaks.

    Args:
        target: the series and what it is planned against.
        peaks: its weekly peaks (with the 0.5 and 0.9 levels).
        growth: the growth the forecast assumes.
        model: the model behind the forecast.
        history_end: the end of the history the forecast was made from.
        size: instances needed for a peak (None: unknown); called with each week's p90 peak.
        margin: the capacity margin the sizer applies (recorded with the plan).
        likely: the cumulative crossing probability that makes a week the first likely crossing.
        quarter: the quarter's label, when the plan is for one.

    Raises:
        InvalidInput: when the weekly peaks lack the p50 or p90 level, or ``margin``/``likely`` are out of range.
    """
    if 0.5 not in peaks.quantiles or PLAN_LEVEL not in peaks.quantiles:
        raise InvalidInput("weekly peaks need the 0.5 and 0.9 quantiles", field="quantiles")
    if not 0.0 <= margin < 10.0:
        raise InvalidInput(f"margin must be in [0, 10), got {margin}", field="margin")
    if not 0.0 < likely < 1.0:
        raise InvalidInput(f"likely must be in (0, 1), got {likely}", field="likely")
    threshold = target.threshold
    if threshold is not None and threshold <= 0:
        raise InvalidInput(f"threshold must be > 0, got {threshold}", field="threshold")
    p50, p90 = peaks.at(0.5), np.maximum(peaks.at(PLAN_LEVEL), peaks.at(0.5))
    if threshold is not None:
        hits = peaks.paths >= threshold
        crossing = hits.mean(axis=0)
        cumulative = np.maximum.accumulate(hits, axis=1).mean(axis=0)
    weeks = []
    for j, start in enumerate(peaks.starts):
        weeks.append(
            PlanWeek(
                start=start,
                days=peaks.days[j],
                p50=float(p50[j]),
                p90=float(p90[j]),
                headroom_pct=None if threshold is None else float((threshold - p90[j]) / threshold * 100.0),
                instances_needed=size(float(p90[j])) if size is not None else None,
                crossing=None if threshold is None else float(crossing[j]),
                cumulative=None if threshold is None else float(cumulative[j]),
            )
        )
    first = next((w for w in weeks if w.cumulative is not None and w.cumulative >= likely), None)
    return SeriesPlan(
        target=target,
        weeks=tuple(weeks),
        first_crossing=first.start if first else None,
        first_crossing_probability=first.cumulative if first else None,
        growth=growth,
        model=model,
        history_end=history_end,
        margin=margin,
        quarter=quarter,
    )
