"""The API's fleet refresh job runs its series on a pool of worker processes (``refresh_workers``), reports progress
after each series, and survives a kill -9 of the server process that runs it: its pool processes exit with it and
the restarted worker resumes the job."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pandas as pd
import pytest

from api.serving.server import GRACEFUL_TIMEOUT
from api.settings import MAX_AUTO_REFRESH_WORKERS, Settings
from capacity.batch.runners import default_workers
from capacity.errors import InvalidConfig
from capacity.events.calendar import EventOccurrence
from capacity.store import Store
from tests.support.api import make_api
from tests.support.data import hourly_history
from tests.support.live import (
    poll_job,
    seed_fleet,
    start_job_and_wait_mid_run,
    start_server,
    wait_job_finished,
)


def test_refresh_workers_setting() -> None:
    assert Settings().refresh_workers == 0
    assert Settings().refresh_pool_size == min(MAX_AUTO_REFRESH_WORKERS, default_workers())
    assert Settings.from_env({"CAPACITY_API_REFRESH_WORKERS": "3"}).refresh_pool_size == 3
    assert Settings.from_mapping({"refresh_workers": 1}).refresh_pool_size == 1
    for bad in ("-1", "many"):
        with pytest.raises(InvalidConfig, match="refresh_workers") as info:
            Settings.from_env({"CAPACITY_API_REFRESH_WORKERS": bad})
        assert info.value.field == "refresh_workers"


def test_refresh_job_runs_on_the_pool_and_renews_calendar_stale_forecasts(tmp_path: Path) -> None:
    a = make_api(tmp_path, worker=True, worker_poll_s=0.1, refresh_workers=2)
    try:
        keys = [(f"svc{i}", "cpu") for i in range(4)]
        a.store.series.ingest(
            pd.concat([hourly_history(s, m, days=10, seed=i) for i, (s, m) in enumerate(keys)])
        )
        created = a.client.post("/api/v1/jobs/forecasts", json={"horizon": "1d"}, headers=a.write)
        assert created.status_code == 202
        body = poll_job(a.client, created.headers["Location"], a.read)
        assert body["status"] == "done" and body["done"] == body["total"] == 4 and body["failed"] == 0
        job = a.store.jobs.get_job(body["id"])
        assert job.params["workers"] == 2
        # Every series ran in a pool process, none in this (the server's) process.
        pids = {int(p.rsplit(":", 1)[1]) for p in job.params["processes"]}
        assert 1 <= len(pids) <= 2 and os.getpid() not in pids

        # An event for svc1 makes its forecast stale; the next (not forced) refresh renews that one only.
        event = EventOccurrence(
            "Launch",
            pd.Timestamp("2024-01-11", tz="UTC"),
            pd.Timestamp("2024-01-12", tz="UTC"),
            2.0,
            3.0,
            "svc1",
        )
        a.store.events.add_events([event])
        again = poll_job(
            a.client,
            a.client.post("/api/v1/jobs/forecasts", json={"horizon": "1d"}, headers=a.write).headers[
                "Location"
            ],
            a.read,
        )
        assert again["status"] == "done" and again["done"] == 4 and again["failed"] == 0
        assert a.store.jobs.get_job(again["id"]).params["workers"] == 1  # one stale series: no pool needed
        assert [len(a.store.forecasts.forecast_history(*k)) for k in keys] == [1, 2, 1, 1]
        assert a.store.events.calendar_stale_series() == []
    finally:
        a.app.extensions["capacity"].extras["worker"].stop()
        a.store.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (dead, not yet reaped) is not running
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def _descendants(pid: int) -> set[int]:
    import psutil

    try:
        return {p.pid for p in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


@pytest.mark.slow  # end to end, minutes on 2 cores: `make test-slow` (CI runs it)
def test_killing_the_server_process_mid_job_ends_its_pool_and_the_job_resumes(tmp_path: Path) -> None:
    db = tmp_path / "pool.db"
    token = seed_fleet(db, n=5, days=14)
    auth = {"Authorization": f"Bearer {token}"}
    env = {
        "CAPACITY_API_JOB_STALE_S": "2",
        "CAPACITY_API_WORKER_POLL_S": "0.2",
        "CAPACITY_API_REFRESH_WORKERS": "2",
    }
    server = start_server(db, tmp_path / "pool.log", workers=1, env=env)
    try:
        location, job = start_job_and_wait_mid_run(server.url, auth)
        store = Store.open(db)
        owner = int(
            str(store.jobs.get_job(job["id"]).worker).rsplit(":", 1)[1]
        )  # the gunicorn worker running it
        pool = _descendants(owner)
        assert len(pool) >= 2, pool  # the forkserver and the pool's worker processes
        os.kill(owner, signal.SIGKILL)  # only that process: gunicorn's master starts a new worker
        deadline = time.monotonic() + 120
        while any(_alive(p) for p in pool) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [p for p in pool if _alive(p)], "pool processes outlived the killed server process"

        job = wait_job_finished(server.url, location, auth)
        assert job["status"] == "done" and job["done"] == job["total"] == 6 and job["failed"] == 0, job
        assert job["attempts"] == 2
        resumed = store.jobs.get_job(job["id"])
        assert int(str(resumed.worker).rsplit(":", 1)[1]) != owner
        # Every series has a current forecast; those stored before the kill were not redone.
        runs = [
            len(store.forecasts.forecast_history(s.service, s.metric)) for s in store.series.list_series()
        ]
        assert all(n >= 1 for n in runs) and sum(runs) <= 6 + 1
        store.close()
    finally:
        server.stop()
    assert "Traceback" not in server.text()


@pytest.mark.slow  # end to end, minutes on 2 cores: `make test-slow` (CI runs it)
def test_a_graceful_stop_mid_job_requeues_it_and_a_restart_finishes_it_without_redoing_stored_series(
    tmp_path: Path,
) -> None:
    db = tmp_path / "graceful.db"
    token = seed_fleet(db, n=7, days=14)
    auth = {"Authorization": f"Bearer {token}"}
    env = {"CAPACITY_API_WORKER_POLL_S": "0.2", "CAPACITY_API_REFRESH_WORKERS": "2"}
    server = start_server(db, tmp_path / "graceful.log", workers=1, env=env)
    store = Store.open(db)
    try:
        location, job = start_job_and_wait_mid_run(server.url, auth)
        owner = int(str(store.jobs.get_job(job["id"]).worker).rsplit(":", 1)[1])
        pool = _descendants(owner)
        assert len(pool) >= 2, pool
        started = time.monotonic()
        os.kill(server.proc.pid, signal.SIGTERM)  # a graceful stop of the master, as a deploy does
        server.proc.wait(timeout=60)
        took = time.monotonic() - started
    finally:
        server.stop(signal.SIGKILL)
    assert took < GRACEFUL_TIMEOUT, f"the graceful stop took {took:.1f} s"  # not killed by the master
    assert not [p for p in pool if _alive(p)], "pool processes outlived the graceful stop"
    stopped = store.jobs.get_job(job["id"])
    assert stopped.status == "queued" and stopped.error is None and stopped.worker is None, stopped
    assert stopped.params["released"] == 1 and stopped.attempts == 0
    stored_before = sum(
        len(store.forecasts.forecast_history(s.service, s.metric)) for s in store.series.list_series()
    )
    assert 1 <= stored_before < 8
    assert "Traceback" not in server.text()

    server = start_server(db, tmp_path / "graceful.log", workers=1, env=env)
    try:
        job = wait_job_finished(server.url, location, auth)
    finally:
        server.stop()
    assert job["status"] == "done" and job["done"] == job["total"] == 8 and job["failed"] == 0, job
    # Each series was forecast once: those stored before the stop were not redone (the job was forced).
    assert [
        len(store.forecasts.forecast_history(s.service, s.metric)) for s in store.series.list_series()
    ] == [1] * 8
    assert store.jobs.get_job(job["id"]).attempts == 1
    store.close()
    assert "Traceback" not in server.text()
