"""The job worker: a daemon thread in each server process that claims queued jobs from the database and runs them.

Jobs survive a restart: they live in the ``jobs`` table, progress is recorded after every series, and on start
(and then every poll) the worker puts back in the queue the running jobs whose heartbeat went stale (their worker
died); a resumed forecast job skips the series already forecast from their current data.

When the queue is empty the worker brings the stored ``/metrics`` gauges and the forecast ledger up to date, every
:data:`CATCH_UP_S` seconds (:func:`capacity.services.gauges.catch_up`: series whose newest run or settings changed
since their gauges were written, runs never scored, e.g. in a database from before the ledger), so a scrape only
reads rows.

A graceful stop of the server process (gunicorn's ``worker_exit`` hook calls :func:`stop_all`) interrupts the
running job cleanly: no series is started any more, the series queued on the pool are cancelled and its processes
ended, what was stored stays stored, and the job goes back in the queue (not failed) for the next worker.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback

from flask import Flask

from api.state import AppState
from capacity.errors import Interrupted
from capacity.forecast.types import ForecastSpec
from capacity.services.forecasting import SeriesOutcome, forecast_stored
from capacity.services.gauges import catch_up
from capacity.services.staleness import stale_keys
from capacity.store.jobs import JobInfo

log = logging.getLogger("capacity.api.worker")

FORECASTS = "forecasts"

#: Seconds between two background passes over the gauges and the ledger while the queue is empty.
CATCH_UP_S = 5.0

_started: list[JobWorker] = []
_started_lock = threading.Lock()


def worker_id() -> str:
    """This process's worker name: host, pid and a thread-unique suffix."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


def run_forecast_job(st: AppState, job: JobInfo, stop: threading.Event | None = None) -> None:
    """Run one fleet forecast job to the end, recording progress after each series.

    The series run on a pool of ``refresh_workers`` processes (see :attr:`Settings.refresh_pool_size`; one series
    runs in this process); each result is stored, and the job's progress recorded, by this process as soon as its
    series finishes, so a server killed mid-job loses only the series in flight (its pool processes exit with
    it). Series whose newest run already forecasts their current data and calendar are counted as done without
    work: what a restarted job finished before the restart, and (unless the job is forced) what was already fresh.
    A forced job forces only its first run: a resumed one (after a crash or a graceful stop) does not redo what it
    stored.

    Raises:
        capacity.errors.Interrupted: when ``stop`` was set before the end (what was stored stays stored).
    """

    existing = {(s.service, s.metric) for s in st.store.series.list_series()}
    keys = [(str(s), str(m)) for s, m in job.params.get("keys", []) if (str(s), str(m)) in existing]
    base = ForecastSpec(horizon=int(job.params.get("horizon_steps", 24 * 14)))
    resumed = job.attempts > 1 or int(job.params.get("released", 0)) > 0
    force = bool(job.params.get("force", False)) and not resumed
    todo = keys if force else stale_keys(st.store, keys)
    workers = max(1, min(st.settings.refresh_pool_size, len(todo)))
    failures: list[dict[str, str]] = []
    processes: set[str] = set()
    done, failed = len(keys) - len(todo), 0

    def params() -> dict[str, object]:
        return {**job.params, "failures": failures[-50:], "workers": workers, "processes": sorted(processes)}

    st.store.jobs.job_progress(job.id, done, failed, params())

    def on_done(outcome: SeriesOutcome) -> None:
        nonlocal done, failed
        done += 1
        if outcome.worker:
            processes.add(outcome.worker)
        if not outcome.ok:
            failed += 1
            failures.append(
                {"series": f"{outcome.service}/{outcome.metric}", "error": str(outcome.error)[:300]}
            )
        st.store.jobs.job_progress(job.id, done, failed, params())
        st.invalidate_series(outcome.service, outcome.metric)

    forecast_stored(st.store, todo, base, on_done, workers=workers, stop=stop)


