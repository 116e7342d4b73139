"""Forecast stored series and save each result as it finishes: the store and the batch runners, composed.

:func:`forecast_stored` loads each series from the store, keeps a bounded number of series in flight on a runner
(:mod:`capacity.batch.runners`: this process, a local process pool, or Dask), and saves each result in this (the
parent) process as soon as its series finishes, so an interrupted run keeps what it did. A series that fails is
recorded with its reason and does not stop the others. A run asked to stop (``stop``, e.g. a server's graceful
shutdown) submits nothing more, cancels the series queued on the pool, ends the pool's processes, and raises
:class:`~capacity.errors.Interrupted`: what was saved stays saved, and a later ``resume=True`` run does only the rest.
The CLI (``capacity forecast``), the API (a fresh forecast, the refresh job) and the benchmarks all call it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from capacity.batch.runners import Runner, make_runner
from capacity.batch.task import SeriesTask, TaskResult, spec_for
from capacity.errors import CapacityError, Interrupted, StoreError
from capacity.events.calendar import EventOccurrence
from capacity.forecast.types import ForecastSpec
from capacity.services.gauges import after_forecast
from capacity.services.staleness import stale_keys
from capacity.store import Store

#: How many series per worker slot are loaded and queued ahead, so no worker waits for the parent.
QUEUE_PER_SLOT = 2


#: Seconds between two looks at the stop event while the pool works.
STOP_POLL_S = 0.2


@dataclass(frozen=True)
class SeriesOutcome:
    """What happened to one series in a batch.

    Attributes:
        service, metric: the series.
        ok: True when a forecast was stored.
        model: the chosen model of a stored forecast.
        fallback: True when the engine fell back to a baseline.
        error: why it failed (empty when ok).
        run_id: the stored run (a forecast or a recorded failure).
        seconds: wall time of the series in its worker (loading and storing not included).
        cpu_seconds: CPU time the worker spent on it (what the series costs on an idle core).
        worker: where it ran (``host:pid``).
        worker_peak_mb: the worker process's peak resident memory so far, in MiB.
    """

    service: str
    metric: str
    ok: bool
    model: str = ""
    fallback: bool = False
    error: str = ""
    run_id: int | None = None
    seconds: float = 0.0
    worker: str = ""
    worker_peak_mb: float = 0.0
    cpu_seconds: float = 0.0


def _prepare(
    store: Store, key: tuple[str, str], base: ForecastSpec, events: Sequence[EventOccurrence]
) -> SeriesTask:
    service, metric = key
    info = store.series.describe(service, metric)
    values = store.series.load_history(service, metric)
    return SeriesTask(service, metric, values, spec_for(base, info.agg, service, events), info.data_version)


def _record_failure(store: Store, service: str, metric: str, spec: ForecastSpec, reason: str) -> int | None:
    try:
        return store.forecasts.save_failed_forecast(service, metric, spec, reason)
    except StoreError:
        raise
    except CapacityError:  # the series was deleted while the batch ran
        return None


def _save(store: Store, task: SeriesTask, done: TaskResult | BaseException) -> SeriesOutcome:
    service, metric = task.service, task.metric
    if isinstance(done, BaseException):
        reason = f"worker failed: {type(done).__name__}: {done}"
        run_id = _record_failure(store, service, metric, task.spec, reason)
        return SeriesOutcome(service, metric, False, error=reason, run_id=run_id)
    ran = SeriesOutcome(
        service,
        metric,
        False,
        seconds=done.seconds,
        worker=done.worker,
        worker_peak_mb=done.peak_mb,
        cpu_seconds=done.cpu_seconds,
    )
    if done.result is None:
        run_id = _record_failure(store, service, metric, task.spec, done.error)
        return replace(ran, error=done.error.splitlines()[0] if done.error else "failed", run_id=run_id)
    try:
        run_id = store.forecasts.save_forecast(
            service, metric, done.result, task.spec, data_version=task.data_version
        )
    except StoreError:
        raise
    except CapacityError as exc:  # a result the store refuses (e.g. deleted series): recorded, not fatal
        run_id = _record_failure(store, service, metric, task.spec, str(exc))
        return replace(ran, error=str(exc), run_id=run_id)
    after_forecast(store, service, metric)  # the /metrics gauges and the ledger rest on the newest run
    return replace(ran, ok=True, model=done.result.model, fallback=done.result.fallback, run_id=run_id)


def forecast_stored(
    store: object,
    keys: Iterable[tuple[str, str]],
    base: ForecastSpec,
    on_done: Callable[[SeriesOutcome], None] | None = None,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    resume: bool = False,
    runner: Runner | None = None,
    stop: threading.Event | None = None,
) -> list[SeriesOutcome]:
    """Forecast each (service, metric) from the store and save each result as soon as it is ready.

    A series that fails is recorded as a failed run with its reason and does not stop the others. Results are
    saved by this process in the order they finish, each with its series' ``/metrics`` gauges and ledger row
    (:func:`capacity.services.gauges.after_forecast`); an interrupted run keeps every result saved so far.

    Args:
        store: an open :class:`capacity.store.Store`.
        keys: the series to forecast.
        base: the spec shared by all series (each gets its own aggregation and events).
        on_done: called after each series is saved (or recorded as failed), in this process.
        workers: local worker processes (1: run here); ignored with ``scheduler``.
        scheduler: a Dask scheduler address (``tcp://HOST:8786``) to run the series on instead.
        resume: skip series whose newest run is a successful forecast of their current data and calendar.
        runner: an already open runner (from :func:`make_runner`) to use instead; the caller closes it.
        stop: once set, no series is started any more and the run raises :class:`Interrupted` (looked at before
            each series is submitted and every :data:`STOP_POLL_S` while the pool works; a series running in this
            process, ``workers=1``, or on Dask is finished first).

    Returns:
        One outcome per series forecast, in the order they finished.

    Raises:
        InvalidInput: for a bad worker count or an unreachable scheduler.
        StoreError: when the database fails; what was saved before stays saved.
        Interrupted: when ``stop`` was set, or the pool was shut down under it (the process is exiting); what was
            saved before stays saved.
    """
    if not isinstance(store, Store):
        raise TypeError(f"store must be a capacity.store.Store, got {type(store).__name__}")
    todo = stale_keys(store, keys) if resume else list(keys)
    outcomes: list[SeriesOutcome] = []
    if not todo:
        return outcomes
    events = store.events.list_events()
    own = runner is None
    active = runner if runner is not None else make_runner(workers, scheduler)
    window = active.slots() * QUEUE_PER_SLOT
    queue = iter(todo)
    pending: dict[Any, SeriesTask] = {}
    finished = False

    def finish(outcome: SeriesOutcome) -> None:
        outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)

    def check_stop() -> None:
        if stop is not None and stop.is_set():
            raise Interrupted(f"stopped after {len(outcomes)} of {len(todo)} series", outcomes)

    poll = STOP_POLL_S if stop is not None else None
    try:
        while True:
            check_stop()
            while len(pending) < window and (key := next(queue, None)) is not None:
                check_stop()
                try:
                    task = _prepare(store, key, base, events)
                except StoreError:
                    raise
                except CapacityError as exc:  # deleted meanwhile, or unreadable: recorded, not fatal
                    finish(SeriesOutcome(key[0], key[1], False, error=str(exc)))
                    continue
                try:
                    pending[active.submit(task)] = task
                except Interrupted as exc:
                    raise Interrupted(str(exc), outcomes) from None
            if not pending:
                break
            ready = active.next_done(poll)
            if ready is None:  # nothing finished within the poll: look at the stop event again
                continue
            handle, done = ready
            finish(_save(store, pending.pop(handle), done))  # a finished series is kept, even after a stop
        finished = True
    finally:
        if own:
            active.close(cancel=not finished)
    return outcomes
