"""``capacity ingest`` and ``capacity series``: load history and fleet config, list what is stored."""

from __future__ import annotations

import time
from pathlib import Path

import click

from capacity.cli.common import EXIT_CODES_EPILOG, console, db_option, fmt, open_store, print_table
from capacity.config import AGGREGATIONS, SeriesConfig, load_fleet_config, validate_series_config
from capacity.errors import InvalidInput
from capacity.schema import validate_name
from capacity.services.accuracy import score_ingested
from capacity.sources.files import DUPLICATE_POLICIES, read_history
from capacity.sources.notes import shape_notes
from capacity.store import Store
from capacity.store.db import sqlite_file
from capacity.timestamps import DST_POLICIES


class IngestGroup(click.Group):
    """``capacity ingest PATH`` reads files; ``capacity ingest SOURCE ...`` runs a named source (e.g. prometheus)."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands:
            args = ["files", *args]
        return super().resolve_command(ctx, args)


@click.group("ingest", cls=IngestGroup, invoke_without_command=False, epilog=EXIT_CODES_EPILOG)
def ingest() -> None:
    """Load history into the database: from files (``capacity ingest PATH``) or a named source.

    \b
    Examples:
      capacity ingest data/fleet/history.csv --config data/fleet.toml
      capacity ingest ../shared/data/real --metric value
    """


@ingest.command("files", epilog=EXIT_CODES_EPILOG)
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--metric",
    default="value",
    show_default=True,
    help="Metric name for files without a metric column (SERVICE.csv, a Grafana or Prometheus export).",
)
@click.option(
    "--service",
    default=None,
    help="Service name of a single one-series file (default: its file name); a file of several series needs "
    "--column with it.",
)
@click.option(
    "--threshold",
    type=float,
    default=None,
    help="Scaling threshold of the ingested series, in the metric's unit (instead of a --config file).",
)
@click.option(
    "--duplicates",
    type=click.Choice(DUPLICATE_POLICIES),
    default="reject",
    show_default=True,
    help="A timestamp repeated with different values: refuse the file naming the rows, or keep the last, the "
    "first or the mean value. Exact repeats are stored once whatever this says.",
)
@click.option(
    "--tz",
    default=None,
    metavar="ZONE",
    help="IANA time zone (Europe/Berlin) of timestamps written without an offset, e.g. a Grafana export in "
    "local time; stored in UTC. Offsets in the file must agree with it. Default: UTC.",
)
@click.option(
    "--dst",
    type=click.Choice(DST_POLICIES),
    default="refuse",
    show_default=True,
    help="With --tz, a local time the clocks skip, or a repeated hour the file gives once: refuse the file naming "
    "the row, or shift (read a skipped time an hour later, a lone repeated hour as the first of the two; for "
    "hour-ending labels).",
)
@click.option(
    "--column",
    default=None,
    help="Read only this series of a file of several (a Grafana column or a Prometheus series, by header or "
    "by the name it would get).",
)
@click.option(
    "--service-label",
    default=None,
    help="The label whose value names each service of a Prometheus JSON file or of Grafana columns named "
    "metric{label=...} (default: the labels that differ between the series).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    help="Fleet config (TOML): thresholds, capacity, events.",
)
@db_option
def ingest_files(
    path: Path,
    metric: str,
    service: str | None,
    threshold: float | None,
    duplicates: str,
    tz: str | None,
    dst: str,
    column: str | None,
    service_label: str | None,
    config_path: Path | None,
    db: str | None,
) -> None:
    """Load history from a CSV/Parquet/Prometheus JSON file or a folder of them, in one transaction.

    A long file has columns timestamp,service,metric,value. A folder may hold timestamp,value files named
    SERVICE__METRIC.csv (or SERVICE.csv with --metric). Exports of other tools are read too: a Grafana panel CSV
    (a Time column and one column per series: each column becomes a service), Prometheus query_range JSON (one
    service per series), ds,y and Timestamp,Value. Re-ingesting the same rows stores nothing twice; a file with
    one bad row stores nothing and names the row. A timestamp repeated with different values is refused unless
    --duplicates says which value to keep.

    \b
    Examples:
      capacity ingest data/fleet/history.csv --config data/fleet.toml
      capacity ingest nyc_taxi.csv --service taxi --metric rides --threshold 32000
      capacity ingest ../shared/data/real --metric value
      capacity ingest "CPU-data-2025-10-01.csv" --metric cpu --tz Europe/Berlin
    """
    started = time.perf_counter()
    if service is not None:
        validate_name(service, "service")
    config = load_fleet_config(config_path) if config_path else None
    history, dropped = read_history(
        path,
        metric=metric,
        service=service,
        duplicates=duplicates,
        column=column,
        tz=tz,
        dst=dst,
        service_label=service_label,
    )
    keys = sorted(set(zip(history["service"], history["metric"], strict=True)))
    settings = [threshold_config(svc, met, threshold) for svc, met in keys] if threshold is not None else []
    store = open_store(db)
    report = store.series.ingest(history)
    if config is not None:
        store.series.configure_series(config.series)
        store.events.add_events(config.events, source="config")
    for cfg in settings:  # only the threshold: what a --config file set besides it stays
        store.series.update_series(cfg.service, cfg.metric, threshold=cfg.threshold)
    scored = score_ingested(store, history)  # the forecast ledger: runs these actuals reach are rescored
    took = time.perf_counter() - started
    console.print(
        f"ingested {report.rows:,} rows into {report.series} series "
        f"({report.inserted:,} new, {report.updated:,} already stored or replaced, "
        f"{report.created_series} new series) in {took:.1f}s"
        + (f"; scored {scored} stored forecast(s) against them" if scored else "")
    )
    if dropped:
        kept = (
            "exact repeats" if duplicates == "reject" else f"repeated timestamps (--duplicates {duplicates})"
        )
        console.print(f"dropped {dropped:,} row{'s' if dropped != 1 else ''} of {kept}")
    if config is not None:
        console.print(
            f"applied {len(config.series)} series settings and {len(config.events)} event occurrences from {config_path}"
        )
    if settings:
        console.print(f"threshold {threshold:g} set on {', '.join(f'{s}/{m}' for s, m in keys)}")
    for note in shape_notes(history):
        console.print(f"note: {note}", markup=False)
    console.print(f"database: {store.url}")


def threshold_config(service: str, metric: str, threshold: float) -> SeriesConfig:
    """The settings ``--threshold`` gives a series, validated as a fleet file's would be (a percent metric's
    threshold must be at most 100)."""
    return validate_series_config(
        {"service": service, "metric": metric, "threshold": threshold}, where="--threshold"
    )


@click.group("series", invoke_without_command=True, epilog=EXIT_CODES_EPILOG)
@db_option
@click.pass_context
def series_cmd(ctx: click.Context, db: str | None) -> None:
    """List the stored series with their sample counts, spans, step, last value and threshold; ``set`` changes a
    series' threshold and capacity.

    \b
    Examples:
      capacity series --db demo.db
      capacity series set checkout rps --threshold 480 --instances 12 --instance-capacity 40
    """
    if ctx.invoked_subcommand is not None:
        return
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


@series_cmd.command("set", epilog=EXIT_CODES_EPILOG)
@click.argument("service")
@click.argument("metric")
@click.option(
    "--threshold", type=float, help="Scaling threshold, in the metric's unit (percent: at most 100)."
)
@click.option("--instances", type=int, help="Current instance count (sizes the +instances column).")
@click.option("--instance-capacity", type=float, help="What one instance serves, in the metric's unit.")
@click.option("--agg", type=click.Choice(AGGREGATIONS), help="Aggregation of raw samples inside each step.")
@db_option
def series_set(
    service: str,
    metric: str,
    threshold: float | None,
    instances: int | None,
    instance_capacity: float | None,
    agg: str | None,
    db: str | None,
) -> None:
    """Set a stored series' threshold, instance count, per-instance capacity or aggregation (no TOML needed).

    The same fields as a fleet file's [[series]] or the API's PATCH /api/v1/series/{service}/{metric}, checked the
    same way. A new --agg makes the series' forecast stale.

    \b
    Example:
      capacity series set checkout rps --threshold 480 --instances 12 --instance-capacity 40
    """
    validate_name(service, "service")
    validate_name(metric, "metric")
    given = {
        k: v
        for k, v in {
            "threshold": threshold,
            "instances": instances,
            "instance_capacity": instance_capacity,
            "agg": agg,
        }.items()
        if v is not None
    }
    if not given:
        raise InvalidInput(
            "give at least one of --threshold, --instances, --instance-capacity, --agg", field="threshold"
        )
    store = open_store(db)
    current = store.series.describe(service, metric)
    merged = {
        "service": service,
        "metric": metric,
        "threshold": current.threshold,
        "instances": current.instances,
        "instance_capacity": current.instance_capacity,
        "agg": current.agg,
        **given,
    }
    cfg = validate_series_config(merged, where=f"{service}/{metric}")
    info = store.series.update_series(service, metric, **{k: getattr(cfg, k) for k in given})
    console.print(
        f"{service}/{metric}: threshold {fmt(info.threshold, 1)}, instances {info.instances or '-'}, "
        f"instance capacity {fmt(info.instance_capacity, 1)}, agg {info.agg}",
        markup=False,
    )


@click.command("init", epilog=EXIT_CODES_EPILOG)
@click.option(
    "--db",
    envvar="CAPACITY_DB",
    default=None,
    metavar="PATH|URL",
    help="SQLite file or postgresql:// URL to create (env CAPACITY_DB; default: the user data directory).",
)
def init_cmd(db: str | None) -> None:
    """Create a database (or bring an existing one to the newest schema), so that --db can name it.

    Commands refuse a --db file that does not exist (a typo would otherwise start an empty database); this, or
    --create on any command, starts one. Running it again changes nothing.

    \b
    Examples:
      capacity init --db capacity.db
      capacity init --db postgresql://planner@db.internal/capacity
    """
    path = sqlite_file(db)
    existed = path is None or path.exists()
    store = Store.open(db)
    where = store.path or store.url
    if existed:
        console.print(f"database {where} is ready (schema up to date)", markup=False)
    else:
        console.print(f"created database {where}", markup=False)
    hint = "" if db is None else f" --db {db}"
    console.print(f"next: capacity ingest FILE{hint}", markup=False)


COMMANDS = [ingest, series_cmd, init_cmd]
