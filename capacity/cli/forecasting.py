"""``capacity forecast``: forecast stored series with the automatic engine and store the results.

Many series run on a local process pool (``--workers``) or an existing Dask cluster (``--scheduler``); each result
is stored as soon as its series finishes, and ``--resume`` (or ``--stale``) skips series whose forecast is already
fresh: made from their current data and events calendar.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import click
import pandas as pd
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from capacity.batch.runners import check_scheduler_address, default_workers
from capacity.cli.common import EXIT_CODES_EPILOG, EXIT_FAILED, console, db_option, open_store, print_table
from capacity.errors import InvalidInput, UnknownEvent, UnknownSeries
from capacity.events.calendar import event_window
from capacity.forecast.types import ForecastSpec
from capacity.schema import (
    check_horizon,
    duration_steps,
    format_days,
    history_span,
    horizon_limit,
    validate_name,
)
from capacity.services.forecasting import SeriesOutcome, forecast_stored
from capacity.services.staleness import stale_keys
from capacity.store import SeriesInfo, Store

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


def horizon_through(end: pd.Timestamp, history_end: pd.Timestamp, pad_hours: int = 24) -> str:
    """The horizon (``NNNh``) that reaches ``pad_hours`` past ``end`` (an event's end, a date) from a history ending
    at ``history_end``, at least a day: what ``capacity demo`` and ``capacity risks --event`` forecast over, so the
    window they rank is covered, with a day after it to draw."""
    hours = math.ceil((end - history_end) / pd.Timedelta(hours=1)) + pad_hours
    return f"{max(hours, 24)}h"


def split_by_horizon(
    infos: Mapping[tuple[str, str], SeriesInfo], horizon: str
) -> tuple[list[tuple[str, str]], list[SeriesOutcome]]:
    """The series whose history allows ``horizon`` (``capacity.schema.check_horizon``), and an outcome saying why
    for each of the others: they are not forecast, and what is stored for them stays as it was."""
    allowed: list[tuple[str, str]] = []
    refused: list[SeriesOutcome] = []
    for key, info in infos.items():
        try:
            check_horizon(horizon, history_span(info), series=f"{key[0]}/{key[1]}")
        except InvalidInput as exc:
            refused.append(SeriesOutcome(key[0], key[1], False, error=exc.message))
            continue
        allowed.append(key)
    return allowed, refused


def refuse_all(refused: list[SeriesOutcome], field: str) -> None:
    """Raise the first refusal as a usage error when no series can run (exit 2, nothing forecast).

    Raises:
        InvalidInput: always, with the first series' limit and how many more there are.
    """
    more = f" (and {len(refused) - 1} more series)" if len(refused) > 1 else ""
    raise InvalidInput(refused[0].error + more, field=field)


def print_refused(refused: list[SeriesOutcome]) -> None:
    """One line per series that is not forecast, with the reason (they count as failed: exit 1)."""
    for outcome in refused:
        console.print(f"not forecast: {outcome.service}/{outcome.metric}: {outcome.error}", markup=False)


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


def forecast_through(
    store: Store, *, event: str | None = None, until: pd.Timestamp | None = None
) -> list[SeriesOutcome]:
    """Forecast, before a risk run, each series whose stored forecast does not cover the window it will rank.

    The window of a series ends with the next occurrence of ``event`` after its history (or at ``until``). A
    series is forecast again when it has no forecast, its forecast is stale (of older data or events), or it ends
    before the window does; the horizon is :func:`horizon_through` the window's end. So ``capacity risks --event``
    needs no ``--horizon`` worked out by hand, whatever the event's distance.

    Raises:
        InvalidInput: when no series' history is long enough to reach its window (names the first one's limit).
    """
    if not event and until is None:
        return []
    calendar = tuple(store.events.list_events())
    infos = {(i.service, i.metric): i for i in store.series.list_series() if i.last_ts is not None}
    stale = set(stale_keys(store, list(infos)))
    groups: dict[str, dict[tuple[str, str], SeriesInfo]] = {}
    refused: list[SeriesOutcome] = []
    for key, info in infos.items():
        history_end = pd.Timestamp(info.last_ts)  # type: ignore[arg-type]  # not None: filtered above
        try:
            occ = event_window(calendar, event, history_end, info.service)[0] if event else None
        except UnknownEvent:
            continue  # ranked "unknown" with the reason by the risk run
        end = occ.end if occ is not None else until
        if end is None or end <= history_end:
            continue
        if key not in stale:
            stored = store.forecasts.latest_forecast(*key, with_paths=False)
            if stored is not None and len(stored.frame) and stored.frame["ts"].iloc[-1] >= end:
                continue
        horizon = horizon_through(end, history_end)
        limit = horizon_limit(history_span(info))
        if duration_steps(horizon) > limit / pd.Timedelta(hours=1):
            what = f"{occ.name} ({occ.start:%Y-%m-%d})" if occ is not None else f"{end:%Y-%m-%d %H:%M}"
            refused.append(
                SeriesOutcome(
                    key[0],
                    key[1],
                    False,
                    error=f"{what} ends {format_days(end - history_end)} after the history of {key[0]}/{key[1]}, "
                    f"which spans {format_days(history_span(info) or pd.Timedelta(0))}: its forecast reaches at "
                    f"most {format_days(limit)} ahead (as far as its history reaches back); load more history",
                )
            )
            continue
        groups.setdefault(horizon, {})[key] = info
    if refused and not groups:
        refuse_all(refused, "event" if event else "until")
    print_refused(refused)
    outcomes = list(refused)
    target = f"through {event}" if event else f"until {until:%Y-%m-%d %H:%M}"
    for horizon, group in sorted(groups.items(), key=lambda kv: duration_steps(kv[0])):
        console.print(
            f"forecasting {len(group)} series {horizon} ahead, {target} "
            "(their forecast was missing, stale or too short)"
        )
        workers = min(default_workers(), len(group))
        outcomes += run_forecasts(store, list(group), horizon, workers=workers)
    return outcomes


@click.command("forecast", epilog=EXIT_CODES_EPILOG)
@click.argument("service", required=False)
@click.option("--metric", help="Only this metric of SERVICE.")
@click.option("--all", "all_series", is_flag=True, help="Forecast every stored series.")
@click.option(
    "--horizon",
    default="14d",
    show_default=True,
    help="How far ahead: 24h, 14d, 2w ... At most as far as each series' history reaches back (14d always "
    "allowed, 366d never exceeded).",
)
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
    --stale (the same as --resume) refreshes only those. A series whose history is shorter than --horizon is not
    forecast (it is listed as failed, with its limit); when that is every series, nothing runs (exit 2).

    \b
    Examples:
      capacity forecast --all --horizon 14d
      capacity forecast --all --stale
      capacity forecast --all --workers 8 --resume
      capacity forecast --all --scheduler tcp://10.0.0.5:8786
      capacity forecast checkout --metric cpu
    """
    outcomes = forecast_command(service, metric, all_series, horizon, workers, scheduler, resume, db)
    if any(not o.ok for o in outcomes):
        raise click.exceptions.Exit(EXIT_FAILED)


