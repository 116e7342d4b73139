"""Where many series run: in this process, on a local process pool, or on a Dask cluster.

A runner takes :class:`~capacity.batch.task.SeriesTask` objects and hands back
:class:`~capacity.batch.task.TaskResult` objects as they finish; every runner runs the same
:func:`~capacity.batch.task.run_task`, so all give identical forecasts. Pool workers pin BLAS/OpenMP to one thread
(the pool already uses every core) and exit when the process that made the pool dies. What to run and where to
save it is :mod:`capacity.services.forecasting`'s business.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import select
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from capacity.batch.task import SeriesTask, TaskResult, peak_rss_mb, run_task
from capacity.errors import Interrupted, InvalidInput

#: Environment variables that cap the thread pools of BLAS and OpenMP libraries.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
#: Seconds to wait for a Dask scheduler to answer.
CONNECT_TIMEOUT = 10.0
#: Seconds a dead pool worker may leave every result pending before the pool is ended by hand (see
#: ``_PoolRunner._wait``); concurrent.futures notices an ordinary death within milliseconds.
STUCK_AFTER_S = 10.0


def pin_threads() -> None:
    """Limit BLAS/OpenMP to one thread in this worker process: the pool already uses every core."""
    for name in THREAD_ENV:
        os.environ[name] = "1"  # for libraries loaded after this point
    try:
        # deferred: optional (threadpoolctl comes with most scipy installs, not all)
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


class Runner(Protocol):
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

        return ProcessPoolExecutor(
            max_workers=self._workers, mp_context=self._ctx, initializer=_init_worker, initargs=(os.getpid(),)
        )

    def slots(self) -> int:
        return self._workers

    def submit(self, task: SeriesTask) -> Any:
        return self.submit_call(run_task, task)

    def submit_call(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on the pool; its future comes back from :meth:`next_done` like a task's."""
        try:
            try:
                future = self._executor.submit(fn, *args)
            except BrokenProcessPool:  # broke since the last result: the rest run on a fresh pool
                self._restart()
                future = self._executor.submit(fn, *args)
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

        if not self._done:
            finished = self._wait(timeout)
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

    def _wait(self, timeout: float | None) -> set[Any]:
        """The futures done within ``timeout`` (None: until one is), unsticking a pool a dead worker hung.

        A worker killed while it was writing a result to the pool's result pipe leaves a partial message there:
        concurrent.futures' manager thread then waits for the rest of it forever, so no future ever completes
        and no BrokenProcessPool is raised (the kill is only noticed between messages). When a worker has been
        dead for :data:`STUCK_AFTER_S` and still nothing completed, :meth:`_unstick` ends the pool by hand.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        dead_since: float | None = None
        while True:
            step = 1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic()))
            finished, _ = wait(self._pending, timeout=step, return_when=FIRST_COMPLETED)
            now = time.monotonic()
            if finished or (deadline is not None and now >= deadline):
                return set(finished)
            if not self._a_worker_died():
                dead_since = None
            elif dead_since is None:
                dead_since = now
            elif now - dead_since >= STUCK_AFTER_S:
                self._unstick()
                dead_since = None

    def _processes(self) -> list[Any]:
        # _processes is a stable private attribute of ProcessPoolExecutor (3.8-3.13), read defensively.
        return list((getattr(self._executor, "_processes", None) or {}).values())

    def _a_worker_died(self) -> bool:
        return any(process.exitcode is not None for process in self._processes())

    def _unstick(self) -> None:
        """End a pool whose manager thread is stuck on a dead worker's partial result.

        Every worker is terminated and this process's copy of the result pipe's write end is closed: with no
        writer left, the manager thread's read ends (EOF), and it fails every pending future with
        BrokenProcessPool, which :meth:`next_done` handles as for any broken pool.
        """
        for process in self._processes():
            with contextlib.suppress(OSError, ValueError):  # already gone or closed
                process.terminate()
        writer = getattr(getattr(self._executor, "_result_queue", None), "_writer", None)
        if writer is not None:
            with contextlib.suppress(OSError):
                writer.close()

    def close(self, cancel: bool) -> None:
        if not cancel:
            self._executor.shutdown(wait=True)
            return
        # Drop the queued tasks and end the running ones: their results are not wanted, and an exiting process
        # would otherwise wait for them (concurrent.futures joins its pools at exit), maybe past a server's
        # graceful timeout. The executor keeps no public handle on its processes; _processes is a stable private
        # attribute (3.8-3.13), read defensively.
        processes = self._processes()
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
            from distributed import Client, as_completed  # deferred: optional and heavy (the dask extra)
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


def make_runner(workers: int = 1, scheduler: str | None = None) -> Runner:
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
