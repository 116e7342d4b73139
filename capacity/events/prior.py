"""The calendar's pooled prior: what a series' learned events say about an event's uplift before its own history.

One or two past occurrences say little about the next one: a holiday's effect on load moves from year to year
(weather, the weekday it falls on, a campaign), so an uplift learned from a single past day must not become a
certainty (the issue that brought this in saw "Christmas x4.31, log-sd 0.01" and 100 % probabilities). Every event
of the calendar with covered past occurrences tells us something, so the levels (each occurrence's mean log ratio to
its normal-day baseline, :mod:`capacity.events.baseline`) are modelled as a two-level normal model:

- an occurrence strays from its event's typical level with sd ``within``: pooled over the events with two or more
  occurrences (when they give three degrees of freedom or more), never below a normal day's noise. When the
  calendar cannot measure it (a year of history: every event seen once), it is guessed from what the series does
  show: how much its events' levels differ from one another, no less than :data:`WITHIN_PER_NOISE` x a normal
  day's noise and no more than :data:`DEFAULT_WITHIN_SD`. A memory series whose events move it by 1-3 % then gets
  a spread of that order, not the 15 % a holiday moves electricity load by;
- the events' typical levels spread around the calendar's ``mean`` with sd ``between`` (the spread of the event means
  less what their own noise explains, at least :data:`MIN_BETWEEN_SD`).

An event's learned level is then shrunk towards the mean by the empirical-Bayes weight
``between^2 / (between^2 + within^2 / k)`` (k its past occurrences), and the next occurrence's log sd is
``within * sqrt(1 + weight / k)``: never below ``within``, however few the occurrences. An event with no past
occurrence gets the prior itself (level ``mean``, sd ``sqrt(within^2 + between^2)``). With a single learned event
the prior is "a normal day" (mean 0) with that event's effect as its spread, which keeps a lone large uplift almost
whole and shrinks a lone small one. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from capacity.events.baseline import occurrence_logs
from capacity.events.calendar import EventOccurrence

#: The largest guess of an occurrence's log-scale spread around its event's level when the calendar has too few
#: repeated events to measure it (a design default, not fitted: an 80 % band of about x0.82..x1.21).
DEFAULT_WITHIN_SD = 0.15
#: The smallest such guess, in units of a normal day's level noise: where ``within`` can be measured it is close to
#: the noise, 1.18-1.43 x on the 5 PJM regions of ../shared/data/real-events (2013-2018, every US holiday), and each
#: region left out gets 1.24-1.30 from the other four (docs/events-and-risk.md).
WITHIN_PER_NOISE = 1.3
#: The smallest spread of the events' levels around the calendar's mean (keeps a little of every event's own level).
MIN_BETWEEN_SD = 0.02
#: Degrees of freedom (repeated occurrences beyond the first, over all events) needed to measure ``within``.
MIN_WITHIN_DOF = 3


@dataclass(frozen=True)
class EventPrior:
    """The calendar's pooled prior of an event's log uplift level (see the module docstring).

    Attributes:
        mean: the typical event's log level (0 = a normal day).
        between: sd of the events' typical levels around ``mean``.
        within: sd of one occurrence around its event's typical level.
        events: how many events of the calendar have a learned level.
        measured: True when ``within`` was measured from repeated occurrences (else the default or the noise).
    """

    mean: float
    between: float
    within: float
    events: int
    measured: bool

    def shrink(self, levels: Sequence[float]) -> tuple[float, float, float]:
        """The event's level after shrinkage, the next occurrence's log sd, and the weight kept.

        The spread of one occurrence is the calendar's ``within``, or the event's own disagreement when its past
        occurrences disagree more (an erratic event is not made as predictable as the calendar's average one).

        Args:
            levels: the levels (mean log ratios) of the event's past occurrences, at least one.
        """
        arr = np.asarray(levels, dtype="float64")
        k = max(1, arr.size)
        within = max(self.within, float(arr.std(ddof=1)) if arr.size >= 2 else 0.0)
        keep = self.between**2 / (self.between**2 + within**2 / k)
        shrunk = self.mean + keep * (float(arr.mean()) - self.mean)
        return shrunk, within * math.sqrt(1.0 + keep / k), keep

    @property
    def spread(self) -> float:
        """The log sd of an event with no past occurrence: its level is the prior's."""
        return math.sqrt(self.within**2 + self.between**2)


def event_levels(
    index: pd.DatetimeIndex,
    logs: np.ndarray,
    calendar: Sequence[EventOccurrence],
    end: pd.Timestamp,
    min_coverage: float,
    service: str | None = None,
) -> dict[str, list[float]]:
    """Each event's past levels (mean log ratio of each covered occurrence that ended by ``end``), by lower-cased
    name; only occurrences that apply to ``service`` when it is given."""
    levels: dict[str, list[float]] = {}
    for occ in sorted(calendar, key=lambda e: e.start):
        if occ.end > end or (service is not None and not occ.applies_to(service)):
            continue
        got = occurrence_logs(index, logs, occ, min_coverage)
        if got is not None:
            levels.setdefault(occ.name.lower(), []).append(float(got[2].mean()))
    return levels


def pooled_prior(levels: dict[str, list[float]], noise: float) -> EventPrior | None:
    """The calendar's prior from every event's past levels (see the module docstring); None without any.

    Args:
        levels: each event's past occurrence levels (:func:`event_levels`).
        noise: a normal day's level noise (the floor of ``within``).
    """
    groups = [np.asarray(v, dtype="float64") for v in levels.values() if v]
    if not groups:
        return None
    squares = sum(float(((g - g.mean()) ** 2).sum()) for g in groups if g.size >= 2)
    dof = sum(g.size - 1 for g in groups if g.size >= 2)
    measured = dof >= MIN_WITHIN_DOF
    means = np.array([g.mean() for g in groups])
    counts = np.array([g.size for g in groups], dtype="float64")
    if measured:
        within = max(math.sqrt(squares / dof), noise)
    else:
        across = float(np.std(means, ddof=1)) if means.size >= 2 else abs(float(means[0]))
        within = max(min(DEFAULT_WITHIN_SD, max(across, WITHIN_PER_NOISE * noise)), noise)
    if means.size >= 2:
        mean = float(np.average(means, weights=counts))
        # What the event means' own noise explains is only subtracted when that noise was measured: a default
        # guess of it must not wipe out a spread the events do show.
        explained = float(np.mean(within**2 / counts)) if measured else 0.0
        between = math.sqrt(max(float(np.var(means, ddof=1)) - explained, MIN_BETWEEN_SD**2))
    else:
        mean, between = 0.0, max(abs(float(means[0])), MIN_BETWEEN_SD)
    return EventPrior(mean=mean, between=between, within=within, events=int(means.size), measured=measured)
