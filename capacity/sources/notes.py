"""Notes on the shape of ingested history that no validation refuses but that change what the forecasts mean.

Two shapes are valid yet read wrongly without a word: a percent metric exported as a fraction (CPU 0.42 for 42%),
whose threshold of 80 then never comes near, and samples far coarser than the engine's hourly step (a daily or
weekly export), whose hours in between are interpolated, not measured. ``capacity ingest`` prints these notes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from capacity.forecast.regularize import MAX_SPACING_STEPS
from capacity.schema import METRIC, PERCENT, SERVICE, TS, VALUE, format_days, unit_for

#: The engine's step: samples spaced wider than this (by the median) leave hours to interpolate.
ENGINE_STEP = pd.Timedelta(hours=1)
#: Coarser than this many engine steps is worth a note (a 90-minute export is not).
COARSE_FACTOR = 2


def median_spacing(index: pd.DatetimeIndex) -> pd.Timedelta | None:
    """The median time between distinct samples (in any order); None with fewer than two."""
    gaps = np.diff(np.unique(index.asi8))
    return pd.Timedelta(int(np.median(gaps)), unit="ns") if len(gaps) else None


def shape_notes(history: pd.DataFrame) -> list[str]:
    """One line per series whose values look like a fraction of a percent metric, or whose samples are spaced
    more than :data:`COARSE_FACTOR` hours apart (median).

    Args:
        history: a validated history frame (``service, metric, ts, value``).
    """
    notes = []
    for (service, metric), group in history.groupby([SERVICE, METRIC], sort=True):
        name = f"{service}/{metric}"
        values = group[VALUE]
        if unit_for(str(metric)) == PERCENT and len(values) > 1 and 0 < values.max() <= 1:
            notes.append(
                f"{name}: every value lies between 0 and 1, but {metric!r} is a percent (0..100): if it is a "
                "fraction, multiply by 100, or a threshold like 80 is never reached"
            )
        spacing = median_spacing(pd.DatetimeIndex(group[TS]))
        if spacing is not None and spacing > MAX_SPACING_STEPS * ENGINE_STEP:
            notes.append(
                f"{name}: samples are {format_days(spacing)} apart (median): too coarse for the hourly forecasts "
                "(capacity forecast and risks will refuse it; capacity plan, on daily peaks, takes it)"
            )
        elif spacing is not None and spacing > COARSE_FACTOR * ENGINE_STEP:
            notes.append(
                f"{name}: samples are {format_days(spacing)} apart (median); forecasts are hourly, so the "
                "hours between samples are interpolated: each sample is read as one hour's value"
            )
    return notes
