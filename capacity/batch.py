"""Forecast many stored series: in this process, on a local process pool, or on a Dask cluster.

``forecast_one`` is the pure per-series step (history in, result out) and ``run_task`` wraps it for a worker
(errors become a reason, not an exception). The same ``run_task`` runs on the process pool and on Dask, so both
give identical forecasts for the same inputs. ``forecast_stored`` drives it: it loads each series from the store,
keeps a bounded number of series in flight, and saves each result in this (the parent) process as soon as its
series finishes, so an interrupted run keeps what it did. A series that fails is recorded with its reason and does
not stop the others. A run asked to stop (``stop``, e.g. a server's graceful shutdown) submits nothing more,
cancels the series queued on the pool, ends the pool's processes, and raises :class:`Interrupted`: what was saved
stays saved, and a later ``resume=True`` run does only the rest.

Heavy imports (pandas, the engine) are deferred so that a pool worker can pin BLAS/OpenMP to one thread before
numpy loads.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from capacity.errors import CapacityError, Interrupted, InvalidInput, StoreError

if TYPE_CHECKING:
    import pandas as pd

    from capacity.events import EventOccurrence
    from capacity.forecast import ForecastResult, ForecastSpec
    from capacity.store import Store

#: Environment variables that cap the thread pools of BLAS and OpenMP libraries.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
#: How many series per worker slot are loaded and queued ahead, so no worker waits for the parent.
QUEUE_PER_SLOT = 2
#: Seconds to wait for a Dask scheduler to answer.
CONNECT_TIMEOUT = 10.0
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


@dataclass(frozen=True)
class SeriesTask:
    """One series to forecast: its history, its spec, and the data version the history was read at."""

    service: str
    metric: str
    values: pd.Series
    spec: ForecastSpec
    data_version: int


@dataclass(frozen=True)
class TaskResult:
    """What a worker sends back for one :class:`SeriesTask`."""

    service: str
    metric: str
    result: ForecastResult | None
    error: str
    seconds: float
    worker: str
    peak_mb: float
    cpu_seconds: float = 0.0


def forecast_one(values: pd.Series, spec: ForecastSpec) -> ForecastResult:
    """Forecast one series (pure).

    Raises:
        CapacityError: for input the engine cannot use.
    """
    from capacity.forecast import forecast_series

    if values.empty:
        raise CapacityError("the series has no samples", field="series")
    return forecast_series(values, spec)


def spec_for(base: ForecastSpec, agg: str, service: str, events: Sequence[EventOccurrence]) -> ForecastSpec:
    """The spec of one series: its aggregation and the events that apply to its service."""
    return replace(base, agg=agg, events=tuple(e for e in events if e.applies_to(service)))


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB (0 where the platform cannot tell)."""
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    import sys

    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def run_task(task: SeriesTask) -> TaskResult:
    """Forecast one task in a worker; an error becomes its reason instead of an exception.

    This is the one function both the process pool and Dask run.
    """
    import socket

    started = time.perf_counter()
    cpu_started = time.process_time()
    result = None
    error = ""
    try:
        result = forecast_one(task.values, task.spec)
    except CapacityError as exc:
        error = str(exc)
    except Exception as exc:  # a bug or a numeric failure in one series must not stop the fleet
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
    return TaskResult(
        service=task.service,
        metric=task.metric,
        result=result,
        error=error,
        seconds=time.perf_counter() - started,
        worker=f"{socket.gethostname()}:{os.getpid()}",
        peak_mb=peak_rss_mb(),
        cpu_seconds=time.process_time() - cpu_started,
    )


def pin_threads() -> None:
    """Limit BLAS/OpenMP to one thread in this worker process: the pool already uses every core."""
    for name in THREAD_ENV:
        os.environ[name] = "1"  # for libraries loaded after this point
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # the environment variables still cover libraries not loaded yet
        return
    threadpool_limits(limits=1)  # for libraries already loaded (numpy's OpenBLAS in a forked worker)


def _watch_parent(parent: int) -> None:
    # A worker whose parent was killed (SIGKILL leaves no chance to shut the pool down) exits instead of lingering
    # as an orphan. The parent is the process that made the pool, not the forkserver (which outlives it).
    try:
        fd = os.pidfd_open(parent)  # readable once the process has ended, reaped or not (Linux 5.3+)
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        import select

        select.select([fd], [], [])
    else:
        while True:
            time.sleep(1.0)
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                break
            except PermissionError:
                pass
    os._exit(0)


