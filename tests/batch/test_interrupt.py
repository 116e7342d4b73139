"""An interrupted ``capacity forecast --all`` (SIGKILL part-way) keeps what it stored; ``--resume`` finishes the rest."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from capacity.store import Store
from tests.support.data import hourly_history

N = 10
CAPACITY = [sys.executable, "-m", "capacity.cli"]


def ok_runs(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return int(conn.execute("SELECT count(*) FROM forecast_runs WHERE status = 'ok'").fetchone()[0])


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.slow  # end to end, minutes on 2 cores: `make test-slow` (CI runs it)
def test_killed_run_keeps_its_forecasts_and_resume_finishes(tmp_path: Path) -> None:
    db = tmp_path / "fleet.db"
    store = Store.open(db)
    store.series.ingest(pd.concat([hourly_history(f"svc{i:02d}", "cpu", days=8, seed=i) for i in range(N)]))
    store.close()
    run = [*CAPACITY, "forecast", "--all", "--horizon", "24h", "--workers", "2", "--db", str(db)]
    proc = subprocess.Popen(run, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    helpers: list[int] = []
    try:
        deadline = time.monotonic() + 600  # a hang guard, not a speed check
        while ok_runs(db) < 3:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "no forecast stored within 600 s"
            helpers = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)] or helpers
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        if proc.stdout:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert helpers, "the run started no worker processes"
    # The pool's workers notice their parent is gone and exit, instead of lingering as orphans.
    deadline = time.monotonic() + 20
    while not all(gone(pid) for pid in helpers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert all(gone(pid) for pid in helpers), [pid for pid in helpers if not gone(pid)]

    kept = ok_runs(db)
    assert 3 <= kept < N, f"{kept} of {N} stored before the kill: the kill came too late to test anything"
    store = Store.open(db)
    try:
        assert store.integrity_check() == "ok"
        stored_before = {
            s.service
            for s in store.series.list_series()
            if store.forecasts.latest_forecast(s.service, "cpu", with_paths=False)
        }
        assert len(stored_before) == kept
        for service in stored_before:
            forecast = store.forecasts.latest_forecast(service, "cpu")
            assert forecast is not None and len(forecast.frame) == 24 and forecast.paths is not None
    finally:
        store.close()

    resumed = subprocess.run(
        [*CAPACITY, "forecast", "--all", "--horizon", "24h", "--workers", "2", "--resume", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"forecasting {N - kept} series" in resumed.stdout
    assert f"{kept} already fresh, skipped" in resumed.stdout
    store = Store.open(db)
    try:
        with sqlite3.connect(db) as conn:
            per_series = conn.execute(
                "SELECT series_id, count(*) FROM forecast_runs WHERE status = 'ok' GROUP BY series_id"
            ).fetchall()
        assert len(per_series) == N and {count for _, count in per_series} == {1}  # nothing forecast twice
    finally:
        store.close()


@pytest.mark.parametrize("option", ["--workers 0", "--scheduler localhost:8786"])
def test_bad_parallel_options_are_one_line_errors(tmp_path: Path, option: str) -> None:
    out = subprocess.run(
        [*CAPACITY, "forecast", "--all", *option.split(), "--db", str(tmp_path / "x.db")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (
        out.returncode == 2 and out.stderr.startswith("error: ") and len(out.stderr.strip().splitlines()) == 1
    )
