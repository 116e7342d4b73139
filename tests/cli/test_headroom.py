"""``capacity headroom plan|run`` and ``capacity stub`` end to end in subprocesses, with a tiny API on loopback.

The API here is a real HTTP server speaking the agreed contract (plan GET, result POST, bearer token, problem
documents); the real API's own end-to-end test lives with the API.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from loadtests.plan_build import plan_from_peak
from tests.support.loadtests import start_stub, stop

CAPACITY = [sys.executable, "-m", "capacity.cli"]
TOKEN = "cp_test_token"


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CAPACITY, *args], capture_output=True, text=True, timeout=timeout)


class FakeApi(ThreadingHTTPServer):
    """Serves GET .../loadtest-plan for checkout/rps and POST /api/v1/loadtests; records what it got."""

    daemon_threads = True

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.posted: list[dict[str, Any]] = []
        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: FakeApi

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: dict[str, Any], ctype: str = "application/json") -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _problem(self, status: int, title: str, detail: str) -> None:
        self._send(
            status,
            {"type": "about:blank", "title": title, "status": status, "detail": detail},
            "application/problem+json",
        )

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._problem(401, "Unauthorized", "a valid bearer token is required")
            return False
        return True

    def do_GET(self) -> None:
        url = urlparse(self.path)
        self.server.seen.append(
            {"path": url.path, "query": parse_qs(url.query), "auth": self.headers.get("Authorization")}
        )
        if not self._authorized():
            return
        parts = url.path.split("/")
        if len(parts) == 7 and parts[-1] == "loadtest-plan":
            service, metric = parts[4], parts[5]
            if (service, metric) != ("checkout", "rps"):
                self._problem(404, "Unknown series", f"unknown series {service}/{metric}")
                return
            query = parse_qs(url.query)
            margin = float(query.get("margin", ["1.3"])[0])
            step_seconds = float(query.get("step_seconds", ["10"])[0])
            plan = plan_from_peak(
                77.0,
                margin=margin,
                steps=(0.5, 1.0),
                step_seconds=step_seconds,
                service=service,
                metric=metric,
            )
            self._send(200, plan.to_dict())
            return
        self._problem(404, "Not found", "no such route")

    def do_POST(self) -> None:
        if not self._authorized():
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.posted.append(body)
        result = body["result"]
        self._send(
            201,
            {
                "id": 7,
                "measured_capacity_rps": result["measured_capacity_rps"],
                "applied": body["apply"],
                "verdict": result["verdict"],
            },
        )


@pytest.fixture
def api() -> Iterator[FakeApi]:
    server = FakeApi()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def stub() -> Iterator[str]:
    proc, url = start_stub("--capacity", "200")
    yield url
    stop(proc)


def served(stub_url: str) -> int:
    with urllib.request.urlopen(stub_url + "/__stub__", timeout=5) as resp:
        stats = json.loads(resp.read())
    return int(stats["served"]) + int(stats["rejected"])


def test_plan_from_api(api: FakeApi) -> None:
    out = run(
        "headroom",
        "plan",
        "--api",
        api.url,
        "--service",
        "checkout",
        "--metric",
        "rps",
        "--token",
        TOKEN,
        "--margin",
        "1.5",
    )
    assert out.returncode == 0, out.stderr
    assert "target 115.5 req/s" in out.stdout  # 77 x 1.5
    assert "p95 peak 77 x margin 1.5" in out.stdout
    assert api.seen[-1]["auth"] == f"Bearer {TOKEN}"
    assert api.seen[-1]["path"] == "/api/v1/series/checkout/rps/loadtest-plan"
    assert api.seen[-1]["query"]["margin"] == ["1.5"]
    js = run(
        "headroom",
        "plan",
        "--api",
        api.url,
        "--service",
        "checkout",
        "--metric",
        "rps",
        "--token",
        TOKEN,
        "--json",
    )
    plan = json.loads(js.stdout)
    assert plan["target_rps"] == 100.1 and plan["source"] == "forecast" and plan["service"] == "checkout"


def test_plan_file(tmp_path: Path) -> None:
    out = run("headroom", "plan", "--plan", "loadtests/example-plan.toml")
    assert out.returncode == 0, out.stderr
    assert "target 150 req/s" in out.stdout and "195" in out.stdout


def test_unknown_service_via_api_exits_2_before_any_load(api: FakeApi, stub: str, tmp_path: Path) -> None:
    before = served(stub)
    out = run(
        "headroom",
        "run",
        "--host",
        stub,
        "--api",
        api.url,
        "--service",
        "nobody",
        "--metric",
        "rps",
        "--token",
        TOKEN,
        "--out",
        str(tmp_path),
    )
    assert out.returncode == 2
    assert "unknown series nobody/rps" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert served(stub) == before
    assert not (tmp_path / "result.json").exists()


def test_bad_token_exits_2(api: FakeApi) -> None:
    out = run(
        "headroom", "plan", "--api", api.url, "--service", "checkout", "--metric", "rps", "--token", "wrong"
    )
    assert out.returncode == 2 and "HTTP 401" in out.stderr and "--token" in out.stderr


@pytest.mark.parametrize(
    ("plan", "words"),
    [
        (
            {
                "target_rps": -5,
                "slo": {"p95_ms": 250, "max_failure_ratio": 0.01},
                "requests": [{"path": "/"}],
            },
            "target_rps must be in (0, 100000], got -5",
        ),
        ({"target_rps": 100, "requests": [{"path": "/"}]}, "slo is required"),
        (
            {"target_rps": 100, "slo": {"p95_ms": 250}, "requests": [{"path": "/"}]},
            "slo.max_failure_ratio is required",
        ),
    ],
)
def test_bad_plans_exit_2_before_any_load(
    stub: str, tmp_path: Path, plan: dict[str, Any], words: str
) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    before = served(stub)
    out = run("headroom", "run", "--host", stub, "--plan", str(path), "--out", str(tmp_path / "out"))
    assert out.returncode == 2
    assert words in out.stderr and "Traceback" not in out.stderr
    assert served(stub) == before


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--apply"], "--apply needs --post"),
        (["--post"], "--post needs --api"),
    ],
)
def test_bad_options_exit_2(stub: str, tmp_path: Path, args: list[str], words: str) -> None:
    out = run(
        "headroom",
        "run",
        "--host",
        stub,
        "--plan",
        "loadtests/example-plan.json",
        "--out",
        str(tmp_path),
        *args,
    )
    assert out.returncode == 2 and words in out.stderr


def test_run_from_api_and_post_the_result(api: FakeApi, stub: str, tmp_path: Path) -> None:
    out = run(
        "headroom", "run", "--host", stub, "--api", api.url, "--service", "checkout", "--metric", "rps",
        "--token", TOKEN, "--step-seconds", "2", "--post", "--apply", "--out", str(tmp_path),
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "verdict: PASS" in out.stdout
    assert "stored as load test #7" in out.stdout
    assert api.seen[-1]["query"]["step_seconds"] == ["2.0"]
    [body] = api.posted
    result = json.loads((tmp_path / "result.json").read_text())
    assert body == {"service": "checkout", "metric": "rps", "result": result, "apply": True}
    assert result["verdict"] == "pass" and result["target_rps"] == 100.1
    assert result["measured_capacity_rps"] == pytest.approx(100.1, rel=0.1)
    lines = [line for line in out.stdout.splitlines() if line.strip().startswith(("0 ", "1 "))]
    assert len(lines) >= 2  # the live per-step rows


def test_unreachable_host_exits_2_before_any_load(tmp_path: Path) -> None:
    from capacity.testing.net import free_port

    port = free_port()  # nothing listens there
    out = run(
        "headroom",
        "run",
        "--host",
        f"http://127.0.0.1:{port}",
        "--plan",
        "loadtests/example-plan.json",
        "--out",
        str(tmp_path),
    )
    assert out.returncode == 2
    assert (
        f"cannot connect to --host http://127.0.0.1:{port}" in out.stderr and "no load was sent" in out.stderr
    )
    assert not (tmp_path / "plan.json").exists()


def test_stub_rejects_bad_settings() -> None:
    out = run("stub", "--capacity", "0")
    assert out.returncode == 2 and "--capacity must be in (0, 100000]" in out.stderr
