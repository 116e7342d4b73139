"""The event a readiness chart shades when none was asked for (a risk run over the whole horizon): the one the
first likely breach falls in, else the first inside the forecast; only events that apply to the series count."""

from __future__ import annotations

import pandas as pd

from capacity.events.calendar import make_occurrence
from capacity.services.readiness import shaded_event

CALENDAR = (
    make_occurrence("Black Friday", "2026-11-27", "2026-11-30"),
    make_occurrence("Holiday campaign", "2026-12-14", "2026-12-18", 1.5, 2.0, "cart"),
    make_occurrence("Partner launch", "2026-12-03", "2026-12-03", service="search"),
)
START, END = pd.Timestamp("2026-11-13 01:00", tz="UTC"), pd.Timestamp("2027-02-11", tz="UTC")


def test_the_event_the_breach_falls_in_is_shaded() -> None:
    breach = pd.Timestamp("2026-12-14", tz="UTC")
    chosen = shaded_event(CALENDAR, "cart", START, END, breach)
    assert chosen is not None and chosen.name == "Holiday campaign"


def test_without_a_breach_in_an_event_the_first_event_of_the_forecast_is_shaded() -> None:
    for breach in (None, pd.Timestamp("2026-12-10", tz="UTC")):
        chosen = shaded_event(CALENDAR, "cart", START, END, breach)
        assert chosen is not None and chosen.name == "Black Friday"
    # an event of another service never is
    chosen = shaded_event(CALENDAR, "checkout", START, END, pd.Timestamp("2026-12-14 05:00", tz="UTC"))
    assert chosen is not None and chosen.name == "Black Friday"
