"""Plan accuracy: how a stored plan's weekly peaks compare with what happened.

The KPI planners report: for each week of the plan that has actuals, the absolute percentage error of the p50
peak against the actual weekly peak (the maximum of the series' daily peaks that week), and the share of weeks
within 10% and within 20%. A week counts only when every one of its days has actuals, so a half-observed week
does not look better (or worse) than it was. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: The tolerances planners are held to.
TOLERANCES = (0.10, 0.20)


@dataclass(frozen=True)
class WeekScore:
    """One scored week: its start, the planned p50 peak, the actual peak and the absolute percentage error."""

    start: pd.Timestamp
    planned: float
    actual: float
    ape: float


@dataclass(frozen=True)
class PlanScore:
    """A plan's accuracy.

    Attributes:
        weeks_planned: how many weeks the plan had.
        weeks: the weeks scored (those fully covered by actuals).
        mape: mean absolute percentage error of the weekly peak, in percent.
        within_10: share of scored weeks within 10%.
        within_20: share within 20%.
        complete: True when every week of the plan was scored.
    """

    weeks_planned: int
    weeks: tuple[WeekScore, ...]
    mape: float
    within_10: float
    within_20: float

    @property
    def complete(self) -> bool:
        """True when every planned week had actuals."""
        return len(self.weeks) == self.weeks_planned


def score_plan(
    planned: Sequence[tuple[pd.Timestamp, int, float]], daily_peaks: pd.Series
) -> PlanScore | None:
    """Score planned weekly p50 peaks against actual daily peaks.

    Args:
        planned: ``(week start, days, p50)`` for each week of the plan.
        daily_peaks: the actual daily peaks, indexed by day (UTC midnight); missing days are absent or NaN.

    Returns:
        The score over the weeks whose every day has an actual; None when no week has.
    """
    index = pd.DatetimeIndex(daily_peaks.index)
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    peaks = pd.Series(daily_peaks.to_numpy(dtype="float64"), index=index.normalize()).dropna()
    peaks = peaks.groupby(level=0).max()
    scored = []
    for start, days, p50 in planned:
        wanted = pd.date_range(pd.Timestamp(start), periods=int(days), freq="1D")
        have = peaks.reindex(wanted)
        if have.isna().any():
            continue
        actual = float(have.max())
        if actual == 0.0:
            continue  # no percentage error of a zero peak
        ape = abs(float(p50) - actual) / abs(actual)
        scored.append(WeekScore(pd.Timestamp(start), float(p50), actual, ape))
    if not scored:
        return None
    apes = np.array([w.ape for w in scored])
    return PlanScore(
        weeks_planned=len(planned),
        weeks=tuple(scored),
        mape=float(np.mean(apes) * 100.0),
        within_10=float(np.mean(apes <= TOLERANCES[0] + 1e-12)),
        within_20=float(np.mean(apes <= TOLERANCES[1] + 1e-12)),
    )
