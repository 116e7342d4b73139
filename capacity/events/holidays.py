"""Built-in country holiday calendars (the ``holidays`` package) as peak-event occurrences.

Each public holiday becomes a whole-day occurrence (``[day 00:00, next day 00:00)`` UTC) named as the ``holidays``
package names it, e.g. ``Thanksgiving Day``; several holidays on one day are joined with ``; `` by the package.
Pure: the package holds the rules, nothing is downloaded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import holidays
import pandas as pd

from capacity.errors import InvalidConfig, describe_value
from capacity.events.calendar import EventOccurrence, make_occurrence

MIN_YEAR = 1990
MAX_YEAR = 2099


def parse_years(text: str) -> tuple[int, ...]:
    """Parse ``2024-2027``, ``2025`` or ``2024,2026`` into the years it names.

    Raises:
        InvalidConfig: naming ``years`` when the text is not a year range inside 1990..2099 (at most 50 years).
    """
    years: set[int] = set()
    for part in str(text).split(","):
        match = re.fullmatch(r"\s*(\d{4})\s*(?:-\s*(\d{4})\s*)?", part)
        if not match:
            raise InvalidConfig(
                f"years must look like 2024-2027 or 2025, got {describe_value(text)}", field="years"
            )
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if not MIN_YEAR <= first <= last <= MAX_YEAR:
            raise InvalidConfig(
                f"years must be ascending within {MIN_YEAR}..{MAX_YEAR}, got {describe_value(text)}",
                field="years",
            )
        years.update(range(first, last + 1))
    if len(years) > 50:
        raise InvalidConfig(f"at most 50 years at once, got {len(years)}", field="years")
    return tuple(sorted(years))


def holiday_events(
    country: str, years: Iterable[int], subdiv: str | None = None, service: str | None = None
) -> tuple[EventOccurrence, ...]:
    """The public holidays of ``country`` (ISO 3166 code, e.g. ``US``) in ``years`` as event occurrences.

    Args:
        country: ISO 3166-1 alpha-2 code supported by the ``holidays`` package.
        years: the years to list.
        subdiv: optional subdivision (state/province) code.
        service: scope the occurrences to one service (None: the whole fleet).

    Returns:
        Whole-day occurrences sorted by start.

    Raises:
        InvalidConfig: naming the country or subdivision when the package does not know it.
    """

    code = str(country).strip().upper()
    supported = holidays.list_supported_countries()
    if code not in supported:
        raise InvalidConfig(
            f"country must be an ISO code the holidays package supports (e.g. US, GB, DE), got {describe_value(country)}",
            field="country",
        )
    if subdiv is not None and subdiv not in supported[code]:
        raise InvalidConfig(
            f"subdivision {describe_value(subdiv)} is not known for {code} "
            f"(known: {', '.join(supported[code][:12])}{' ...' if len(supported[code]) > 12 else ''})",
            field="subdiv",
        )
    calendar = holidays.country_holidays(code, subdiv=subdiv, years=sorted(set(years)))
    out = []
    for day, name in sorted(calendar.items()):
        start = pd.Timestamp(day).tz_localize("UTC")
        out.append(
            make_occurrence(
                str(name)[:128],
                start,
                start + pd.Timedelta(days=1),
                service=service,
                where=f"holidays {code} {day}",
            )
        )
    return tuple(out)
