"""Fleet forecast jobs: 202 + Location, progress, and a job interrupted by a restart is resumed, not lost."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from api import create_app
from tests.support.api import Api, assert_problem, make_api
from tests.support.data import hourly_history
from tests.support.live import poll_job


def _fleet(a: Api, n: int = 3) -> None:
    a.store.series.ingest(pd.concat([hourly_history(f"svc{i}", "cpu", days=10, seed=i) for i in range(n)]))


def test_refresh_job_runs_in_the_worker_and_reports_progress(tmp_path: Path) -> None:
    a = make_api(tmp_path, worker=True, worker_poll_s=0.1)
    _fleet(a)
    response = a.client.post("/api/v1/jobs/forecasts", json={"horizon": "2d"}, headers=a.write)
    assert response.status_code == 202
    location = response.headers["Location"]
    assert location.startswith("/api/v1/jobs/") and response.get_json()["total"] == 3
    body = poll_job(a.client, location, a.read)
    assert body["status"] == "done" and body["done"] == 3 and body["failed"] == 0 and body["progress"] == 1.0
    for i in range(3):
        assert a.store.forecasts.latest_run_status(f"svc{i}", "cpu")["status"] == "ok"
    # A second refresh has nothing stale to do: every series already has a current forecast.
    again = poll_job(
        a.client,
        a.client.post("/api/v1/jobs/forecasts", json={}, headers=a.write).headers["Location"],
        a.read,
    )
    assert again["status"] == "done" and again["done"] == 3
    assert len(a.store.forecasts.forecast_history("svc0", "cpu")) == 1
    jobs = a.client.get("/api/v1/jobs", headers=a.read).get_json()["jobs"]
    assert len(jobs) == 2
    a.app.extensions["capacity"].extras["worker"].stop()


def test_job_input_errors(tmp_path: Path) -> None:
    a = make_api(tmp_path)
    _fleet(a, 1)
    assert_problem(
        a.client.post("/api/v1/jobs/forecasts", json={"horizon": "soon"}, headers=a.write), 422, "horizon"
    )
    assert_problem(
        a.client.post("/api/v1/jobs/forecasts", json={"series": ["nosuch/cpu"]}, headers=a.write),
        404,
        "series",
    )
    assert_problem(
        a.client.post("/api/v1/jobs/forecasts", json={"series": ["no-slash"]}, headers=a.write), 422, "series"
    )
    assert_problem(a.client.post("/api/v1/jobs/forecasts", json={}, headers=a.read), 403)
    assert_problem(a.client.get("/api/v1/jobs/not-a-job", headers=a.read), 404)
    assert_problem(a.client.get("/api/v1/jobs/00000000-0000-0000-0000-000000000000", headers=a.read), 404)
    only = a.client.post("/api/v1/jobs/forecasts", json={"series": ["svc0/cpu"]}, headers=a.write)
    assert only.status_code == 202 and only.get_json()["total"] == 1


def test_job_interrupted_by_a_restart_is_resumed(tmp_path: Path) -> None:
    # Server 1 queues the job; its worker (simulated: it claims and records one series) dies mid-job.
    first = make_api(tmp_path)
    _fleet(first, 3)
    created = first.client.post(
        "/api/v1/jobs/forecasts", json={"horizon": "2d"}, headers=first.write
    ).get_json()
    claimed = first.store.jobs.claim_job("dead-host:1", ("forecasts",))
    assert claimed is not None and claimed.id == created["id"] and claimed.status == "running"
    from capacity.forecast.types import ForecastSpec
    from capacity.services.forecasting import forecast_stored

    forecast_stored(first.store, [("svc0", "cpu")], ForecastSpec(horizon=48))
    first.store.jobs.job_progress(claimed.id, 1, 0)
    first.store.close()
    time.sleep(1.1)  # the dead worker's heartbeat goes stale (job_stale_s=1 below)

    # Server 2 starts on the same database: it finds the job running with a stale heartbeat and resumes it.
    app = create_app({"db": str(tmp_path / "api.db"), "worker": True, "worker_poll_s": 0.1, "job_stale_s": 1})
    st = app.extensions["capacity"]
    _, secret = st.store.tokens.create_token(["read"], "after-restart")
    body = poll_job(app.test_client(), f"/api/v1/jobs/{created['id']}", {"Authorization": f"Bearer {secret}"})
    assert body["status"] == "done" and body["done"] == 3 and body["failed"] == 0
    assert body["attempts"] == 2
    assert (
        len(st.store.forecasts.forecast_history("svc0", "cpu")) == 1
    )  # finished before the restart: not redone
    assert all(st.store.forecasts.latest_run_status(f"svc{i}", "cpu")["status"] == "ok" for i in range(3))
    st.extras["worker"].stop()


def test_job_that_keeps_killing_workers_is_failed_not_lost(tmp_path: Path) -> None:
    a = make_api(tmp_path)
    _fleet(a, 1)
    job = a.store.jobs.create_job("forecasts", {"keys": [["svc0", "cpu"]]}, total=1)
    for _ in range(3):
        assert a.store.jobs.claim_job("doomed:1") is not None
        recovered = a.store.jobs.recover_stale_jobs(stale_after=-1, max_attempts=3)
        assert [j.id for j in recovered] == [job.id]
    final = a.store.jobs.get_job(job.id)
    assert final.status == "failed" and "gave up" in (final.error or "")
