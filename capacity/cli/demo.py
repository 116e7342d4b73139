"""``capacity demo``: the main job on the bundled sample fleet, start to finish.

Generates the sample fleet when it is missing, loads it with its fleet config into an embedded SQLite database,
forecasts every series through the next peak event with the automatic engine, prints the ranked risk table and
writes the readiness report.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import click
import pandas as pd

from capacity.cli.common import EXIT_CODES_EPILOG, EXIT_FAILED, console, open_store
from capacity.cli.forecasting import forecast_command, horizon_through
from capacity.cli.risk import report_cmd, risks_cmd
from capacity.config import load_fleet_config
from capacity.errors import SourceError
from capacity.events.calendar import EventOccurrence
from capacity.sources.files import read_history

DEFAULT_DATA = Path("data/fleet/history.csv")
DEFAULT_CONFIG = Path("data/fleet.toml")
GENERATOR = Path("data/generate_fleet.py")


def next_peak_event(calendar: tuple[EventOccurrence, ...], after: pd.Timestamp) -> EventOccurrence | None:
    """The first fleet-wide event occurrence that starts after ``after`` (the end of history)."""
    upcoming = sorted((e for e in calendar if e.start > after and e.service is None), key=lambda e: e.start)
    return upcoming[0] if upcoming else None


@click.command("demo", epilog=EXIT_CODES_EPILOG)
@click.option(
    "--data",
    "data_path",
    type=click.Path(path_type=Path),
    default=DEFAULT_DATA,
    show_default=True,
    help="History file or folder of the sample fleet.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=DEFAULT_CONFIG,
    show_default=True,
    help="Fleet config (thresholds, capacity, events).",
)
@click.option(
    "--db", default=".demo/capacity.db", show_default=True, help="Database for the demo (SQLite file or URL)."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path(".demo/report"),
    show_default=True,
    help="Folder for the readiness report.",
)
@click.option("--workers", type=int, default=2, show_default=True, help="Forecast worker processes.")
@click.pass_context
def demo(
    ctx: click.Context, data_path: Path, config_path: Path, db: str, out_dir: Path, workers: int
) -> None:
    """Run the main job on the bundled sample fleet: load, forecast, rank breach risks, write the report.

    \b
    Example (from a clone of the repository; `make demo` does exactly this):
      capacity demo --db .demo/capacity.db --out .demo/report
    """
    started = time.perf_counter()
    if not data_path.exists():
        if data_path == DEFAULT_DATA and GENERATOR.exists():
            console.print(f"generating the sample fleet with {GENERATOR} ...")
            subprocess.run([sys.executable, str(GENERATOR), "--out", str(data_path.parent)], check=True)
        else:
            raise SourceError(
                f"{data_path} does not exist; run the demo from the repository root", field="data"
            )
    config = load_fleet_config(config_path)
    # The sample fleet repeats some rows exactly, as real exports do; it has no conflicting values to resolve.
    history, repeats = read_history(data_path)
    store = open_store(db, create=True)
    report = store.series.ingest(history)
    store.series.configure_series(config.series)
    store.events.add_events(config.events, source="config")
    console.print(
        f"[1/4] loaded {report.rows + repeats:,} rows into {report.series} series and {len(config.events)} event "
        f"occurrences ({time.perf_counter() - started:.1f}s; {repeats:,} exact repeats stored once)"
    )

    history_end = pd.Timestamp(history["ts"].max())
    event = next_peak_event(config.events, history_end)
    horizon = horizon_through(event.end, history_end) if event is not None else "14d"
    keys = [(s.service, s.metric) for s in store.series.list_series()]

    console.print(
        f"[2/4] forecasting {len(keys)} series {horizon} ahead (through {event.name if event else 'the horizon'}) ..."
    )
    outcomes = forecast_command(None, None, True, horizon, workers, None, False, db)

    console.print(f"[3/4] breach risk before and during {event.name if event else 'the horizon'}")
    ctx.invoke(risks_cmd, event=event.name if event else None, db=db)

    if event is not None:
        console.print("[4/4] readiness report")
        ctx.invoke(report_cmd, event=event.name, out_dir=out_dir, db=db)

    console.print(f"\ndone in {time.perf_counter() - started:.0f}s. database: {store.path or store.url}")
    if event is not None:
        console.print(f"readiness report: {out_dir / 'report.html'}")
    console.print(f"start the API on it:  capacity serve --db {db}   (or: make serve)")
    failed = sum(1 for o in outcomes if not o.ok)
    if failed:
        console.print(f"{failed} series failed to forecast (listed above)")
        raise click.exceptions.Exit(EXIT_FAILED)


COMMANDS = [demo]
