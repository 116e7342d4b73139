"""``capacity events import | add | list | delete``: the peak-event calendar from CSV files, built-in holiday calendars
and single occurrences."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
import pandas as pd
from rich.table import Table

from capacity.cli.common import EXIT_CODES_EPILOG, console, db_option, open_store
from capacity.errors import InvalidConfig, InvalidInput, UnknownEvent
from capacity.events.calendar import EventOccurrence, make_occurrence, parse_events_csv, parse_uplift
from capacity.events.holidays import holiday_events, parse_years
from capacity.events.names import lookup_event_name
from capacity.schema import parse_timestamp, validate_name
from capacity.services.staleness import calendar_write_effect

if TYPE_CHECKING:
    from capacity.store import Store

#: The largest events file read (a calendar is small; anything bigger is a mistake).
MAX_EVENTS_BYTES = 10 * 1024 * 1024
#: Start dates named in the error for a delete that matches nothing (one line, even for a long holiday calendar).
SHOWN_DATES = 8


@click.group("events", epilog=EXIT_CODES_EPILOG)
def events() -> None:
    """The peak-event calendar: import occurrences (CSV or country holidays), add one, list and delete them.

    \b
    Examples:
      capacity events import events.csv
      capacity events import --holidays US --years 2024-2027
      capacity events add "Partner launch" --start 2026-12-03 --uplift 1.3..1.8
      capacity events list
      capacity events delete "Black Friday" --start 2024-11-29
    """


def read_events_file(path: Path) -> tuple[EventOccurrence, ...]:
    """Read and validate an events CSV (``event,start,end[,multiplier_low,multiplier_high][,service]``).

    Raises:
        InvalidConfig: when the file is missing, too big, not text, or a row is bad (named by its line).
    """
    try:
        if path.stat().st_size > MAX_EVENTS_BYTES:
            raise InvalidConfig(f"{path.name}: larger than {MAX_EVENTS_BYTES // 2**20} MiB", field="file")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidConfig(f"events file {path} does not exist", field="file") from None
    except IsADirectoryError:
        raise InvalidConfig(f"events file {path} is a folder", field="file") from None
    except UnicodeDecodeError:
        raise InvalidConfig(f"{path.name}: not a UTF-8 text file", field="file") from None
    if not text.strip():
        raise InvalidConfig(f"{path.name}: the file is empty", field="file")
    return parse_events_csv(text, source=path.name)


@events.command("import", epilog=EXIT_CODES_EPILOG)
@click.argument("file", required=False, type=click.Path(path_type=Path))
@click.option(
    "--holidays",
    "country",
    metavar="CODE",
    help="Import a country's public holidays (ISO code, e.g. US); US adds Black Friday and Cyber Monday.",
)
@click.option("--years", default=None, help="Years of holidays to import: 2024-2027, 2025 or 2024,2026.")
@click.option("--subdiv", default=None, help="Subdivision (state/province) code for --holidays.")
@click.option(
    "--retail/--no-retail",
    default=True,
    show_default=True,
    help="With --holidays: add the retail peak days that are not public holidays (US: Black Friday, Cyber Monday).",
)
@click.option(
    "--service", default=None, help="Scope the imported holidays to one service (default: the fleet)."
)
@db_option
def import_cmd(
    file: Path | None,
    country: str | None,
    years: str | None,
    subdiv: str | None,
    retail: bool,
    service: str | None,
    db: str | None,
) -> None:
    """Add occurrences from a CSV file or a country's holidays, in one transaction (re-importing updates them).

    \b
    CSV columns (a header row; dates or timestamps in UTC, 2026-11-27 or 2026-11-27T06:00:00Z):
      event            the event's name, what --event matches (any case; required)
      start            first day or instant of the occurrence (required)
      end              last day (inclusive: a date-only or 23:59 end includes that day) or the
                       instant it ends (required)
      uplift           optional planner band: LOW..HIGH (1.3..1.8) or one multiplier (1.5)
      multiplier_low   optional, the band's low end (instead of uplift)
      multiplier_high  optional, the band's high end
      service          optional: only this service (empty = the whole fleet)
    List past occurrences too: an event with past occurrences in a series' history gets the uplift
    learned from them; one without gets the band when given, else the calendar's pooled prior (said
    as assumed in the risk table).

    \b
    Example file:
      event,start,end,uplift,service
      Black Friday,2025-11-28,2025-11-30,,
      Black Friday,2026-11-27,2026-11-29,,
      Partner launch,2026-12-03,2026-12-04,1.3..1.8,search

    \b
    Examples:
      capacity events import events.csv
      capacity events import --holidays US --years 2024-2027
    """

    if (file is None) == (country is None):
        raise InvalidInput("give an events FILE or --holidays CODE (one of them)", field="file")
    if file is not None:
        occurrences = read_events_file(file)
        source = "csv"
    else:
        if not years:
            raise InvalidInput("--holidays needs --years, e.g. --years 2024-2027", field="years")
        if service is not None:
            validate_name(service, "service")
        occurrences = holiday_events(
            str(country), parse_years(years), subdiv=subdiv, service=service, retail=retail
        )
        source = "holidays"
    store = open_store(db)
    before = store.events.calendar_digests()
    n = store.events.add_events(occurrences, source=source)
    names = sorted({o.name for o in occurrences})
    console.print(
        f"imported {n} occurrences of {len(names)} events from {file or f'holidays {country} {years}'}"
    )
    report_stale(store, before)


@events.command("add")
@click.argument("name")
@click.option("--start", required=True, metavar="DATE", help="First day (or instant, UTC) of the occurrence.")
@click.option(
    "--end",
    default=None,
    metavar="DATE",
    help="Last day, inclusive (or the instant it ends); default: --start's day.",
)
@click.option(
    "--uplift",
    default=None,
    metavar="LOW..HIGH",
    help="Planner band of the multiplier, e.g. 1.3..1.8 (or 1.5).",
)
@click.option("--service", default=None, help="Only this service (default: the whole fleet).")
@db_option
def add_cmd(
    name: str, start: str, end: str | None, uplift: str | None, service: str | None, db: str | None
) -> None:
    """Add one occurrence of an event (re-adding the same start updates it), optionally with a planner band.

    Without a band, an event with no past occurrence in a series' history gets the calendar's pooled prior; a
    band (read as the multiplier's 80 % range) says what the planner expects instead.

    \b
    Examples:
      capacity events add "Partner launch" --start 2026-12-03 --uplift 1.3..1.8
      capacity events add "Summer sale" --start 2026-07-01 --end 2026-07-03 --uplift 2 --service shop
    """
    if end is None and len(start.strip()) > 10:
        raise InvalidInput(
            "--end is needed when --start is a timestamp, e.g. --end 2026-12-04T06:00", field="end"
        )
    band = parse_uplift(uplift, "uplift", "--uplift") if uplift is not None else None
    occurrence = make_occurrence(
        name,
        start,
        end if end is not None else start.strip(),
        band[0] if band else None,
        band[1] if band else None,
        service,
        where="capacity events add",
    )
    store = open_store(db)
    before = store.events.calendar_digests()
    store.events.add_events([occurrence], source="cli")
    last = occurrence.end - pd.Timedelta(seconds=1)
    what = f", planner band {band[0]:g}x-{band[1]:g}x" if band else ""
    console.print(
        f"added {occurrence.name} {occurrence.start:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC"
        f" ({occurrence.service or 'fleet'}){what}",
        soft_wrap=True,
    )
    report_stale(store, before)


def report_stale(store: Store, before: dict[tuple[str, str], str | None]) -> None:
    """Say for how many series a calendar write changed the events, and how many forecasts it made stale.

    Args:
        store: the store written to.
        before: ``store.events.calendar_digests()`` from before the write.
    """
    changed, stale = calendar_write_effect(store, before)
    if not changed:
        console.print("no series' events changed: no forecast was made stale")
        return
    console.print(
        f"the events of {len(changed)} series changed; forecasts now stale: {len(stale)} "
        "(refresh them with: capacity forecast --all --stale)"
    )


@events.command("list", epilog=EXIT_CODES_EPILOG)
@click.option("--name", default=None, help="Only this event.")
@click.option("--after", default=None, help="Only occurrences ending after this date (e.g. 2026-11-01).")
@db_option
def list_cmd(name: str | None, after: str | None, db: str | None) -> None:
    """List the stored occurrences: name, window, planner multiplier band and scope.

    \b
    Example:
      capacity events list --after 2026-11-01
    """

    store = open_store(db)
    occurrences = store.events.list_events(name)
    if after:
        since = parse_timestamp(after, "after")
        occurrences = [o for o in occurrences if o.end > since]
    if not occurrences:
        console.print("no events stored; import some with: capacity events import FILE")
        return
    rows = []
    for o in occurrences:
        last = o.end - pd.Timedelta(seconds=1)
        band = "-"
        if o.multiplier_low is not None:
            band = f"{o.multiplier_low:g}x-{o.multiplier_high:g}x"
        rows.append(
            (o.name, f"{o.start:%Y-%m-%d %H:%M}", f"{last:%Y-%m-%d %H:%M}", band, o.service or "fleet")
        )

    table = Table(title=f"{len(rows)} event occurrences")
    for col in ("event", "start (UTC)", "last (UTC)", "multiplier", "scope"):
        table.add_column(col, no_wrap=True)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def parse_day(value: str, field: str) -> dt.date:
    """A calendar date given as ``YYYY-MM-DD``.

    Raises:
        InvalidInput: naming the field and echoing the value.
    """
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"--{field} must be a date like 2026-11-27, got {value!r}", field=field) from None


@events.command("delete", epilog=EXIT_CODES_EPILOG)
@click.argument("name")
@click.option(
    "--service", default=None, help="Only the occurrences scoped to this service (not fleet-wide ones)."
)
@click.option(
    "--start", "start", default=None, metavar="DATE", help="Only the occurrences starting on this UTC date."
)
@click.option(
    "--yes", "-y", is_flag=True, help="Do not ask for confirmation (needed when stdin is not a terminal)."
)
@db_option
def delete_cmd(name: str, service: str | None, start: str | None, yes: bool, db: str | None) -> None:
    """Delete an event's occurrences (all, or one service's, or those starting on a date) in one transaction.

    Forecasts made with the deleted occurrences become stale; refresh them with capacity forecast --all --stale.

    \b
    Examples:
      capacity events delete "Black Friday"
      capacity events delete "Black Friday" --start 2024-11-29 --yes
      capacity events delete Launch --service checkout
    """
    name = lookup_event_name(name, "event")
    if service is not None:
        validate_name(service, "service")
    start_day = parse_day(start, "start") if start is not None else None
    store = open_store(db)
    every = store.events.list_events(name)
    if not every:
        known = sorted({o.name for o in store.events.list_events()})
        raise UnknownEvent(
            f"unknown event {name!r}; known events: "
            f"{', '.join(known) or 'none (import some with capacity events import)'}",
            field="event",
        )
    name = every[0].name  # as stored
    matching = store.events.list_events(name, service=service, start_day=start_day)
    only = (f" for service {service!r}" if service else "") + (
        f" starting on {start_day.isoformat()}" if start_day else ""
    )
    if not matching:
        scopes = ", ".join(sorted({o.service or "fleet-wide" for o in every}))
        days = sorted({f"{o.start:%Y-%m-%d}" for o in every})
        starts = ", ".join(days[:SHOWN_DATES]) + (
            f" and {len(days) - SHOWN_DATES} more" if len(days) > SHOWN_DATES else ""
        )
        raise UnknownEvent(
            f"no occurrence of event {name!r}{only}; it has {len(every)} (scopes: {scopes}; starting on: {starts})",
            field="event",
        )
    what = f"{len(matching)} of the {len(every)} occurrences of event {name!r}{only}"
    if not yes:
        if not sys.stdin.isatty():
            raise InvalidInput(
                f"not deleting {what}: stdin is not a terminal to confirm on; add --yes", field="yes"
            )
        if not click.confirm(f"delete {what}?", default=False):
            console.print("nothing deleted")
            raise click.exceptions.Exit(1)
    before = store.events.calendar_digests()
    n = store.events.delete_event(name, service=service, start_day=start_day)
    console.print(f"deleted {n} occurrences of event {name!r}{only}")
    report_stale(store, before)


COMMANDS = [events]
