"""A real ``capacity serve`` for the tests: a seeded fleet, a server on loopback, and a refresh job watched from
outside."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
import requests

from capacity.store import Store
from capacity.testing.serve import ServeProcess
from tests.support.data import hourly_history

LiveServer = ServeProcess


def start_server(db: Path, log: Path, *, workers: int = 2, env: dict[str, str] | None = None) -> ServeProcess:
    """Start ``capacity serve`` on a free loopback port and wait until /healthz answers."""
    return ServeProcess(db, log, workers=workers, env=env or {}).start(
        timeout=300
    )  # a hang guard: two workers boot slowly on a busy machine


def seed_fleet(db: Path, n: int = 2, days: int = 10) -> str:
    """Store ``n`` cpu series and one rps series; returns an admin token."""
    store = Store.open(db)
    frames = [hourly_history(f"svc{i}", "cpu", days=days, seed=i) for i in range(n)]
    frames.append(hourly_history("checkout", "rps", days=days, seed=9))
    store.series.ingest(pd.concat(frames))
    store.series.update_series("checkout", "rps", threshold=120.0)
    _, secret = store.tokens.create_token(["admin"], "live-tests")
    store.close()
    return secret


def start_job_and_wait_mid_run(url: str, auth: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """Queue a forced fleet refresh on the server at ``url`` and poll until it runs with some but not all series
    done; returns the job's path (``/api/v1/jobs/ID``) and its state then."""
    created = requests.post(f"{url}/api/v1/jobs/forecasts", json={"force": True}, headers=auth, timeout=30)
    assert created.status_code == 202
    path = "/api/" + created.headers["Location"].split("/api/", 1)[-1]  # the Location may be absolute
    job: dict[str, Any] = {}
    deadline = time.monotonic() + 300  # a hang guard, not a speed check
    while time.monotonic() < deadline:
        job = requests.get(url + path, headers=auth, timeout=30).json()
        if job["status"] == "running" and 1 <= job["done"] < job["total"]:
            break
        time.sleep(0.05)
    assert job["status"] == "running" and 1 <= job["done"] < job["total"], job
    return path, job


def wait_job_finished(url: str, path: str, auth: dict[str, str], timeout: float = 600) -> dict[str, Any]:
    """Poll the job at ``url + path`` until it is done or failed (or ``timeout`` passes); returns its state."""
    job: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = requests.get(url + path, headers=auth, timeout=30).json()
        if job["status"] in ("done", "failed"):
            break
        time.sleep(0.3)
    return job


def poll_job(client: Any, location: str, headers: dict[str, str], timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(location, headers=headers).get_json()
        if body["status"] in ("done", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.3)
