"""``capacity events import | list | delete``: the peak-event calendar from CSV files and built-in holiday calendars."""

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
from capacity.events.calendar import EventOccurrence, parse_events_csv
from capacity.events.holidays import holiday_events, parse_years
from capacity.schema import parse_timestamp, validate_event_name, validate_name
from capacity.services.staleness import calendar_write_effect

if TYPE_CHECKING:
    from capacity.store import Store

#: The largest events file read (a calendar is small; anything bigger is a mistake).
MAX_EVENTS_BYTES = 10 * 1024 * 1024
#: Start dates named in the error for a delete that matches nothing (one line, even for a long holiday calendar).
SHOWN_DATES = 8


@click.group("events", epilog=EXIT_CODES_EPILOG)
def events() -> None:
    """The peak-event calendar: import occurrences (CSV or country holidays), list and delete them.

    \b
    Examples:
      capacity events import events.csv
      capacity events import --holidays US --years 2024-2027
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
    The CSV has a header and one row per occurrence:
      event,start,end[,multiplier_low,multiplier_high][,service]
    \b
      event            the name (what --event matches, any case)
      start, end       UTC dates or times (2026-11-27, 2026-11-27T06:00:00Z); a date-only
                       or 23:59 end includes that day
      multiplier_low,  optional planner band for an event with no past occurrence in the
      multiplier_high  history ("marketing expects 2x to 3x"); one alone is used for both
      service          optional: the one service it applies to (empty: the whole fleet)
    List past occurrences too: each event's uplift is learned from them.

    \b
    Example file:
      event,start,end,multiplier_low,multiplier_high,service
      Black Friday,2025-11-28,2025-11-30,,,
      Black Friday,2026-11-27,2026-11-29,,,
      Partner launch,2026-12-03,2026-12-03,1.8,2.5,search

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
    name = validate_event_name(name, "event")
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
