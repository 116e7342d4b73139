"""Crash safety: SIGKILL ``capacity serve`` at random moments during large ingests and fleet forecast jobs.

Each round sends one large ingest (its own series, ``rows`` samples, so what reached the database can be counted
exactly), every few rounds queues a fleet forecast job first, then kills the whole server process group at a
random moment. With the server dead, the SQLite file is checked directly: ``PRAGMA integrity_check`` is ``ok``;
every ingest acknowledged with a 2xx holds all its rows; no unacknowledged ingest is half present (0 or all rows);
every acknowledged job is still in the jobs table. At the end the last server must finish every job (resumed,
or marked failed after too many attempts), none stays queued or running.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import requests

from capacity.store import Store
from capacity.testing.serve import ServeProcess, create_token

#: First ingested timestamp (2026-01-01 UTC); samples are one minute apart.
START = 1_767_225_600
FLEET_SERVICE = "fleet"
#: Server settings for the loop: a dead worker's job is taken back after 2 s.
SERVER_ENV = {
    "CAPACITY_API_JOB_STALE_S": "2",
    "CAPACITY_API_WORKER_POLL_S": "0.2",
    "CAPACITY_API_JOB_MAX_ATTEMPTS": "5",
}


@dataclass
class KillResult:
    """What the kill loop did and found."""

    kills: int = 0
    ingests_sent: int = 0
    ingests_acked: int = 0
    jobs_acked: int = 0
    jobs_done: int = 0
    jobs_failed: int = 0
    job_claims: int = 0
    integrity_failures: int = 0
    data_lost: int = 0
    half_present: int = 0
    client_errors: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def cases(self) -> int:
        """Requests whose outcome was checked (ingests and jobs)."""
        return self.ingests_sent + self.jobs_acked

    @property
    def failures(self) -> int:
        """Everything that must be zero."""
        return self.integrity_failures + self.data_lost + self.half_present + self.client_errors


def seed_fleet(db: str | Path, n_series: int, days: int) -> list[tuple[str, str]]:
    """Store ``n_series`` seeded hourly series of service ``fleet`` ending at :data:`START`; returns their keys."""

    rng = np.random.default_rng(0)
    first = pd.Timestamp(START, unit="s", tz="UTC") - pd.Timedelta(days=days)
    ts = pd.date_range(first, periods=days * 24, freq="h", tz="UTC")
    hour = ts.hour.to_numpy()
    frames = [
        pd.DataFrame(
            {
                "service": FLEET_SERVICE,
                "metric": f"cpu{i}",
                "ts": ts,
                "value": 40 + 12 * np.sin(2 * np.pi * (hour - 6) / 24) + rng.normal(0, 1.5, len(ts)),
            }
        )
        for i in range(n_series)
    ]
    store = Store.open(db)
    try:
        store.series.ingest(pd.concat(frames, ignore_index=True))
    finally:
        store.close()
    return [(FLEET_SERVICE, f"cpu{i}") for i in range(n_series)]


def _body(rows: int) -> bytes:
    ts = list(range(START, START + 60 * rows, 60))
    return json.dumps({"ts": ts, "value": [float(i % 97) for i in range(rows)]}).encode()


def _counts(db: Path) -> tuple[bool, dict[str, int], dict[str, str]]:
    """(integrity ok, rows per kill series, status per job id), read straight from the file."""
    conn = sqlite3.connect(f"file:{db}?mode=rw", uri=True, timeout=60)
    try:
        ok = conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = dict(
            conn.execute(
                "SELECT r.service, COUNT(s.ts) FROM series r LEFT JOIN samples s ON s.series_id = r.id "
                "WHERE r.service LIKE 'kill-r%' GROUP BY r.service"
            ).fetchall()
        )
        jobs = dict(conn.execute("SELECT id, status FROM jobs").fetchall())
    finally:
        conn.close()
    return ok, rows, jobs


def _check(db: Path, result: KillResult, acked: dict[str, bool], rows: int, job_ids: set[str]) -> None:
    ok, counts, jobs = _counts(db)
    if not ok:
        result.integrity_failures += 1
        result.problems.append("PRAGMA integrity_check is not ok")
    for service, was_acked in acked.items():
        n = counts.get(service, 0)
        if was_acked and n != rows:
            result.data_lost += 1
            result.problems.append(f"acknowledged ingest {service} holds {n} of {rows} rows")
        elif not was_acked and n not in (0, rows):
            result.half_present += 1
            result.problems.append(f"unacknowledged ingest {service} is half present: {n} of {rows} rows")
    for job in job_ids - set(jobs):
        result.data_lost += 1
        result.problems.append(f"acknowledged job {job} is gone")


def run_kill_loop(
    workdir: Path,
    *,
    kills: int = 20,
    rows: int = 200_000,
    job_every: int = 3,
    fleet_series: int = 2,
    fleet_days: int = 10,
    drain_timeout_s: float = 240.0,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> KillResult:
    """Run the kill loop on a fresh SQLite database under ``workdir``; returns what was found.

    Args:
        workdir: an empty folder for the database and server logs.
        kills: how many SIGKILLs to inject.
        rows: samples per ingest request.
        job_every: queue a fleet forecast job every this many rounds.
        fleet_series: series the forecast jobs refresh.
        fleet_days: days of hourly history in each of them.
        drain_timeout_s: how long the last server may take to finish every job.
        seed: random seed of the kill moments.
        progress: called with a one-line message after each round.
    """

    rng = random.Random(seed)
    db = workdir / "kill.db"
    seed_fleet(db, fleet_series, fleet_days)
    token = create_token(str(db), "write")
    auth = {"Authorization": f"Bearer {token}"}
    body = _body(rows)
    result = KillResult()
    acked: dict[str, bool] = {}
    job_ids: set[str] = set()
    server = ServeProcess(
        str(db), workdir / "kill-server.log", workers=1, threads=4, access_log=True, env=SERVER_ENV
    )
    expected = 3.0  # seconds an ingest takes; measured from the acknowledged ones
    for round_no in range(kills):
        server.start()
        if round_no % job_every == 0:
            resp = requests.post(
                f"{server.url}/api/v1/jobs/forecasts",
                json={"service": FLEET_SERVICE, "horizon": "24h", "force": True},
                headers=auth,
                timeout=30,
            )
            if resp.status_code == 202:
                job_ids.add(resp.json()["id"])
                result.jobs_acked += 1
            else:
                result.client_errors += 1
                result.problems.append(f"job POST answered {resp.status_code}: {resp.text[:200]}")
        service = f"kill-r{round_no}"
        acked[service] = False
        outcome: dict[str, Any] = {}

        def send(service: str = service, outcome: dict[str, Any] = outcome) -> None:
            started = time.monotonic()
            try:
                resp = requests.post(
                    f"{server.url}/api/v1/series/{service}/cpu/samples",
                    data=body,
                    headers={**auth, "Content-Type": "application/json"},
                    timeout=120,
                )
                outcome["status"] = resp.status_code
                outcome["text"] = resp.text[:200]
                outcome["seconds"] = time.monotonic() - started
            except requests.RequestException as exc:  # the kill cut the connection: not acknowledged
                outcome["error"] = type(exc).__name__

        thread = threading.Thread(target=send, daemon=True)
        result.ingests_sent += 1
        started = time.monotonic()
        thread.start()
        # Kill moments spread over the whole expected ingest: some before the commit, some after the answer.
        thread.join(rng.uniform(0.05, expected * 1.5))
        elapsed = time.monotonic() - started
        server.stop(signal.SIGKILL)
        result.kills += 1
        thread.join(30)
        status = outcome.get("status")
        if status is not None and 200 <= status < 300:
            acked[service] = True
            result.ingests_acked += 1
            expected = 0.7 * expected + 0.3 * float(outcome["seconds"])
        elif status is not None:
            result.client_errors += 1
            result.problems.append(f"ingest {service} answered {status}: {outcome.get('text')}")
        else:  # cut: the ingest takes longer than this, so aim later next time
            expected = max(expected, 1.2 * elapsed)
        _check(db, result, acked, rows, job_ids)
        if progress is not None:
            progress(
                f"kill {result.kills}/{kills}: ingest {'acked' if acked[service] else 'cut'}, "
                f"{result.jobs_acked} jobs queued, problems so far {result.failures}"
            )
    # The last server finishes (or gives up on) every job; none may stay queued or running.
    server.start()
    deadline = time.monotonic() + drain_timeout_s
    statuses: dict[str, str] = {}
    while time.monotonic() < deadline:
        jobs = {
            j: requests.get(f"{server.url}/api/v1/jobs/{j}", headers=auth, timeout=30).json() for j in job_ids
        }
        statuses = {j: str(body.get("status", "?")) for j, body in jobs.items()}
        result.job_claims = sum(int(body.get("attempts", 0)) for body in jobs.values())
        if all(s in ("done", "failed") for s in statuses.values()):
            break
        time.sleep(1.0)
    server.stop()
    result.jobs_done = sum(s == "done" for s in statuses.values())
    result.jobs_failed = sum(s == "failed" for s in statuses.values())
    for job, status in statuses.items():
        if status not in ("done", "failed"):
            result.data_lost += 1
            result.problems.append(f"job {job} still {status} after {drain_timeout_s:.0f} s")
    _check(db, result, acked, rows, job_ids)
    text = server.text()
    for needle in ("database is locked", "database disk image is malformed"):
        if needle in text:
            result.integrity_failures += 1
            result.problems.append(f"server log says {needle!r}")
    return result
