"""Reliability: the failed-authentication limit (429), no token in logs or answers, and ``capacity bench
reliability --quick`` end to end (SIGKILL loop, Locust mix, hostile input, schemathesis, tokens, fuzzers)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

from api.http.ratelimit import AuthFailures
from capacity.bench.reliability.fuzz import fuzz_forecast, fuzz_ingest
from tests.support.api import make_api
from tests.support.data import ROOT, hourly_history

CAPACITY = str(Path(sys.executable).with_name("capacity"))


def test_auth_failures_window_counts_per_client() -> None:
    limits = AuthFailures(limit=3, window_s=10.0)
    for t in (0.0, 1.0, 2.0):
        assert limits.retry_after("a", now=t) == 0
        limits.record("a", now=t)
    assert limits.retry_after("a", now=2.5) == 8  # until the first failure leaves the window
    assert limits.retry_after("b", now=2.5) == 0  # another client is not affected
    assert limits.retry_after("a", now=10.0) == 0  # the oldest failure left the window
    assert AuthFailures(limit=0, window_s=10.0).retry_after("a") == 0  # 0 turns the limit off


def test_invalid_tokens_past_the_limit_get_429_with_retry_after_even_for_a_valid_token(
    tmp_path: Path,
) -> None:
    a = make_api(tmp_path, auth_fail_limit=4, auth_fail_window_s=1.0)
    statuses = [
        a.client.get("/api/v1/series", headers={"Authorization": f"Bearer cp_guess{i}"}).status_code
        for i in range(6)
    ]
    assert statuses == [401, 401, 401, 401, 429, 429]
    limited = a.client.get("/api/v1/series", headers=a.read)  # right token, same client, during the lockout
    assert limited.status_code == 429 and limited.mimetype == "application/problem+json"
    assert 1 <= int(limited.headers["Retry-After"]) <= 1 and "try again" in limited.get_json()["detail"]
    other = a.client.get("/api/v1/series", headers=a.read, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 200  # another client is not locked out
    time.sleep(1.1)
    assert a.client.get("/api/v1/series", headers=a.read).status_code == 200
    a.store.close()


def test_token_values_never_reach_the_app_log_or_error_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    a = make_api(tmp_path)
    a.store.series.ingest(hourly_history("svc", "cpu", days=3))
    secret = a.write["Authorization"].split()[1]
    bad = "cp_" + "x" * 40
    with caplog.at_level(logging.DEBUG):
        answers = [
            a.client.get("/api/v1/series", headers={"Authorization": f"Bearer {bad}"}),
            a.client.post(
                "/api/v1/series/svc/cpu/samples",
                data=b"[" * 5000,
                headers=a.write | {"Content-Type": "application/json"},
            ),
            a.client.post(
                "/api/v1/series/svc/cpu/samples",
                data=b"ts,value\nx,1\n",
                headers=a.write | {"Content-Type": "text/csv"},
            ),
            a.client.get("/api/v1/series/nosuch/cpu/forecast", headers=a.write),
            a.client.get("/metrics", headers=a.write),
        ]
    text = caplog.text + "".join(r.get_data(as_text=True) for r in answers)
    assert secret not in text and bad not in text and secret[:16] not in text
    assert "Traceback" not in text
    a.store.close()


def test_fuzzers_run_their_examples_and_find_nothing(tmp_path: Path) -> None:
    ingest = fuzz_ingest(tmp_path / "fuzz.db", 60)
    assert ingest.cases == 60 and ingest.failures == 0, ingest.problems
    forecast = fuzz_forecast(8)
    assert forecast.cases == 8 and forecast.failures == 0, forecast.problems


@pytest.mark.slow  # end to end, minutes on 2 cores: `make test-slow` (CI runs it)
def test_bench_reliability_quick_runs_every_check_and_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "reliability.json"
    run = subprocess.run(
        [
            CAPACITY,
            "bench",
            "reliability",
            "--quick",
            "--no-postgres",
            "--json",
            str(out),
            "--workdir",
            str(tmp_path / "w"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    summary = json.loads(out.read_text())
    assert {"cases", "faults_injected", "data_lost", "client_errors", "checks"} <= set(summary)
    assert summary["data_lost"] == 0 and summary["client_errors"] == 0 and summary["faults_injected"] >= 1
    names = {c["name"]: c for c in summary["checks"]}
    for name in (
        "crash safety (SIGKILL loop)",
        "concurrency (SQLite)",
        "hostile input (4xx, nothing stored)",
        "schemathesis (live server)",
        "tokens (429, no leaks)",
        "fuzz: ingest (validate + store round trip)",
        "fuzz: forecast_series (finite series)",
    ):
        assert names[name]["cases"] > 0 and names[name]["failures"] == 0, names[name]
    assert "data lost" in run.stdout and "client errors" in run.stdout
