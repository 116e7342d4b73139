"""``capacity ingest`` and ``capacity series``: load history and fleet config, list what is stored."""

from __future__ import annotations

import time
from pathlib import Path

import click

from capacity.cli.common import console, db_option, fmt, open_store, print_table
from capacity.config import load_fleet_config
from capacity.services.accuracy import score_ingested
from capacity.sources.files import read_path


class IngestGroup(click.Group):
    """``capacity ingest PATH`` reads files; ``capacity ingest SOURCE ...`` runs a named source (e.g. prometheus)."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands:
            args = ["files", *args]
        return super().resolve_command(ctx, args)


@click.group("ingest", cls=IngestGroup, invoke_without_command=False)
def ingest() -> None:
    """Load history into the database: from files (``capacity ingest PATH``) or a named source.

    \b
    Examples:
      capacity ingest data/fleet/history.csv --config data/fleet.toml
      capacity ingest ../shared/data/real --metric value
    """


@ingest.command("files")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--metric",
    default="value",
    show_default=True,
    help="Metric name for timestamp,value files named SERVICE.csv.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    help="Fleet config (TOML): thresholds, capacity, events.",
)
@db_option
def ingest_files(path: Path, metric: str, config_path: Path | None, db: str | None) -> None:
    """Load history from a CSV/Parquet file or a folder of them, in one transaction.

    A long file has columns timestamp,service,metric,value. A folder may hold timestamp,value files named
    SERVICE__METRIC.csv (or SERVICE.csv with --metric). Re-ingesting the same rows stores nothing twice; a file
    with one bad row stores nothing and names the row.

    \b
    Example:
      capacity ingest data/fleet/history.csv --config data/fleet.toml
      capacity ingest ../shared/data/real --metric value
    """
    started = time.perf_counter()
    config = load_fleet_config(config_path) if config_path else None
    history = read_path(path, metric=metric)
    store = open_store(db)
    report = store.series.ingest(history)
    if config is not None:
        store.series.configure_series(config.series)
        store.events.add_events(config.events, source="config")
    scored = score_ingested(store, history)  # the forecast ledger: runs these actuals reach are rescored
    took = time.perf_counter() - started
    console.print(
        f"ingested {report.rows:,} rows into {report.series} series "
        f"({report.inserted:,} new, {report.updated:,} already stored or replaced, "
        f"{report.created_series} new series) in {took:.1f}s"
        + (f"; scored {scored} stored forecast(s) against them" if scored else "")
    )
    if config is not None:
        console.print(
            f"applied {len(config.series)} series settings and {len(config.events)} event occurrences from {config_path}"
        )
    console.print(f"database: {store.url}")


@click.command("series")
@db_option
def series_cmd(db: str | None) -> None:
    """List the stored series with their sample counts, spans, step, last value and threshold.

    \b
    Example:
      capacity series --db demo.db
    """
    store = open_store(db)
    rows = []
    for s in store.series.list_series():
        rows.append(
            (
                s.service,
                s.metric,
                f"{s.samples:,}",
                s.first_ts.strftime("%Y-%m-%d %H:%M") if s.first_ts is not None else "-",
                s.last_ts.strftime("%Y-%m-%d %H:%M") if s.last_ts is not None else "-",
                f"{s.step_seconds // 60}m" if s.step_seconds else "-",
                fmt(s.last_value, 2),
                fmt(s.threshold, 1),
                s.agg,
            )
        )
    if not rows:
        console.print("no series stored yet; load some with: capacity ingest FILE")
        return
    print_table(
        f"{len(rows)} series",
        ["service", "metric", "samples", "first", "last", "step", "last value", "threshold", "agg"],
        rows,
    )


COMMANDS = [ingest, series_cmd]