def forecast_command(
    service: str | None,
    metric: str | None,
    all_series: bool,
    horizon: str,
    workers: int | None,
    scheduler: str | None,
    resume: bool,
    db: str | None,
) -> list[SeriesOutcome]:
    """``capacity forecast`` up to its exit code: validates, forecasts, prints the summary; returns the outcomes
    (``capacity demo`` goes on to the risk table and the report when some series failed)."""
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
    check_horizon(horizon)
    store = open_store(db)
    infos = {(s.service, s.metric): s for s in store.series.list_series()}
    if not infos and not service:
        console.print("no series stored yet; load some with: capacity ingest FILE")
        return []
    if service:
        infos = {k: v for k, v in infos.items() if k[0] == service and (metric is None or k[1] == metric)}
        if not infos:
            raise UnknownSeries(f"unknown series {service}{'/' + metric if metric else ''}", field="service")
    skipped = 0
    if resume:
        todo = set(stale_keys(store, list(infos)))
        skipped = len(infos) - len(todo)
        infos = {k: v for k, v in infos.items() if k in todo}
        if not infos:
            console.print(
                f"all {skipped} series already have a forecast of their current data and events; nothing to do"
            )
            return []
    keys, refused = split_by_horizon(infos, horizon)
    if refused and not keys:
        refuse_all(refused, "horizon")
    n_workers = min(workers or default_workers(), len(keys))
    where = f"Dask scheduler {scheduler}" if scheduler else f"{n_workers} local worker process(es)"
    if n_workers == 1 and not scheduler:
        where = "this process"
    console.print(f"forecasting {len(keys)} series ({horizon} ahead) on {where}")
    print_refused(refused)
    started = time.perf_counter()
    outcomes = refused + run_forecasts(store, keys, horizon, workers=n_workers, scheduler=scheduler)
    _print_summary(outcomes, horizon, time.perf_counter() - started, skipped)
    return outcomes


COMMANDS = [forecast]
