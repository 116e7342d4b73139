"""An uplift read back from a stored forecast's diagnostics is described in the same words and numbers as the
forecast recorded it: the risk table and the readiness report print the line again from the payload, next to the
API's forecast that shows the recorded line."""

from __future__ import annotations

import pandas as pd
import pytest

from capacity.events.record import (
    DIAGNOSTIC_PREFIX,
    LEARNED,
    PRIOR,
    Uplift,
    format_diagnostic,
    parse_diagnostics,
)


@pytest.mark.parametrize("value", [1.5250003, 1.52502, 1.6478, 2.0049999, 2.005001, 0.985001])
@pytest.mark.parametrize("source", [LEARNED, PRIOR])
def test_the_line_read_back_equals_the_line_recorded(value: float, source: str) -> None:
    # the calendar's prior and the raw level sit on a rounding edge (1.52502 once printed x1.53 in the forecast's
    # diagnostic and x1.52 in the risk note), the profile shrunk between them
    profile = tuple(1.6 + 0.0123457 * (i % 24) for i in range(96))
    uplift = Uplift(
        event="Black Friday",
        start=pd.Timestamp("2026-11-27", tz="UTC"),
        end=pd.Timestamp("2026-12-01", tz="UTC"),
        source=source,
        occurrences=1 if source == LEARNED else 0,
        profile=profile,
        log_sd=(0.1888,) * 96,
        multiplier=value + 1.0,
        by="offset",
        raw=value + 0.1,
        prior=value,
        prior_events=3,
    )
    line = format_diagnostic(uplift)
    recorded = line[len(DIAGNOSTIC_PREFIX) :].rsplit(" | ", 1)[0]
    (back,) = parse_diagnostics([line])
    assert back.describe() == recorded == uplift.describe()
