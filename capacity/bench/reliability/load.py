"""Concurrency: the Locust mix (ingest, forecasts, risks, reports, jobs at once) against ``capacity serve``.

The database is prepared in this process (seeded fleet, a forecast per series, one upcoming event, a write
token), the server runs as a subprocess with two gthread workers, and Locust runs headless in another subprocess
for a bounded time. Failures are what Locust counted (any answer but 200/201/202/304, or a cut connection), plus
each "database is locked", deadlock or unhandled error found in the server's log.
"""

from __future__ import annotations

import csv
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from capacity.bench.reliability.kill import START, seed_fleet
from capacity.events.calendar import EventOccurrence
from capacity.forecast.types import ForecastSpec
from capacity.services.forecasting import forecast_stored
from capacity.store import Store
from capacity.testing.net import tool
from capacity.testing.serve import ROOT, ServeProcess

LOCUSTFILE = ROOT / "loadtests" / "reliability_locustfile.py"
EVENT = "Launch"
#: Server log lines that mean a client could have been hurt even if Locust saw no failure.
BAD_LOG = ("database is locked", "deadlock detected", "unhandled error", "Traceback", "WORKER TIMEOUT")


@dataclass
class LoadResult:
    """One concurrency run."""

    backend: str
    requests: int = 0
    failures: int = 0
    seconds: float = 0.0
    by_endpoint: dict[str, tuple[int, int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def prepare(db: str, n_series: int = 3, days: int = 14) -> tuple[str, list[str]]:
    """Seed ``db`` (a path or URL): fleet series with a stored forecast each and an upcoming event.

    Returns:
        (write token, the series as ``service/metric``).
    """

    keys = seed_fleet(db, n_series, days)
    store = Store.open(db)
    try:
        forecast_stored(store, keys, ForecastSpec(horizon=7 * 24))
        start = pd.Timestamp(START, unit="s", tz="UTC") + pd.Timedelta(days=2)
        store.events.add_events([EventOccurrence(EVENT, start, start + pd.Timedelta(days=1))], source="bench")
        _, token = store.tokens.create_token(["write"], "reliability-load")
    finally:
        store.close()
    return token, [f"{s}/{m}" for s, m in keys]


def run_load(
    backend: str,
    db: str,
    workdir: Path,
    *,
    users: int = 6,
    seconds: int = 60,
    workers: int = 2,
    n_series: int = 3,
) -> LoadResult:
    """Prepare ``db``, serve it, run the mix for ``seconds``; returns what Locust and the server log show."""
    token, series = prepare(db, n_series=n_series)
    server = ServeProcess(
        db, workdir / f"load-{backend}.log", workers=workers, threads=4, access_log=True
    ).start()
    prefix = workdir / f"load-{backend}"
    env = {
        **os.environ,
        "CAPACITY_REL_TOKEN": token,
        "CAPACITY_REL_SERIES": ",".join(series),
        "CAPACITY_REL_EVENT": EVENT,
    }
    cmd = [
        tool("locust"),
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        server.url,
        "--users",
        str(users),
        "--spawn-rate",
        str(users),
        "--run-time",
        f"{seconds}s",
        "--stop-timeout",
        "30",
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    result = LoadResult(backend, seconds=float(seconds))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=seconds + 180)
    finally:
        server.stop()
    stats = Path(f"{prefix}_stats.csv")
    if not stats.exists():
        result.failures += 1
        result.problems.append(f"locust wrote no stats (exit {proc.returncode}): {proc.stderr[-500:]}")
        return result
    with stats.open() as fh:
        for row in csv.DictReader(fh):
            if row["Name"] == "Aggregated":
                result.requests = int(row["Request Count"])
                result.failures += int(row["Failure Count"])
            else:
                result.by_endpoint[f"{row['Type']} {row['Name']}"] = (
                    int(row["Request Count"]),
                    int(row["Failure Count"]),
                )
    if result.requests == 0:
        result.failures += 1
        result.problems.append(
            f"no request completed in {seconds} s from {users} users (server log: {workdir})"
        )
    failures = Path(f"{prefix}_failures.csv")
    if failures.exists():
        with failures.open() as fh:
            for row in csv.DictReader(fh):
                result.problems.append(f"{row['Name']}: {row['Error'][:200]} x{row['Occurrences']}")
    text = server.text()
    for needle in BAD_LOG:
        if needle in text:
            result.failures += 1
            result.problems.append(f"server log ({backend}) contains {needle!r}")
    return result