class JobWorker(threading.Thread):
    """Claims and runs jobs until stopped; beats each running job's heartbeat from a side thread."""

    def __init__(self, st: AppState) -> None:
        super().__init__(name="capacity-job-worker", daemon=True)
        self.st = st
        self.stop_event = threading.Event()
        self.worker = worker_id()
        self.current: str | None = None
        self.caught_up_at = float("-inf")

    def _catch_up(self) -> None:
        """A background pass over the gauges and the ledger, at most every :data:`CATCH_UP_S` seconds."""
        if time.monotonic() - self.caught_up_at < CATCH_UP_S:
            return
        try:
            catch_up(self.st.store)
        except Exception:  # a busy database must not kill the worker; the next pass retries
            log.warning("updating the gauges failed", exc_info=True)
        self.caught_up_at = time.monotonic()

    def _beat(self) -> None:
        interval = max(1.0, self.st.settings.job_stale_s / 4)
        while not self.stop_event.wait(interval):
            job = self.current
            if job is not None:
                try:
                    self.st.store.jobs.heartbeat_job(job, self.worker)
                except Exception:  # a busy database must not kill the heartbeat thread
                    log.warning("heartbeat of job %s failed", job, exc_info=True)

    def run(self) -> None:
        threading.Thread(target=self._beat, name="capacity-job-heartbeat", daemon=True).start()
        settings = self.st.settings
        while not self.stop_event.is_set():
            try:
                self.st.store.jobs.recover_stale_jobs(settings.job_stale_s, settings.job_max_attempts)
                job = self.st.store.jobs.claim_job(self.worker, (FORECASTS,))
            except Exception:
                log.warning("job queue unavailable", exc_info=True)
                job = None
            if job is None:
                self._catch_up()
                self.stop_event.wait(settings.worker_poll_s)
                continue
            self.current = job.id
            try:
                run_forecast_job(self.st, job, self.stop_event)
                self.st.store.jobs.finish_job(job.id)
            except Interrupted as exc:  # a graceful stop, or the process is exiting under the job
                self.stop_event.set()
                self._release(job, exc)
            except Exception as exc:
                log.error("job %s failed:\n%s", job.id, traceback.format_exc())
                try:
                    self.st.store.jobs.fail_job(job.id, f"{type(exc).__name__}: {exc}")
                except Exception:
                    log.warning("could not record the failure of job %s", job.id, exc_info=True)
            finally:
                self.current = None

    def _release(self, job: JobInfo, exc: Interrupted) -> None:
        try:
            released = self.st.store.jobs.release_job(job.id, self.worker)
        except Exception:  # the heartbeat stops with this worker: the job is resumed once it goes stale
            log.warning("could not put job %s back in the queue", job.id, exc_info=True)
            return
        if released:
            log.info("job %s interrupted (%s): back in the queue", job.id, exc)

    def stop(self, timeout: float | None = None) -> bool:
        """Ask the worker to stop: the current job is interrupted and put back in the queue.

        Args:
            timeout: seconds to wait for the worker thread to end (None: do not wait).

        Returns:
            True when the worker thread has ended.
        """
        self.stop_event.set()
        if timeout is not None and self.is_alive() and self is not threading.current_thread():
            self.join(timeout)
        return not self.is_alive()


def started_count() -> int:
    """How many job workers this process started (0 in a process whose app never booted)."""
    with _started_lock:
        return len(_started)


def stop_all(timeout: float) -> bool:
    """Stop every job worker this process started, waiting up to ``timeout`` seconds in all (a graceful exit).

    Returns:
        True when every worker thread has ended.
    """
    with _started_lock:
        workers = list(_started)
    for w in workers:
        w.stop_event.set()
    deadline = time.monotonic() + timeout
    return all(w.stop(max(0.0, deadline - time.monotonic())) for w in workers)


def start(app: Flask) -> JobWorker:
    """Recover jobs left running by a dead worker, then start this process's worker thread."""
    st: AppState = app.extensions["capacity"]
    st.store.jobs.recover_stale_jobs(st.settings.job_stale_s, st.settings.job_max_attempts)
    worker = JobWorker(st)
    st.extras["worker"] = worker
    with _started_lock:
        _started[:] = [w for w in _started if w.is_alive()]
        _started.append(worker)
    worker.start()
    return worker
