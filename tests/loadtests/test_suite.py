"""The headroom suite for real: Locust in subprocesses against ``capacity stub`` on loopback.

Locust is never imported here (it monkey-patches the standard library): ``run_headroom`` starts it.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from statistics import median
from typing import Any

import pytest

from loadtests.plan_build import parse_plan
from loadtests.runner import run_headroom
from tests.support.loadtests import start_stub, stop

SLO = {"p95_ms": 250, "max_failure_ratio": 0.01}
MIX = [{"method": "GET", "path": "/", "weight": 1}]


@pytest.fixture(scope="module")
def stub100() -> Iterator[str]:
    """``capacity stub --capacity 100`` (4 workers x 40 ms, 503 past 500 ms of queue).

    The rates stay low enough (at most 200 req/s) that Locust and the stub keep up on two cores shared with two
    CPU-bound processes: what the suite measures is the stub's queueing, not the machine's load.
    """
    proc, url = start_stub("--capacity", "100")
    yield url
    stop(proc)


def plan(target: float, steps: list[float], step_seconds: float = 2, **extra: Any) -> Any:
    return parse_plan(
        {
            "target_rps": target,
            "steps": steps,
            "step_seconds": step_seconds,
            "slo": SLO,
            "requests": MIX,
            **extra,
        }
    )


def assert_rates_held(result: dict[str, Any]) -> None:
    for step in result["steps"]:
        assert abs(step["achieved_rps"] - step["target_rps"]) <= 0.1 * step["target_rps"], step


def test_target_50_passes(stub100: str, tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    outcome = run_headroom(plan(50, [0.5, 1.0]), stub100, tmp_path, on_step=seen.append)
    result = outcome.result
    assert (result["verdict"], outcome.exit_code) == ("pass", 0), result["reason"]
    assert [s["target_rps"] for s in result["steps"]] == [25, 50]
    assert all(s["met_slo"] for s in result["steps"])
    assert [s["index"] for s in seen] == [0, 1]  # the live feed saw every step as it was judged
    assert_rates_held(result)
    for name in ("result.json", "steps.jsonl", "plan.json", "locust_stats.csv", "locust.html"):
        assert (tmp_path / name).exists(), name


CAPACITY_PLAN = [0.25, 0.45, 0.5, 0.55, 0.75, 1.0]  # 50, 90, 100, 110, 150, 200 req/s


def check_capacity_run(result: dict[str, Any], exit_code: int) -> None:
    assert (result["verdict"], exit_code) == ("fail", 1), result["reason"]
    assert result["stopped_early"] is True
    assert result["measured_capacity_rps"] == pytest.approx(100, rel=0.2)
    assert result["steps"][-1]["met_slo"] is False
    assert all(s["met_slo"] for s in result["steps"][:-1])
    assert_rates_held(result)


def test_target_200_fails_and_measures_the_capacity(stub100: str, tmp_path: Path) -> None:
    outcome = run_headroom(plan(200, CAPACITY_PLAN), stub100, tmp_path)
    check_capacity_run(outcome.result, outcome.exit_code)
    assert outcome.result["processes"] == 1


@pytest.mark.slow  # end to end, minutes on 2 cores: `make test-slow` (CI runs it)
def test_distributed_master_and_two_workers_same_verdict(stub100: str, tmp_path: Path) -> None:
    outcome = run_headroom(plan(200, CAPACITY_PLAN), stub100, tmp_path, workers=2)
    check_capacity_run(outcome.result, outcome.exit_code)
    assert outcome.result["processes"] == 2
    assert (tmp_path / "locust-worker-1.log").exists()


def test_rate_held_within_10_percent_up_to_300(tmp_path: Path) -> None:
    proc, url = start_stub("--capacity", "3000", "--workers", "30")
    try:
        outcome = run_headroom(plan(300, [0.5, 1.0], step_seconds=3), url, tmp_path)
    finally:
        stop(proc)
    assert outcome.result["verdict"] == "pass", outcome.result["reason"]
    assert_rates_held(outcome.result)
    assert outcome.result["steps"][-1]["requests"] >= 0.9 * 900


def evenly_spaced_p50(url: str, rate: float, seconds: float) -> float:
    """p50 latency (ms) of a plain client that sends requests at exactly evenly spaced instants."""
    host, port = url.removeprefix("http://").split(":")
    local = threading.local()
    latencies: list[float] = []
    conns: list[http.client.HTTPConnection] = []
    lock = threading.Lock()

    def one(due: float) -> None:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(host, int(port), timeout=10)
            with lock:
                conns.append(conn)
        conn.request("GET", "/")
        conn.getresponse().read()
        with lock:
            latencies.append((time.perf_counter() - due) * 1000)

    n = int(rate * seconds)
    with ThreadPoolExecutor(16) as pool:
        start = time.perf_counter() + 0.2
        for k in range(n):
            due = start + k / rate
            time.sleep(max(0.0, due - time.perf_counter()))
            pool.submit(one, due)
    for conn in conns:
        conn.close()
    assert len(latencies) == n
    return median(latencies)


def test_arrivals_are_evenly_spread_p50_matches_an_evenly_spaced_client(tmp_path: Path) -> None:
    # 2 workers of 50 ms: capacity 40/s. At half of it, 20/s, evenly spaced requests see ~50 ms; users paced
    # in lockstep would queue behind each other and see several times that.
    proc, url = start_stub("--capacity", "40", "--workers", "2")
    try:
        reference = evenly_spaced_p50(url, 20, 4)
        outcome = run_headroom(plan(20, [1.0], step_seconds=4), url, tmp_path)
    finally:
        stop(proc)
    suite = outcome.result["steps"][0]["p50_ms"]
    print(f"p50 at half capacity: suite {suite} ms, evenly spaced client {reference:.1f} ms")
    assert reference >= 45, reference  # never faster than the 50 ms service time; a busy machine only adds
    assert abs(suite - reference) <= 0.25 * reference, (suite, reference)
