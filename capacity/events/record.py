"""Which uplift was applied to an upcoming event occurrence, and the diagnostic line that records it.

A forecast stores its uplifts as one ``uplift:`` line each in its diagnostics (human text, then a JSON payload):
:func:`format_diagnostic` writes it, :func:`parse_diagnostics` reads it back from a stored forecast, for the risk
table's notes and the readiness report.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

HOUR = "hour"
OFFSET = "offset"

LEARNED = "learned"
PLANNER = "planner"
PRIOR = "prior"
UNKNOWN = "unknown"
#: Sources whose level nobody measured on this event: the planner's band or the calendar's pooled prior.
ASSUMED = (PLANNER, PRIOR)

#: Prefix of the diagnostic line that records an uplift.
DIAGNOSTIC_PREFIX = "uplift: "


@dataclass(frozen=True)
class Uplift:
    """The uplift applied (or not) to one upcoming occurrence.

    Attributes:
        event: event name.
        start: occurrence start (UTC).
        end: occurrence end (UTC, exclusive).
        source: ``learned`` (from the event's past occurrences), ``planner`` (a planner's band), ``prior`` (no
            past occurrence: the calendar's pooled prior, :mod:`capacity.events.prior`) or ``unknown`` (none of
            these: nothing applied).
        occurrences: how many past occurrences it was learned from (0 for planner/prior/unknown without history).
        profile: multiplier by hour of day (24 values) or by step since the start (one per step of the window),
            see ``by``; empty when unknown.
        log_sd: log-scale standard deviation of the uplift level, aligned with ``profile``.
        multiplier: the peak hour's multiplier (for tables), None when unknown.
        band: the planner band when one was used.
        by: ``hour`` (profile by hour of day) or ``offset`` (by step since the start: every past occurrence
            spanned the same steps, so each day of a multi-day event keeps its own hour-of-day shape).
        raw: for a learned uplift, the multiplier of its past occurrences' mean level before shrinkage.
        prior: the calendar's pooled prior multiplier it was shrunk towards (or assumed), when there was one.
        prior_events: how many of the calendar's events that prior pools.
    """

    event: str
    start: pd.Timestamp
    end: pd.Timestamp
    source: str
    occurrences: int = 0
    profile: tuple[float, ...] = ()
    log_sd: tuple[float, ...] = ()
    multiplier: float | None = None
    band: tuple[float, float] | None = None
    by: str = "hour"
    raw: float | None = None
    prior: float | None = None
    prior_events: int = 0

    @property
    def assumed(self) -> bool:
        """True when the level was given or assumed, not learned from this event's past (planner band or prior)."""
        return self.source in ASSUMED

    def describe(self) -> str:
        """One human line: which uplift was used."""
        when = f"{self.start:%Y-%m-%d}"
        if self.source == UNKNOWN:
            return (
                f"{self.event} ({when}): unknown uplift (no past occurrence, no learned event to pool, no planner "
                "band)"
            )
        if self.source == PLANNER:
            assert self.band is not None
            return f"{self.event} ({when}): uplift assumed, planner multiplier {self.band[0]:g}x-{self.band[1]:g}x"
        spread = max(self.log_sd) if self.log_sd else 0.0
        if self.source == PRIOR:
            return (
                f"{self.event} ({when}): uplift assumed x{self.multiplier:.2f} (log sd {spread:.2f}), the pooled "
                f"prior of {self.prior_events} learned event{'s' if self.prior_events != 1 else ''}: no past "
                "occurrence; give a planner band with capacity events add NAME --uplift LOW..HIGH"
            )
        line = (
            f"{self.event} ({when}): learned from {self.occurrences} past occurrence"
            f"{'s' if self.occurrences != 1 else ''}, peak-hour x{self.multiplier:.2f} (log sd {spread:.2f})"
        )
        if self.raw is not None and self.prior is not None and self.profile:
            level = math.exp(float(np.mean(np.log(self.profile))))
            if abs(math.log(level / self.raw)) > 0.01:
                line += f"; level x{level:.2f}, shrunk from x{self.raw:.2f} towards the calendar's x{self.prior:.2f}"
        return line


def format_diagnostic(uplift: Uplift) -> str:
    """The diagnostic line that records ``uplift`` (human text, then a JSON payload after `` | ``)."""
    payload = {
        "event": uplift.event,
        "start": uplift.start.isoformat(),
        "end": uplift.end.isoformat(),
        "source": uplift.source,
        "occurrences": uplift.occurrences,
        # The numbers the line prints (multiplier, raw, prior) are kept whole and the profiles to 6 digits: the risk
        # table and the report print the line again from this payload, and a value rounded twice (1.52502 -> 1.525
        # -> "1.52") made them say x1.52 where the forecast's own diagnostic said x1.53.
        "multiplier": uplift.multiplier,
        "band": list(uplift.band) if uplift.band else None,
        "profile": [round(v, 6) for v in uplift.profile],
        "log_sd": [round(v, 6) for v in uplift.log_sd],
        "by": uplift.by,
        "raw": uplift.raw,
        "prior": uplift.prior,
        "prior_events": uplift.prior_events,
    }
    return f"{DIAGNOSTIC_PREFIX}{uplift.describe()} | {json.dumps(payload)}"


def parse_diagnostics(diagnostics: Iterable[str]) -> tuple[Uplift, ...]:
    """Read back the uplifts recorded in a forecast's diagnostics (lines that do not parse are skipped)."""
    out = []
    for line in diagnostics:
        if not line.startswith(DIAGNOSTIC_PREFIX) or " | " not in line:
            continue
        try:
            raw = json.loads(line.rsplit(" | ", 1)[1])
            out.append(
                Uplift(
                    event=str(raw["event"]),
                    start=pd.Timestamp(raw["start"]),
                    end=pd.Timestamp(raw["end"]),
                    source=str(raw["source"]),
                    occurrences=int(raw.get("occurrences", 0)),
                    profile=tuple(float(v) for v in raw.get("profile") or ()),
                    log_sd=tuple(float(v) for v in raw.get("log_sd") or ()),
                    multiplier=None if raw.get("multiplier") is None else float(raw["multiplier"]),
                    band=tuple(raw["band"]) if raw.get("band") else None,
                    by=str(raw.get("by", HOUR)),
                    raw=None if raw.get("raw") is None else float(raw["raw"]),
                    prior=None if raw.get("prior") is None else float(raw["prior"]),
                    prior_events=int(raw.get("prior_events", 0)),
                )
            )
        except (ValueError, KeyError, TypeError):
            continue
    return tuple(out)
