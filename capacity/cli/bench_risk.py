"""``capacity bench breach`` and ``capacity bench events``: the risk and event-uplift benchmarks.

The protocols live in :mod:`capacity.bench.breach` and :mod:`capacity.bench.events`; these commands read the
files, show progress, print the summary tables and write the JSON (and Markdown, and for breaches a reliability
diagram) results.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import pandas as pd

from capacity.bench import breach, events
from capacity.bench.accuracy import needed_steps
from capacity.bench.breach_cache import disk_forecaster
from capacity.bench.breach_figure import reliability_figure
from capacity.bench.breach_fit import collect_fit_cases, fit_model
from capacity.bench.breach_score import markdown_tables
from capacity.cli.bench_data import as_frame, csv_files, read_series, tz_option
from capacity.cli.common import console
from capacity.cli.events import read_events_file
from capacity.errors import InvalidInput, NotEnoughHistory
from capacity.risk.probability import DEFAULT_MODEL, BreachModel
from capacity.schema import duration_steps


def read_folder(data: Path, agg: str) -> dict[str, pd.Series]:
    """Every ``timestamp,value`` CSV file of ``data`` (a folder, or one CSV file) resampled hourly with ``agg``, by file stem (read as
    :func:`capacity.cli.bench_data.read_series` reads them).

    Raises:
        SourceError: when the folder does not exist or holds no CSV file.
        InvalidHistory: when a file lacks the timestamp or value column, or has a bad row (named).
        InvalidInput: when a file's samples are coarser than hourly.
    """
    return {
        path.stem: breach.resample(as_frame(read_series(path, "1h", "these benchmarks are hourly")), agg)
        for path in csv_files(data, single_file=True)
    }


def _write(result: dict, json_out: Path, markdown_out: Path | None, table: str) -> None:
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    console.print(f"wrote {json_out}")
    if markdown_out is not None:
        markdown_out.write_text(table, encoding="utf-8")
        console.print(f"wrote {markdown_out}")


def read_folders(folders: tuple[Path, ...], agg: str) -> tuple[dict[str, pd.Series], dict[str, str]]:
    """The series of several folders pooled (see :func:`read_folder`), and each series' folder.

    Raises:
        InvalidInput: when two folders hold a series of the same name (cases are keyed by it).
    """
    series: dict[str, pd.Series] = {}
    where: dict[str, str] = {}
    for folder in folders:
        for name, values in read_folder(folder, agg).items():
            if name in series:
                raise InvalidInput(
                    f"series {name!r} is in both {where[name]} and {folder}: give each folder once, "
                    "with unique file names",
                    field="data",
                )
            series[name], where[name] = values, str(folder)
    return series, where


def fitted_model(fit_on: tuple[Path, ...], agg: str, steps: int) -> BreachModel:
    """The breach model refitted on the series of ``fit_on`` (see :mod:`capacity.bench.breach_fit`)."""
    fit_series, _ = read_folders(fit_on, agg)
    console.print(f"fitting the breach model on {len(fit_series)} series of {', '.join(map(str, fit_on))}")

    def fitted(name: str, origins: int) -> None:
        console.print(f"  fit {name}: {origins} origins", markup=False, soft_wrap=True)

    model = fit_model(collect_fit_cases(fit_series, steps, on_series=fitted), breach.LEVELS)
    console.print(f"fitted: {model}", markup=False, soft_wrap=True)
    return model


def folder_roles(data: tuple[Path, ...], fit_on: tuple[Path, ...]) -> dict[str, str]:
    """Each scored folder's role: ``fitted on`` (in-sample: the model was refitted on it), ``held out`` (refitted on
    other folders only) or ``shipped constants`` (no refit). A folder may be both scored and fitted on, so one run
    scores the held-out folders against the climatology of the whole panel and shows the dev figure next to it."""
    fitted = {p.resolve() for p in fit_on}
    if not fit_on:
        return {str(d): "shipped constants" for d in data}
    return {str(d): "fitted on" if d.resolve() in fitted else "held out" for d in data}


@click.command("breach")
@tz_option
@click.option(
    "--data",
    "data",
    required=True,
    multiple=True,
    type=click.Path(path_type=Path),
    help="Folder of timestamp,value CSVs, or one such CSV file; repeat to pool several.",
)
@click.option(
    "--horizon",
    default="7d",
    show_default=True,
    help="Test window per fold (from 28d: whole days, and capacity's probability from the weekly peak paths).",
)
@click.option(
    "--folds",
    default=3,
    show_default=True,
    type=click.IntRange(1, breach.MAX_FOLDS),
    help="Folds per series.",
)
@click.option(
    "--agg",
    default="max",
    show_default=True,
    type=click.Choice(["mean", "max", "p95"]),
    help="Hourly aggregation.",
)
@click.option(
    "--methods",
    default="capacity,predict_linear,last_week_peak,prophet",
    show_default=True,
    help="Methods to score besides the references (climatology, record_rate), which are always scored.",
)
@click.option(
    "--fit-on",
    "fit_on",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Refit the capacity method's breach model on these folders first; repeatable. --data folders not named "
    "here are held out (scored, never fitted on).",
)
@click.option(
    "--json", "json_out", required=True, type=click.Path(path_type=Path), help="Write the results here."
)
@click.option(
    "--markdown", "markdown_out", type=click.Path(path_type=Path), help="Also write the tables as Markdown."
)
@click.option(
    "--figure", "figure_out", type=click.Path(path_type=Path), help="Write a reliability diagram (PNG)."
)
@click.option(
    "--dev",
    is_flag=True,
    help="Score the dev windows (each series cut at its first benchmark cutoff) instead of the benchmark folds.",
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(path_type=Path),
    help="Keep the capacity method's forecasts here, one file per series and fold (delete when the engine changes).",
)
def breach_cmd(
    data: tuple[Path, ...],
    horizon: str,
    folds: int,
    agg: str,
    methods: str,
    fit_on: tuple[Path, ...],
    json_out: Path,
    markdown_out: Path | None,
    figure_out: Path | None,
    dev: bool,
    cache_dir: Path | None,
) -> None:
    """Breach probabilities against climatology, predict_linear, last week's peak and Prophet (skill, AUC,
    calibration, reliability).

    \b
    Examples:
      capacity bench breach --data ../shared/data/real --data ../shared/data/real-vms --horizon 7d --folds 6 \\
          --agg max --json breach.json --markdown breach.md --figure reliability.png
      capacity bench breach --data ../shared/data/real --data ../shared/data/real-vms --fit-on ../shared/data/real \\
          --horizon 7d --folds 6 --agg max --json held.json
      capacity bench breach --data ../shared/data/real-events --horizon 30d --folds 12 --agg max \\
          --methods capacity,capacity_blend,last_week_peak --cache .cache/breach --json long.json
    """
    steps = duration_steps(horizon)
    roles = folder_roles(data, fit_on)
    if fit_on and "held out" not in roles.values():
        raise InvalidInput(
            "every --data folder is also a --fit-on folder: a held-out score needs at least one folder "
            "the model was not fitted on",
            field="fit_on",
        )
    series, folders = read_folders(data, agg)
    started = time.perf_counter()
    model = fitted_model(fit_on, agg, steps) if fit_on else DEFAULT_MODEL

    def progress(name: str, cases: int, reason: str | None) -> None:
        console.print(f"  {name}: {reason or f'{cases} cases'}", markup=False, soft_wrap=True)

    result = breach.run_breach(
        series,
        horizon=steps,
        folds=folds,
        methods=[m.strip() for m in methods.split(",") if m.strip()],
        config={
            "data": [str(d) for d in data],
            "fit_on": [str(f) for f in fit_on],
            "roles": roles,
            "agg": agg,
            "horizon": horizon,
        },
        model=model,
        folders=folders,
        held_out=[f for f, role in roles.items() if role == "held out"],
        on_series=progress,
        dev=dev,
        forecast=None if cache_dir is None else disk_forecaster(cache_dir, breach.default_forecast),
    )
    if not result["cases"]:
        raise NotEnoughHistory(
            f"no case to score: every series was skipped (reasons above); --horizon {horizon} with --folds {folds} "
            f"needs {needed_steps(steps, folds)} hours of history per series; give a shorter --horizon, fewer --folds or "
            "longer series",
            field="data",
        )
    result["config"]["seconds"] = round(time.perf_counter() - started, 1)
    table = markdown_tables(result)
    console.print(table, markup=False, soft_wrap=True)
    _write(result, json_out, markdown_out, table)
    if figure_out is not None:
        figure_out.parent.mkdir(parents=True, exist_ok=True)
        figure_out.write_bytes(reliability_figure(result))
        console.print(f"wrote {figure_out}")


@click.command("events")
@tz_option
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
    if not result["occurrences"]:
        raise NotEnoughHistory(
            f"no event occurrence to score in {data}: one is scored when the series covers it, holds "
            f"{events.MIN_TRAIN_DAYS} days before its cutoff and an earlier occurrence of the same event in the "
            f"{events.MAX_TRAIN_DAYS} days before that (a year or more of history for yearly holidays)",
            field="data",
        )
    result["config"]["seconds"] = round(time.perf_counter() - started, 1)
    table = events.markdown_table(result)
    console.print(table, markup=False, soft_wrap=True)
    _write(result, json_out, markdown_out, table)


BENCH_COMMANDS = [breach_cmd, events_cmd]
