"""The risk row and the fleet ranking: what one series' risk holds, and the order a planner reads them in.

Pure: rows in, a ranked frame out. Kept apart from :mod:`capacity.risk.assess`, which computes the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from capacity.risk.status import BREACH_LIKELY


@dataclass(frozen=True)
class SeriesRisk:
    """The risk of one series in one window."""

    service: str
    metric: str
    threshold: float | None
    status: str
    breach_probability: float | None = None
    first_breach: pd.Timestamp | None = None
    first_breach_early: pd.Timestamp | None = None
    first_breach_late: pd.Timestamp | None = None
    peak_p50: float | None = None
    peak_p90: float | None = None
    peak_p95: float | None = None
    peak_at: pd.Timestamp | None = None
    headroom: float | None = None
    headroom_pct: float | None = None
    instances: int | None = None
    instances_needed: int | None = None
    instances_to_add: int | None = None
    window_start: pd.Timestamp | None = None
    window_end: pd.Timestamp | None = None
    note: str = ""


#: Columns of the ranked risk frame, in order.
RISK_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(SeriesRisk))


def rank(risks: Sequence[SeriesRisk]) -> pd.DataFrame:
    """The fleet ranking: ``breach likely`` first (a row is so by its probability, or by a threshold its last day
    already reached, whose probability may be lower), then by breach probability (highest first), first breach time
    (earliest first) and headroom percent (smallest first); series without a probability go last in each."""
    frame = pd.DataFrame(
        [{c: getattr(r, c) for c in RISK_COLUMNS} for r in risks], columns=list(RISK_COLUMNS)
    )
    if frame.empty:
        return frame
    for col in (
        "first_breach",
        "first_breach_early",
        "first_breach_late",
        "peak_at",
        "window_start",
        "window_end",
    ):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    key = pd.DataFrame(
        {
            "s": frame["status"] != BREACH_LIKELY,
            "p": -pd.to_numeric(frame["breach_probability"], errors="coerce").fillna(-1.0),
            "t": frame["first_breach"].fillna(pd.Timestamp.max.tz_localize("UTC")),
            "h": pd.to_numeric(frame["headroom_pct"], errors="coerce").fillna(np.inf),
        }
    )
    order = key.sort_values(["s", "p", "t", "h"], kind="mergesort").index
    return frame.loc[order].reset_index(drop=True)
