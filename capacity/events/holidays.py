"""Built-in country holiday calendars (the ``holidays`` package) as peak-event occurrences, with retail days.

Each public holiday becomes a whole-day occurrence (``[day 00:00, next day 00:00)`` UTC) named as the ``holidays``
package names it, e.g. ``Thanksgiving Day``; several holidays on one day are joined with ``; `` by the package.
Public holidays leave out the days retail traffic peaks on, so the US calendar adds them (:data:`RETAIL_DAYS`):
Black Friday and Cyber Monday, counted from Thanksgiving (the fourth Thursday of November). Pure: the package and
this module hold the rules, nothing is downloaded.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

import holidays
import pandas as pd

from capacity.errors import InvalidConfig, describe_value
from capacity.events.calendar import EventOccurrence, make_occurrence

MIN_YEAR = 1990
MAX_YEAR = 2099

#: Retail peak days that are not public holidays, by country: (name, days after Thanksgiving).
RETAIL_DAYS: dict[str, tuple[tuple[str, int], ...]] = {"US": (("Black Friday", 1), ("Cyber Monday", 4))}


def thanksgiving(year: int) -> dt.date:
    """US Thanksgiving: the fourth Thursday of November."""
    first = dt.date(year, 11, 1)
    return first + dt.timedelta(days=(3 - first.weekday()) % 7 + 21)


def retail_days(country: str, years: Iterable[int]) -> list[tuple[dt.date, str]]:
    """The retail peak days of ``country`` in ``years`` (none for a country without an entry in
    :data:`RETAIL_DAYS`), as (day, name)."""
    days = RETAIL_DAYS.get(country.strip().upper(), ())
    return [(thanksgiving(y) + dt.timedelta(days=offset), name) for y in years for name, offset in days]


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
    country: str,
    years: Iterable[int],
    subdiv: str | None = None,
    service: str | None = None,
    *,
    retail: bool = True,
) -> tuple[EventOccurrence, ...]:
    """The public holidays of ``country`` (ISO 3166 code, e.g. ``US``) in ``years`` as event occurrences.

    Args:
        country: ISO 3166-1 alpha-2 code supported by the ``holidays`` package.
        years: the years to list.
        subdiv: optional subdivision (state/province) code.
        service: scope the occurrences to one service (None: the whole fleet).
        retail: add the country's retail peak days (:data:`RETAIL_DAYS`: Black Friday and Cyber Monday in the US).

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
    wanted = sorted(set(years))
    calendar = holidays.country_holidays(code, subdiv=subdiv, years=wanted)
    days = [(day, str(name)) for day, name in calendar.items()]
    if retail:
        days += retail_days(code, wanted)
    out = []
    for day, name in sorted(days):
        start = pd.Timestamp(day).tz_localize("UTC")
        out.append(
            make_occurrence(
                # "/" cannot be addressed in a URL path (validate_event_name refuses it); holiday names
                # carry it in dates ("Day off (substituted from 01/07/2024)")
                str(name).replace("/", "-")[:128],
                start,
                start + pd.Timedelta(days=1),
                service=service,
                where=f"holidays {code} {day}",
            )
        )
    return tuple(out)
