"""``capacity forecast``: forecast stored series with the automatic engine and store the results.

Many series run on a local process pool (``--workers``) or an existing Dask cluster (``--scheduler``); each result
is stored as soon as its series finishes, and ``--resume`` (or ``--stale``) skips series whose forecast is already
fresh: made from their current data and events calendar.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from capacity.batch.runners import check_scheduler_address, default_workers
from capacity.cli.common import console, db_option, open_store, print_table
from capacity.errors import InvalidInput, UnknownSeries
from capacity.forecast.types import ForecastSpec
from capacity.schema import duration_steps, validate_name
from capacity.services.forecasting import SeriesOutcome, forecast_stored
from capacity.services.staleness import stale_keys

#: Above this many series the final table lists only failures and a per-model summary.
FULL_TABLE_MAX = 50


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class ProgressReport:
    """Counts finished series and shows them: a bar on a terminal, one plain line per series otherwise."""

    def __init__(self, total: int, terminal: bool, echo: Callable[[str], None] = print) -> None:
        self.total = total
        self.terminal = terminal
        self.echo = echo
        self.done = 0
        self.failed = 0
        self.started = time.perf_counter()
        self._progress: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> ProgressReport:
        if self.terminal:
            self._progress = Progress(
                TextColumn("forecasting"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("[red]{task.fields[failed]} failed[/red]"),
                TextColumn("{task.fields[rate]:.2f} series/s"),
                TextColumn("elapsed"),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                console=console,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task("forecast", total=self.total, failed=0, rate=0.0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)

    @property
    def rate(self) -> float:
        """Series finished per second so far."""
        took = time.perf_counter() - self.started
        return self.done / took if took > 0 else 0.0

    def __call__(self, outcome: SeriesOutcome) -> None:
        self.done += 1
        self.failed += 0 if outcome.ok else 1
        rate = self.rate
        if self._progress is not None:
            self._progress.update(self._task, advance=1, failed=self.failed, rate=rate)
            return
        status = f"ok {outcome.model}" if outcome.ok else f"FAILED: {outcome.error}"
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        width = len(str(self.total))
        self.echo(
            f"[{self.done:{width}d}/{self.total}] {outcome.service}/{outcome.metric} {status} "
            f"({outcome.seconds:.1f}s) | {self.failed} failed, {rate:.2f} series/s, {_clock(left)} left"
        )


def run_forecasts(
    store: object,
    keys: list[tuple[str, str]],
    horizon: str,
    *,
    workers: int = 1,
    scheduler: str | None = None,
) -> list[SeriesOutcome]:
    """Forecast ``keys`` with a progress display; returns the outcomes."""
    spec = ForecastSpec(horizon=duration_steps(horizon))
    with ProgressReport(len(keys), console.is_terminal, echo=lambda line: print(line, flush=True)) as report:
        return forecast_stored(store, keys, spec, report, workers=workers, scheduler=scheduler)


def _print_summary(outcomes: list[SeriesOutcome], horizon: str, took: float, skipped: int) -> None:
    failed = [o for o in outcomes if not o.ok]
    fallback = sum(1 for o in outcomes if o.fallback)
    rate = len(outcomes) / took if took > 0 else 0.0
    title = (
        f"{len(outcomes)} forecasts ({horizon} ahead) in {took:.1f}s, {rate:.2f} series/s: "
        f"{len(outcomes) - len(failed)} stored, {len(failed)} failed, {fallback} fell back"
        + (f"; {skipped} already fresh, skipped" if skipped else "")
    )
    if len(outcomes) <= FULL_TABLE_MAX:
        rows = [(o.service, o.metric, o.model or "-", "yes" if o.fallback else "", o.error) for o in outcomes]
        print_table(title, ["service", "metric", "model", "fallback", "error"], rows)
        return
    models = Counter(o.model for o in outcomes if o.ok)
    print_table(title, ["model", "series"], sorted(models.items(), key=lambda kv: -kv[1]))
    if failed:
        print_table(
            f"{len(failed)} failed series",
            ["service", "metric", "error"],
            [(o.service, o.metric, o.error) for o in failed],
        )


@click.command("forecast")
@click.argument("service", required=False)
@click.option("--metric", help="Only this metric of SERVICE.")
@click.option("--all", "all_series", is_flag=True, help="Forecast every stored series.")
@click.option("--horizon", default="14d", show_default=True, help="How far ahead: 24h, 14d, 2w ...")
@click.option(
    "--workers",
    type=int,
    default=None,
    help="Local worker processes (BLAS pinned to 1 thread each) [default: the cores available; 1 runs in-process].",
)
@click.option(
    "--scheduler",
    envvar="CAPACITY_DASK_SCHEDULER",
    metavar="tcp://HOST:PORT",
    help="Run on an existing Dask cluster instead of local processes (env CAPACITY_DASK_SCHEDULER).",
)
@click.option(
    "--resume",
    "--stale",
    "resume",
    is_flag=True,
    help="Only stale series: skip those whose newest forecast is of their current data and events calendar.",
)
@db_option
def forecast(
    service: str | None,
    metric: str | None,
    all_series: bool,
    horizon: str,
    workers: int | None,
    scheduler: str | None,
    resume: bool,
    db: str | None,
) -> None:
    """Forecast stored series with automatic model selection and store each forecast as it finishes.

    Series run in parallel on local processes or on a Dask cluster. A series that fails is recorded with its reason
    and the run goes on; an interrupted run keeps what it stored, and --resume finishes the rest. A forecast is
    stale when the series' samples changed since it was made, or the events calendar that applies to it did;
    --stale (the same as --resume) refreshes only those.

    \b
    Examples:
      capacity forecast --all --horizon 14d
      capacity forecast --all --stale
      capacity forecast --all --workers 8 --resume
      capacity forecast --all --scheduler tcp://10.0.0.5:8786
      capacity forecast checkout --metric cpu
    """
    if not service and not all_series:
        raise InvalidInput("give a SERVICE or --all", field="service")
    if service:
        validate_name(service, "service")
    if metric:
        validate_name(metric, "metric")
    if workers is not None and workers < 1:
        raise InvalidInput(f"--workers must be at least 1, got {workers}", field="workers")
    if scheduler:
        check_scheduler_address(scheduler)
    duration_steps(horizon)
    store = open_store(db)
    keys = [(s.service, s.metric) for s in store.series.list_series()]
    if not keys and not service:
        console.print("no series stored yet; load some with: capacity ingest FILE")
        return
    if service:
        keys = [k for k in keys if k[0] == service and (metric is None or k[1] == metric)]
        if not keys:
            raise UnknownSeries(f"unknown series {service}{'/' + metric if metric else ''}", field="service")
    skipped = 0
    if resume:
        todo = stale_keys(store, keys)
        skipped = len(keys) - len(todo)
        keys = todo
        if not keys:
            console.print(
                f"all {skipped} series already have a forecast of their current data and events; nothing to do"
            )
            return
    n_workers = min(workers or default_workers(), len(keys))
    where = f"Dask scheduler {scheduler}" if scheduler else f"{n_workers} local worker process(es)"
    if n_workers == 1 and not scheduler:
        where = "this process"
    console.print(f"forecasting {len(keys)} series ({horizon} ahead) on {where}")
    started = time.perf_counter()
    outcomes = run_forecasts(store, keys, horizon, workers=n_workers, scheduler=scheduler)
    _print_summary(outcomes, horizon, time.perf_counter() - started, skipped)


COMMANDS = [forecast]