def _init_worker(parent: int) -> None:
    pin_threads()
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="watch-parent").start()


class _Runner(Protocol):
    def slots(self) -> int: ...
    def submit(self, task: SeriesTask) -> Any: ...
    def next_done(self, timeout: float | None = None) -> tuple[Any, TaskResult | BaseException] | None: ...
    def close(self, cancel: bool) -> None: ...


class _InlineRunner:
    """Runs each task in this process, one at a time (``workers=1``)."""

    def __init__(self) -> None:
        self._queue: deque[tuple[SeriesTask, int]] = deque()
        self._n = 0

    def slots(self) -> int:
        return 1

    def submit(self, task: SeriesTask) -> Any:
        self._n += 1
        self._queue.append((task, self._n))
        return self._n

    def next_done(self, timeout: float | None = None) -> tuple[Any, TaskResult | BaseException] | None:
        task, handle = self._queue.popleft()  # runs here: the timeout cannot apply
        return handle, run_task(task)

    def close(self, cancel: bool) -> None:
        self._queue.clear()


class _PoolRunner:
    """A local process pool; BLAS/OpenMP pinned to one thread per worker."""

    def __init__(self, workers: int) -> None:
        import multiprocessing

        # forkserver: workers start from a clean server process, so they inherit neither this process's threads
        # (progress bar) nor its open database connections, as fork would.
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        self._ctx = multiprocessing.get_context(method)
        self._workers = workers
        self._pending: set[Any] = set()
        self._done: deque[Any] = deque()
        self._generation = 0
        self._generation_of: dict[Any, int] = {}
        self._executor = self._new_executor()

    def _new_executor(self) -> Any:
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(
            max_workers=self._workers, mp_context=self._ctx, initializer=_init_worker, initargs=(os.getpid(),)
        )

    def slots(self) -> int:
        return self._workers

    def submit(self, task: SeriesTask) -> Any:
        from concurrent.futures.process import BrokenProcessPool

        try:
            try:
                future = self._executor.submit(run_task, task)
            except BrokenProcessPool:  # broke since the last result: the rest run on a fresh pool
                self._restart()
                future = self._executor.submit(run_task, task)
        except RuntimeError as exc:
            # "cannot schedule new futures after (interpreter) shutdown": the process is exiting (a server's graceful
            # stop runs concurrent.futures' exit hook): the batch is interrupted, not failed.
            if "shutdown" not in str(exc):
                raise
            raise Interrupted(f"the worker pool was shut down: {exc}") from None
        self._pending.add(future)
        self._generation_of[future] = self._generation
        return future

    def _restart(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._generation += 1
        self._executor = self._new_executor()

    def next_done(self, timeout: float | None = None) -> tuple[Any, TaskResult | BaseException] | None:
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        if not self._done:
            finished, _ = wait(self._pending, timeout=timeout, return_when=FIRST_COMPLETED)
            if not finished:
                return None
            self._pending -= finished
            self._done.extend(finished)
        future = self._done.popleft()
        generation = self._generation_of.pop(future)
        try:
            return future, future.result()
        except BrokenProcessPool as exc:
            # A worker died (killed, out of memory): every task in flight on that pool is lost; the rest run on a
            # fresh pool (started once per broken pool, not once per lost task).
            if generation == self._generation:
                self._restart()
            return future, exc
        except Exception as exc:
            return future, exc

    def close(self, cancel: bool) -> None:
        if not cancel:
            self._executor.shutdown(wait=True)
            return
        # Drop the queued tasks and end the running ones: their results are not wanted, and an exiting process
        # would otherwise wait for them (concurrent.futures joins its pools at exit), maybe past a server's
        # graceful timeout. The executor keeps no public handle on its processes; _processes is a stable private
        # attribute (3.8-3.13), read defensively.
        processes = list((getattr(self._executor, "_processes", None) or {}).values())
        self._executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            with contextlib.suppress(OSError, ValueError):  # already gone or closed
                process.terminate()


def check_scheduler_address(address: str) -> str:
    """Check that ``address`` looks like a Dask scheduler address (``tcp://HOST:PORT``, ``tls://...``).

    Raises:
        InvalidInput: naming the scheduler option and echoing the value.
    """
    if "://" not in address or not address.split("://", 1)[1]:
        raise InvalidInput(
            f"scheduler must be an address like tcp://HOST:8786, got {address!r}", field="scheduler"
        )
    return address


class _DaskRunner:
    """An existing Dask cluster, reached through its scheduler's address."""

    def __init__(self, address: str) -> None:
        check_scheduler_address(address)
        try:
            from distributed import Client, as_completed
        except ImportError:
            raise InvalidInput(
                "--scheduler needs Dask: pip install 'capacity-planner[dask]'", field="scheduler"
            ) from None
        try:
            self._client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InvalidInput(
                f"cannot reach the Dask scheduler at {address}: {first}", field="scheduler"
            ) from None
        self._client.run(pin_threads)
        self._completed = as_completed(loop=self._client.loop)

    def slots(self) -> int:
        return max(1, sum(self._client.nthreads().values()))

    def submit(self, task: SeriesTask) -> Any:
        future = self._client.submit(run_task, task, pure=False)
        self._completed.add(future)
        return future

    def next_done(self, timeout: float | None = None) -> tuple[Any, TaskResult | BaseException] | None:
        future = next(self._completed)  # as_completed has no timeout: a stop is seen after the next result
        try:
            return future, future.result()
        except Exception as exc:  # a worker died (KilledWorker) or the task could not be sent
            return future, exc

    def worker_peaks_mb(self) -> dict[str, float]:
        """Each worker's peak resident memory, in MiB."""
        return {str(k): float(v) for k, v in self._client.run(peak_rss_mb).items()}

    def close(self, cancel: bool) -> None:
        self._client.close()


def make_runner(workers: int = 1, scheduler: str | None = None) -> _Runner:
    """Where the series run: Dask when given a scheduler address, else a pool of ``workers`` processes (this process
    alone when 1).

    Raises:
        InvalidInput: for a bad worker count, or a scheduler that cannot be reached.
    """
    if scheduler:
        return _DaskRunner(scheduler)
    if workers < 1:
        raise InvalidInput(f"workers must be at least 1, got {workers}", field="workers")
    return _InlineRunner() if workers == 1 else _PoolRunner(workers)


def default_workers() -> int:
    """The number of cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def stale_keys(store: Store, keys: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The series of ``keys`` whose newest run is not a successful forecast of their current data and calendar.

    A forecast is stale when samples changed since it was made (``data_version``) or when the events that apply
    to its series changed (``events_digest``: an event added, changed or deleted, fleet-wide or for its service);
    a series with no run, or whose newest run failed, needs one too. The rule is :mod:`capacity.store.staleness`'s
    (one query for every series); a key the store does not hold is returned (forecasting it records why not).
    """
    from capacity.store.staleness import FRESH, NEVER

    needs = store.forecast_staleness()
    return [key for key in keys if needs.get(key, NEVER) != FRESH]


def _prepare(
    store: Store, key: tuple[str, str], base: ForecastSpec, events: Sequence[EventOccurrence]
) -> SeriesTask:
    service, metric = key
    info = store.describe(service, metric)
    values = store.load_history(service, metric)
    return SeriesTask(service, metric, values, spec_for(base, info.agg, service, events), info.data_version)


def _record_failure(store: Store, service: str, metric: str, spec: ForecastSpec, reason: str) -> int | None:
    try:
        return store.save_failed_forecast(service, metric, spec, reason)
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
        run_id = store.save_forecast(service, metric, done.result, task.spec, data_version=task.data_version)
    except StoreError:
        raise
    except CapacityError as exc:  # a result the store refuses (e.g. deleted series): recorded, not fatal
        run_id = _record_failure(store, service, metric, task.spec, str(exc))
        return replace(ran, error=str(exc), run_id=run_id)
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
    runner: _Runner | None = None,
    stop: threading.Event | None = None,
) -> list[SeriesOutcome]:
    """Forecast each (service, metric) from the store and save each result as soon as it is ready.

    A series that fails is recorded as a failed run with its reason and does not stop the others. Results are
    saved by this process in the order they finish; an interrupted run keeps every result saved so far.

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
    from capacity.store import Store

    if not isinstance(store, Store):
        raise TypeError(f"store must be a capacity.store.Store, got {type(store).__name__}")
    todo = stale_keys(store, keys) if resume else list(keys)
    outcomes: list[SeriesOutcome] = []
    if not todo:
        return outcomes
    events = store.list_events()
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
