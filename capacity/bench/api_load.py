"""The API load benchmark's pieces: a database with the sample fleet and stored forecasts (or a copy of a demo
database), what the every-route phase reads, one headless Locust run, and the server's CPU time; ``capacity bench
api`` puts them together and prints the table.

The load is the Locust file ``loadtests/api_locustfile.py``, run in a subprocess (Locust is never imported here).
"""

from __future__ import annotations

import csv
import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from capacity.config import load_fleet_config
from capacity.errors import InvalidInput, SourceError, UnknownEvent
from capacity.events.calendar import next_occurrence
from capacity.forecast.types import ForecastSpec
from capacity.schema import RATE, unit_for
from capacity.services.forecasting import forecast_stored
from capacity.sources.files import read_path
from capacity.store import Store
from capacity.testing.net import tool

LOCUSTFILE = Path(__file__).resolve().parents[2] / "loadtests" / "api_locustfile.py"


FLEET = Path("data/fleet/history.csv")


CONFIG = Path("data/fleet.toml")


GENERATOR = Path("data/generate_fleet.py")


#: Targets from the issue, on a 2-core machine with Locust on the same machine.
TARGET_READ_RPS = 300.0


TARGET_READ_P95_MS = 50.0


TARGET_INGEST_SPS = 100_000.0


#: Every GET route on the demo database with 8 concurrent readers (issue #13).
TARGET_ROUTE_P95_MS = 1000.0


def prepare_db(
    db: Path | str, n_series: int, fleet: Path = FLEET, config: Path | None = CONFIG
) -> tuple[str, list[str]]:
    """Load the fleet into ``db``, forecast ``n_series`` series, return a write token and those series."""

    if not fleet.exists():
        if fleet != FLEET or not GENERATOR.exists():
            raise SourceError(f"{fleet} is missing; run from the repository root (make fleet)", field="fleet")
        subprocess.run([sys.executable, str(GENERATOR), "--out", str(FLEET.parent)], check=True)
    store = Store.open(db)
    held = len(store.series.list_series())
    if held:
        store.close()
        raise InvalidInput(
            f"--db must be an empty database (the benchmark loads the sample fleet into it); it holds {held} series",
            field="db",
        )
    store.series.ingest(read_path(fleet))
    if config is not None and config.exists():
        fleet_config = load_fleet_config(config)
        store.series.configure_series(fleet_config.series)
        store.events.add_events(fleet_config.events, source="config")
    keys = [(s.service, s.metric) for s in store.series.list_series()][:n_series]
    forecast_stored(store, keys, ForecastSpec(horizon=14 * 24))
    _, token = store.tokens.create_token(["admin"], "bench-api")
    store.close()
    return token, [f"{s}/{m}" for s, m in keys]


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database (its WAL included) made with SQLite's backup API.

    Raises:
        InvalidInput: when ``source`` is not a SQLite database file.
    """
    if not source.is_file():
        raise InvalidInput(f"--from-db must be a SQLite database file, got {str(source)!r}", field="from-db")
    try:
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(
            f"--from-db {source}: not a readable SQLite database ({exc})", field="from-db"
        ) from None


@dataclass(frozen=True)
class RouteTargets:
    """What the every-route phase reads: series with forecasts, a request-rate one, an event, a job."""

    token: str
    series: list[str]
    rate_series: str
    event: str
    job: str


def route_targets(db: Path | str, n_series: int, event: str | None = None) -> RouteTargets:
    """Pick the series (those with a stored forecast, a request-rate one among them), the event (``event``, or the
    first fleet-wide occurrence after the newest sample), store a finished job to read back, and an admin token.

    Raises:
        InvalidInput: when no series has a forecast.
    """
    store = Store.open(db)
    try:
        infos = store.series.list_series()
        with_runs = [
            i
            for i in infos
            if (store.forecasts.latest_run_status(i.service, i.metric) or {}).get("status") == "ok"
        ]
        if not with_runs:
            raise InvalidInput(
                "the database holds no forecast: run capacity demo (or capacity forecast --all) first"
            )
        rates = [i for i in with_runs if unit_for(i.metric) == RATE]
        chosen = ([rates[0]] if rates else []) + [i for i in with_runs if not rates or i is not rates[0]]
        chosen = chosen[:n_series]
        newest = max((i.last_ts for i in infos if i.last_ts is not None), default=pd.Timestamp.now(tz="UTC"))
        calendar = tuple(e for e in store.events.list_events() if e.service is None)
        name = event or ""
        if not name and calendar:
            try:
                name = next_occurrence(calendar, None, newest).name
            except UnknownEvent:
                name = ""
        job = store.jobs.create_job("forecasts", {"keys": [], "bench": True}, 0)
        store.jobs.finish_job(job.id)
        _, token = store.tokens.create_token(["admin"], "bench-api-routes")
    finally:
        store.close()
    return RouteTargets(
        token=token,
        series=[f"{i.service}/{i.metric}" for i in chosen],
        rate_series=f"{rates[0].service}/{rates[0].metric}" if rates else "",
        event=name,
        job=job.id,
    )


def run_locust(
    url: str, user_class: str, users: int, seconds: float, env: dict[str, str], prefix: Path
) -> list[dict[str, Any]]:
    """One headless Locust run; returns the rows of its stats CSV (one per endpoint, then Aggregated)."""
    cmd = [
        tool("locust"),
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        url,
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{max(1, round(seconds))}s",
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--stop-timeout",
        "5",
        user_class,
    ]
    result = subprocess.run(
        cmd, env={**os.environ, **env}, capture_output=True, text=True, timeout=seconds + 120
    )
    stats = Path(f"{prefix}_stats.csv")
    if not stats.exists():
        raise SourceError(
            f"locust wrote no stats (exit {result.returncode}): {result.stderr[-500:]}", field="locust"
        )
    with stats.open(newline="") as fh:
        return list(csv.DictReader(fh))


def server_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by the server: the gunicorn master and its workers."""
    import psutil  # deferred: optional (the bench and dask extras)

    try:
        master = psutil.Process(pid)
        procs = [master, *master.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def stats_row(phase: str, raw: dict[str, Any]) -> dict[str, Any]:
    def num(key: str) -> float:
        try:
            return float(raw.get(key) or 0.0)
        except ValueError:
            return 0.0

    return {
        "phase": phase,
        "endpoint": raw["Name"] if raw["Name"] != "Aggregated" else "all",
        "requests": int(num("Request Count")),
        "failures": int(num("Failure Count")),
        "rps": round(num("Requests/s"), 1),
        "p50_ms": num("50%"),
        "p95_ms": num("95%"),
        "p99_ms": num("99%"),
    }
