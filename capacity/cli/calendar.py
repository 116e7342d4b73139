"""``capacity events import | list``: the peak-event calendar from CSV files and built-in holiday calendars."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
import pandas as pd

from capacity.cli.common import console, db_option, open_store
from capacity.errors import InvalidConfig, InvalidInput
from capacity.events import EventOccurrence, parse_events_csv
from capacity.schema import validate_name

if TYPE_CHECKING:
    from capacity.store import Store

#: The largest events file read (a calendar is small; anything bigger is a mistake).
MAX_EVENTS_BYTES = 10 * 1024 * 1024


@click.group("events")
def events() -> None:
    """The peak-event calendar: import occurrences (CSV or country holidays) and list them.

    \b
    Examples:
      capacity events import ../shared/data/events-us.csv
      capacity events import --holidays US --years 2024-2027
      capacity events list
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


@events.command("import")
@click.argument("file", required=False, type=click.Path(path_type=Path))
@click.option(
    "--holidays", "country", metavar="CODE", help="Import a country's public holidays (ISO code, e.g. US)."
)
@click.option("--years", default=None, help="Years of holidays to import: 2024-2027, 2025 or 2024,2026.")
@click.option("--subdiv", default=None, help="Subdivision (state/province) code for --holidays.")
@click.option(
    "--service", default=None, help="Scope the imported holidays to one service (default: the fleet)."
)
@db_option
def import_cmd(
    file: Path | None,
    country: str | None,
    years: str | None,
    subdiv: str | None,
    service: str | None,
    db: str | None,
) -> None:
    """Add occurrences from a CSV file or a country's holidays, in one transaction (re-importing updates them).

    \b
    Examples:
      capacity events import events.csv
      capacity events import --holidays US --years 2024-2027
    """
    from capacity.holidays_calendar import holiday_events, parse_years

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
        occurrences = holiday_events(str(country), parse_years(years), subdiv=subdiv, service=service)
        source = "holidays"
    store = open_store(db)
    before = store.calendar_digests()
    n = store.add_events(occurrences, source=source)
    names = sorted({o.name for o in occurrences})
    console.print(
        f"imported {n} occurrences of {len(names)} events from {file or f'holidays {country} {years}'}"
    )
    report_stale(store, before)


def report_stale(store: Store, before: dict[tuple[str, str], str | None]) -> None:
    """Say for how many series a calendar write changed the events, and how many forecasts it made stale.

    Args:
        store: the store written to.
        before: ``store.calendar_digests()`` from before the write.
    """
    after = store.calendar_digests()
    changed = {key for key, digest in after.items() if before.get(key, digest) != digest}
    if not changed:
        console.print("no series' events changed: no forecast was made stale")
        return
    stale = [key for key in store.calendar_stale_series() if key in changed]
    console.print(
        f"the events of {len(changed)} series changed; forecasts now stale: {len(stale)} "
        "(refresh them with: capacity forecast --all --stale)"
    )


@events.command("list")
@click.option("--name", default=None, help="Only this event.")
@click.option("--after", default=None, help="Only occurrences ending after this date (e.g. 2026-11-01).")
@db_option
def list_cmd(name: str | None, after: str | None, db: str | None) -> None:
    """List the stored occurrences: name, window, planner multiplier band and scope.

    \b
    Example:
      capacity events list --after 2026-11-01
    """
    from capacity.schema import parse_timestamp

    store = open_store(db)
    occurrences = store.list_events(name)
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
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} event occurrences")
    for col in ("event", "start (UTC)", "last (UTC)", "multiplier", "scope"):
        table.add_column(col, no_wrap=True)
    for row in rows:
        table.add_row(*row)
    # Wide enough not to fold when stdout is a pipe.
    (console if console.is_terminal else Console(highlight=False, width=120)).print(table)


COMMANDS = [events]
