"""The breach benchmark's references: how often a window like the test window reached each level, in the past.

A method has skill only if it beats what a planner gets for free from the base rate. Two references:

- ``climatology``: per threshold level and fold, the share of rolling windows (as long as the test window, stepped
  a day apart) whose maximum reached ``level x`` the maximum of the :data:`REFERENCE_DAYS` days before the window,
  pooled over every series of the panel and using only each series' training part before that fold's cutoff;
- ``record_rate``: the same share from the series' own training part (the climatology when it holds no window).

The shares are counted exactly as a case is judged (``>=``, the reference being the maximum of the days before).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

#: Days of history whose maximum sets a window's thresholds (the cases' thresholds are set the same way).
REFERENCE_DAYS = 28


@dataclass(frozen=True)
class WindowCounts:
    """How many past windows of one training part reached each level.

    Attributes:
        hits: per level (in the order given), the windows whose maximum reached ``level x`` the reference maximum.
        windows: how many windows there were.
    """

    hits: tuple[int, ...]
    windows: int


def window_counts(
    train: np.ndarray, window: int, reference: int, step: int, levels: Sequence[float]
) -> WindowCounts:
    """Count the windows ``[s, s + window)`` inside ``train`` with ``reference`` steps before them, ``s`` stepped by
    ``step`` back from the last one that fits, whose maximum reached each level x the reference steps' maximum."""
    y = np.asarray(train, dtype="float64")
    starts = np.arange(len(y) - window, reference - 1, -step)
    if window < 1 or reference < 1 or len(starts) == 0:
        return WindowCounts(tuple(0 for _ in levels), 0)
    ahead = sliding_window_view(y, window).max(axis=1)[starts]
    before = sliding_window_view(y, reference).max(axis=1)[starts - reference]
    return WindowCounts(tuple(int(np.sum(ahead >= level * before)) for level in levels), len(starts))


def climatology(
    counts: Mapping[str, Sequence[WindowCounts]], levels: Sequence[float]
) -> list[list[float | None]]:
    """Per fold (outer) and level (inner): the share of windows that reached the level, pooled over every series.

    Args:
        counts: series name -> one :class:`WindowCounts` per fold (same number of folds for every series).
        levels: the levels the counts were taken at.

    Returns:
        ``[fold][level]`` shares; None for a fold where no series has a window.
    """
    folds = max((len(c) for c in counts.values()), default=0)
    out: list[list[float | None]] = []
    for k in range(folds):
        per_fold = [c[k] for c in counts.values() if len(c) > k]
        total = sum(c.windows for c in per_fold)
        out.append([sum(c.hits[i] for c in per_fold) / total if total else None for i in range(len(levels))])
    return out


def record_rate(counts: WindowCounts, level_index: int, fallback: float | None) -> float | None:
    """The series' own share of windows that reached the level; ``fallback`` (the climatology) without a window."""
    return counts.hits[level_index] / counts.windows if counts.windows else fallback
