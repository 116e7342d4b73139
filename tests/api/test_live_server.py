"""The API under gunicorn on loopback: a smoke test, a restart that kills the server mid-job (the job is resumed),
and a schemathesis run with every check against /openapi.json (bounded examples) that must find nothing."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from capacity.bench.reliability.fuzz import run_schemathesis
from capacity.store import Store
from tests.support.live import (
    LiveServer,
    seed_fleet,
    start_job_and_wait_mid_run,
    start_server,
    wait_job_finished,
)

CAPACITY = str(Path(sys.executable).with_name("capacity"))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, str], Path]]:
    """A gunicorn server on a seeded temporary database."""
    tmp = tmp_path_factory.mktemp("live")
    token = seed_fleet(tmp / "live.db")
    server = start_server(tmp / "live.db", tmp / "server.log", env={"CAPACITY_API_FORECAST_BUDGET_S": "60"})
    yield server, {"Authorization": f"Bearer {token}"}, tmp
    server.stop()


def test_gunicorn_smoke(live: tuple[LiveServer, dict[str, str], Path]) -> None:
    server, auth, _ = live
    health = requests.get(f"{server.url}/healthz", timeout=10).json()
    assert health["checks"] == {"database": "ok", "job_worker": "running"}
    missing = requests.get(f"{server.url}/api/v1/services", timeout=10)
    assert missing.status_code == 401 and missing.headers["Content-Type"] == "application/problem+json"
    services = requests.get(f"{server.url}/api/v1/services", headers=auth, timeout=10).json()["services"]
    assert {s["service"] for s in services} == {"svc0", "svc1", "checkout"}
    first = requests.get(
        f"{server.url}/api/v1/series/svc0/cpu/forecast?horizon=1d", headers=auth, timeout=120
    )
    assert first.status_code == 200 and len(first.json()["points"]) == 24
    # Either worker process answers; the forecast is stored, so both serve the same run and ETag.
    for _ in range(4):
        again = requests.get(
            f"{server.url}/api/v1/series/svc0/cpu/forecast?horizon=1d",
            headers={**auth, "If-None-Match": first.headers["ETag"]},
            timeout=120,
        )
        assert again.status_code == 304
    metrics = requests.get(f"{server.url}/metrics", timeout=30).text
    assert "capacity_http_requests_total" in metrics
    assert "Traceback" not in server.text()


def test_server_killed_mid_job_resumes_it_after_restart(tmp_path: Path) -> None:
    token = seed_fleet(tmp_path / "jobs.db", n=5, days=14)
    auth = {"Authorization": f"Bearer {token}"}
    env = {"CAPACITY_API_JOB_STALE_S": "2", "CAPACITY_API_WORKER_POLL_S": "0.2"}
    server = start_server(tmp_path / "jobs.db", tmp_path / "jobs.log", workers=1, env=env)
    try:
        location, job = start_job_and_wait_mid_run(server.url, auth)
    finally:
        server.stop(signal.SIGKILL)  # no graceful shutdown: the worker dies mid-job
    done_before = job["done"]
    server = start_server(tmp_path / "jobs.db", tmp_path / "jobs.log", workers=1, env=env)
    try:
        job = wait_job_finished(server.url, location, auth, timeout=180)
        assert job["status"] == "done" and job["done"] == job["total"] == 6 and job["failed"] == 0, job
        assert job["attempts"] == 2
    finally:
        server.stop()
    store = Store.open(tmp_path / "jobs.db")
    # Every series has a current forecast; those finished before the kill were not redone.
    runs = {
        (s.service, s.metric): len(store.forecasts.forecast_history(s.service, s.metric))
        for s in store.series.list_series()
    }
    assert all(n >= 1 for n in runs.values()) and sum(runs.values()) <= 6 + 1
    assert done_before >= 1


@pytest.mark.slow
def test_schemathesis_with_every_check_finds_nothing(tmp_path: Path) -> None:
    """The same `st run --checks all` the reliability bench makes (the cross-field rules as hooks, a response-time
    limit), with a small example budget: zero failures of any check. Its own server has the invalid-token limit
    off, as the bench's schemathesis server has: the auth checks send invalid tokens on purpose, and a client locked
    out for a minute would leave every other operation untested (429)."""
    token = seed_fleet(tmp_path / "st.db")
    server = start_server(
        tmp_path / "st.db",
        tmp_path / "server.log",
        env={"CAPACITY_API_FORECAST_BUDGET_S": "60", "CAPACITY_API_AUTH_FAIL_LIMIT": "0"},
    )
    try:
        result = run_schemathesis(server.url, token, examples=8, workdir=tmp_path)
    finally:
        server.stop()
    assert result.failures == 0, result.problems
    assert result.cases > 0
    assert (tmp_path / "schemathesis.xml").exists()
    log = (tmp_path / "schemathesis.log").read_text()
    assert "Rate limited" not in log  # the operations were reached, not refused
    assert "unhandled error" not in server.text() and "Traceback" not in server.text()
