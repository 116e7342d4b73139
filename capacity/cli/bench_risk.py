"""``capacity bench breach`` and ``capacity bench events``: the risk and event-uplift benchmarks.

The protocols live in :mod:`capacity.bench.breach` and :mod:`capacity.bench.events`; these commands read the
files, show progress, print the summary table and write the JSON (and Markdown) results.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import pandas as pd

from capacity.bench import breach, events
from capacity.cli.common import console
from capacity.cli.events import read_events_file
from capacity.errors import InvalidInput, SourceError
from capacity.schema import duration_steps


def read_folder(data: Path, agg: str) -> dict[str, pd.Series]:
    """Every ``timestamp,value`` CSV file of ``data`` resampled hourly with ``agg``, by file stem.

    Raises:
        SourceError: when the folder does not exist or holds no CSV file.
        InvalidInput: when a file lacks the timestamp or value column.
    """

    if not data.is_dir():
        raise SourceError(f"data folder {data} does not exist", field="data")
    files = sorted(data.glob("*.csv"))
    if not files:
        raise SourceError(f"no .csv files in {data}", field="data")
    out = {}
    for path in files:
        frame = pd.read_csv(path)
        missing = [c for c in ("timestamp", "value") if c not in frame.columns]
        if missing:
            raise InvalidInput(
                f"{path.name}: missing column {missing[0]!r} (expected timestamp,value)", field=missing[0]
            )
        out[path.stem] = breach.resample(frame, agg)
    return out


def _write(result: dict, json_out: Path, markdown_out: Path | None, table: str) -> None:
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    console.print(f"wrote {json_out}")
    if markdown_out is not None:
        markdown_out.write_text(table, encoding="utf-8")
        console.print(f"wrote {markdown_out}")


@click.command("breach")
@click.option(
    "--data", "data", required=True, type=click.Path(path_type=Path), help="Folder of timestamp,value CSVs."
)
@click.option("--horizon", default="7d", show_default=True, help="Test window per fold.")
@click.option("--folds", default=3, show_default=True, type=click.IntRange(1, 20), help="Folds per series.")
@click.option(
    "--agg",
    default="max",
    show_default=True,
    type=click.Choice(["mean", "max", "p95"]),
    help="Hourly aggregation.",
)
@click.option("--methods", default="capacity,predict_linear,last_week_peak,prophet", show_default=True)
@click.option(
    "--json", "json_out", required=True, type=click.Path(path_type=Path), help="Write the results here."
)
@click.option(
    "--markdown", "markdown_out", type=click.Path(path_type=Path), help="Also write the table as Markdown."
)
def breach_cmd(
    data: Path, horizon: str, folds: int, agg: str, methods: str, json_out: Path, markdown_out: Path | None
) -> None:
    """Breach prediction against predict_linear, last week's peak and Prophet (Brier, precision, recall, timing).

    \b
    Example:
      capacity bench breach --data ../shared/data/real --horizon 7d --folds 3 --agg max --json breach.json
    """

    steps = duration_steps(horizon)
    series = read_folder(data, agg)
    started = time.perf_counter()

    def progress(name: str, cases: int, reason: str | None) -> None:
        console.print(f"  {name}: {reason or f'{cases} cases'}", markup=False, soft_wrap=True)

    result = breach.run_breach(
        series,
        horizon=steps,
        folds=folds,
        methods=[m.strip() for m in methods.split(",") if m.strip()],
        config={"data": str(data), "agg": agg, "horizon": horizon},
        on_series=progress,
    )
    result["config"]["seconds"] = round(time.perf_counter() - started, 1)
    table = breach.markdown_table(result)
    console.print(table, markup=False, soft_wrap=True)
    _write(result, json_out, markdown_out, table)


@click.command("events")
@click.option(
    "--data", "data", required=True, type=click.Path(path_type=Path), help="Folder of timestamp,value CSVs."
)
@click.option("--events", "events_file", required=True, type=click.Path(path_type=Path), help="Events CSV.")
@click.option(
    "--lead", default="7d", show_default=True, help="Forecast from this long before each occurrence."
)
@click.option(
    "--agg",
    default="mean",
    show_default=True,
    type=click.Choice(["mean", "max", "p95"]),
    help="Hourly aggregation.",
)
@click.option(
    "--methods", default="capacity_events,capacity_plain,seasonal_naive,prophet_holidays", show_default=True
)
@click.option(
    "--json", "json_out", required=True, type=click.Path(path_type=Path), help="Write the results here."
)
@click.option(
    "--markdown", "markdown_out", type=click.Path(path_type=Path), help="Also write the table as Markdown."
)
def events_cmd(
    data: Path,
    events_file: Path,
    lead: str,
    agg: str,
    methods: str,
    json_out: Path,
    markdown_out: Path | None,
) -> None:
    """Event peaks: forecast each past occurrence from LEAD before it, with and without the calendar, vs peers.

    \b
    Example:
      capacity bench events --data ../shared/data/real --events ../shared/data/events-us.csv --lead 7d --json ev.json
    """
    lead_steps = duration_steps(lead, field="lead")
    calendar = read_events_file(events_file)
    series = read_folder(data, agg)
    started = time.perf_counter()

    def progress(name: str, count: int, reason: str | None) -> None:
        console.print(f"  {name}: {reason or f'{count} occurrences'}", markup=False, soft_wrap=True)

    result = events.run_events(
        series,
        calendar,
        lead=lead_steps,
        methods=[m.strip() for m in methods.split(",") if m.strip()],
        config={"data": str(data), "events": str(events_file), "agg": agg, "lead": lead},
        on_series=progress,
    )
    result["config"]["seconds"] = round(time.perf_counter() - started, 1)
    table = events.markdown_table(result)
    console.print(table, markup=False, soft_wrap=True)
    _write(result, json_out, markdown_out, table)


BENCH_COMMANDS = [breach_cmd, events_cmd]
