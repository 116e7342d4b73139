"""The Prometheus source against a real HTTP server on loopback that speaks the ``query_range`` API.

The server computes each answer from the request (like Prometheus: points at start, start+step, ... <= end, and a
400 above 11,000 points per series), and can be told to answer 503, stall, or refuse credentials first.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from capacity.cli import cli
from capacity.errors import InvalidHistory, SourceError
from capacity.sources.prometheus import (
    CHUNK_POINTS,
    MAX_POINTS,
    PrometheusClient,
    PromSeries,
    plan_chunks,
    pull_history,
    to_history,
)
from capacity.store import Store
from capacity.testing.net import free_port

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


def value_at(service: str, ts: float) -> float:
    """The value the server reports for ``service`` at ``ts``: known to the tests, different per service."""
    return round(20.0 + (ts - T0) / 3600.0 % 50 + (5.0 if service == "b" else 0.0), 3)


class PromServer:
    """A loopback HTTP server answering ``/api/v1/query_range``; ``script`` holds the first answers to give."""

    def __init__(self) -> None:
        self.script: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.services = ["a", "b"]
        self.expect_auth: str | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                url = urlparse(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                outer.requests.append({"path": url.path, "params": params, "headers": dict(self.headers)})
                action = outer.script.pop(0) if outer.script else "ok"
                if action == "stall":
                    time.sleep(1.0)
                    return self._send(200, outer.answer(params))
                if action == "503":
                    return self._send(
                        503, {"status": "error", "errorType": "unavailable", "error": "overloaded"}
                    )
                if action == "bad":
                    return self._send(
                        400,
                        {
                            "status": "error",
                            "errorType": "bad_data",
                            "error": "1:5: parse error: unexpected end of input",
                        },
                    )
                if action == "empty":
                    return self._send(
                        200, {"status": "success", "data": {"resultType": "matrix", "result": []}}
                    )
                if outer.expect_auth is not None and self.headers.get("Authorization") != outer.expect_auth:
                    return self._send(401, None)
                if url.path != "/api/v1/query_range":
                    return self._send(404, None)
                self._send(*outer.evaluate(params))

            def _send(self, status: int, body: Any) -> None:
                payload = json.dumps(body).encode() if body is not None else b"Unauthorized"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def evaluate(self, params: dict[str, str]) -> tuple[int, Any]:
        start, end, step = float(params["start"]), float(params["end"]), float(params["step"])
        if (end - start) / step > MAX_POINTS:
            return 400, {
                "status": "error",
                "errorType": "bad_data",
                "error": "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
            }
        return 200, self.answer(params)

    def answer(self, params: dict[str, str]) -> dict[str, Any]:
        start, end, step = float(params["start"]), float(params["end"]), float(params["step"])
        n = int(np.floor((end - start) / step + 1e-9)) + 1
        points = [start + i * step for i in range(n)]
        result = [
            {
                "metric": {"__name__": "cpu_busy", "service": s, "instance": f"{s}-0"},
                "values": [[t, str(value_at(s, t))] for t in points],
            }
            for s in self.services
        ]
        return {"status": "success", "data": {"resultType": "matrix", "result": result}}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def prom() -> Iterator[PromServer]:
    server = PromServer()
    yield server
    server.close()


@given(
    start=st.integers(0, 10**6),
    n=st.integers(1, 5000),
    step=st.sampled_from([1.0, 15.0, 60.0, 3600.0]),
    max_points=st.integers(1, 700),
)
def test_chunks_cover_every_point_once_and_stay_under_the_limit(
    start: int, n: int, step: float, max_points: int
) -> None:
    end = start + (n - 1) * step + step * 0.5  # an end between two points is allowed
    chunks = plan_chunks(start, end, step, max_points)
    points = np.concatenate([np.arange(lo, hi + step / 2, step) for lo, hi in chunks])
    assert np.array_equal(points, start + step * np.arange(n))
    assert all((hi - lo) / step + 1 <= max_points for lo, hi in chunks)
    assert all(chunks[i][1] < chunks[i + 1][0] for i in range(len(chunks) - 1))


def test_a_long_range_is_pulled_in_chunks_under_11000_points(prom: PromServer) -> None:
    n = 25_000
    with PrometheusClient(prom.url) as client:
        series, stats = client.query_range("cpu_busy", T0, T0 + (n - 1) * 60, 60)
    assert stats.requests == 3 and stats.retries == 0
    for req in prom.requests:
        p = req["params"]
        assert (float(p["end"]) - float(p["start"])) / 60 + 1 <= CHUNK_POINTS
    assert sorted(s.labels["service"] for s in series) == ["a", "b"]
    for s in series:
        assert len(s.ts) == n
        assert np.array_equal(s.ts, T0 + 60.0 * np.arange(n))
        assert np.array_equal(s.values, [value_at(s.labels["service"], t) for t in s.ts])


def test_the_fake_server_enforces_the_limit_so_the_chunking_test_means_something(prom: PromServer) -> None:
    with PrometheusClient(prom.url, max_points=MAX_POINTS) as client:
        client.query_range("cpu_busy", T0, T0 + MAX_POINTS * 60, 60)  # 11,001 points: two requests
        assert len(prom.requests) == 2
    status, body = prom.evaluate({"start": str(T0), "end": str(T0 + 11_001 * 60), "step": "60"})
    assert status == 400 and "11,000 points" in body["error"]


def test_503_is_retried_with_backoff_then_succeeds(prom: PromServer) -> None:
    prom.script = ["503", "503"]
    started = time.perf_counter()
    with PrometheusClient(prom.url, retries=3, backoff=0.05) as client:
        series, stats = client.query_range("cpu_busy", T0, T0 + 3600 * 10, 3600)
    assert stats.retries == 2 and len(prom.requests) == 3
    assert time.perf_counter() - started >= 0.05 + 0.1  # waited 0.05 s, then 0.1 s
    assert all(len(s.ts) == 11 for s in series)


def test_503_that_never_ends_gives_up_with_a_clear_error(prom: PromServer) -> None:
    prom.script = ["503"] * 10
    with PrometheusClient(prom.url, retries=2, backoff=0.01) as client, pytest.raises(SourceError) as err:
        client.query_range("cpu_busy", T0, T0 + 3600, 3600)
    assert "HTTP 503" in str(err.value) and "overloaded" in str(err.value)
    assert len(prom.requests) == 3


def test_a_timeout_is_retried(prom: PromServer) -> None:
    prom.script = ["stall"]
    with PrometheusClient(prom.url, timeout=0.3, retries=2, backoff=0.01) as client:
        series, stats = client.query_range("cpu_busy", T0, T0 + 3600, 3600)
    assert stats.retries == 1 and len(series) == 2


def test_a_timeout_that_persists_names_the_wait(prom: PromServer) -> None:
    prom.script = ["stall", "stall"]
    with (
        PrometheusClient(prom.url, timeout=0.2, retries=1, backoff=0.01) as client,
        pytest.raises(SourceError) as err,
    ):
        client.query_range("cpu_busy", T0, T0 + 3600, 3600)
    assert "did not answer within 0.2s" in str(err.value)


def test_a_bad_query_carries_prometheus_error_text(prom: PromServer) -> None:
    prom.script = ["bad"]
    with PrometheusClient(prom.url) as client, pytest.raises(SourceError) as err:
        client.query_range("rate(x[5m", T0, T0 + 3600, 3600)
    assert (
        str(err.value) == "Prometheus rejected the query: bad_data: 1:5: parse error: unexpected end of input"
    )
    assert len(prom.requests) == 1  # a 400 is not retried


def test_an_unreachable_server_is_named() -> None:
    port = free_port()
    with (
        PrometheusClient(f"http://127.0.0.1:{port}", retries=1, backoff=0.01) as client,
        pytest.raises(SourceError) as err,
    ):
        client.query_range("up", T0, T0 + 3600, 3600)
    assert f"cannot reach Prometheus at http://127.0.0.1:{port}" in str(err.value)
    assert "Connection refused" in str(err.value)


def test_an_empty_result_is_an_error_naming_query_and_range(prom: PromServer) -> None:
    prom.script = ["empty"]
    with PrometheusClient(prom.url) as client, pytest.raises(SourceError) as err:
        pull_history(client, "nothing_here", T0, T0 + 86400, 3600, "service", "cpu")
    assert "'nothing_here' returned no samples between 2026-01-01 00:00:00 and 2026-01-02 00:00:00" in str(
        err.value
    )


def test_bearer_and_basic_auth_are_sent(prom: PromServer) -> None:
    prom.expect_auth = "Bearer s3cret"
    with PrometheusClient(prom.url, token="s3cret") as client:
        client.query_range("cpu_busy", T0, T0 + 3600, 3600)
    prom.expect_auth = "Basic " + base64.b64encode(b"ops:pa55").decode()
    with PrometheusClient(prom.url, user="ops", password="pa55") as client:
        client.query_range("cpu_busy", T0, T0 + 3600, 3600)
    with (
        PrometheusClient(prom.url, user="ops", password="wrong") as client,
        pytest.raises(SourceError) as err,
    ):
        client.query_range("cpu_busy", T0, T0 + 3600, 3600)
    assert "refused the credentials (HTTP 401)" in str(err.value)


def test_labels_map_to_services_and_conflicts_are_named() -> None:
    ts = np.array([T0, T0 + 3600.0])
    a = PromSeries({"job": "api", "instance": "x"}, ts, np.array([1.0, 2.0]))
    b = PromSeries({"job": "db", "instance": "y"}, ts, np.array([3.0, 4.0]))
    frame = to_history([a, b], "job", "cpu")
    assert list(frame.columns) == ["service", "metric", "ts", "value"]
    assert frame.groupby("service")["value"].sum().to_dict() == {"api": 3.0, "db": 7.0}
    twin = PromSeries({"job": "api", "instance": "z"}, ts, np.array([5.0, 6.0]))
    with pytest.raises(SourceError, match=r"two series map to service 'api'.*avg by \(job\)"):
        to_history([a, twin], "job", "cpu")
    with pytest.raises(SourceError, match="has no label 'service'"):
        to_history([a], "service", "cpu")
    with pytest.raises(InvalidHistory, match="label job='a/b' is not a usable service name"):
        to_history([PromSeries({"job": "a/b"}, ts, np.array([1.0, 2.0]))], "job", "cpu")


def test_nan_samples_are_dropped_and_counted(prom: PromServer) -> None:
    original = prom.answer

    def with_nan(params: dict[str, str]) -> dict[str, Any]:
        body = original(params)
        body["data"]["result"][0]["values"][1][1] = "NaN"
        return body

    prom.answer = with_nan  # type: ignore[method-assign]
    with PrometheusClient(prom.url) as client:
        series, stats = client.query_range("cpu_busy", T0, T0 + 3 * 3600, 3600)
    assert stats.dropped == 1
    assert sorted(len(s.ts) for s in series) == [3, 4]


def test_cli_ingests_then_since_last_pulls_only_the_rest(prom: PromServer, tmp_path: Any) -> None:
    db = str(tmp_path / "p.db")
    base = ["ingest", "prometheus", "--url", prom.url, "--query", "cpu_busy", "--service-label", "service"]
    first = CliRunner().invoke(
        cli,
        [
            *base,
            "--metric",
            "cpu",
            "--start",
            "2026-01-01T00:00:00Z",
            "--end",
            "2026-01-03T00:00:00Z",
            "--db",
            db,
            "--create",
        ],
    )
    assert first.exit_code == 0, first.output
    assert "pulled 2 series, 98 samples" in first.output
    second = CliRunner().invoke(
        cli,
        [
            *base,
            "--metric",
            "cpu",
            "--since-last",
            "--start",
            "2025-01-01",
            "--end",
            "2026-01-04T00:00:00Z",
            "--db",
            db,
        ],
    )
    assert second.exit_code == 0, second.output
    assert float(prom.requests[-1]["params"]["start"]) == T0 + 2 * 86400  # from the last stored sample
    store = Store.open(db)
    try:
        for service in ("a", "b"):
            stored = store.series.load_history(service, "cpu")
            expected = pd.date_range("2026-01-01", "2026-01-04", freq="h", tz="UTC")
            assert stored.index.equals(expected)
            assert np.array_equal(stored.to_numpy(), [value_at(service, t.timestamp()) for t in expected])
    finally:
        store.close()


def test_cli_bad_options_are_one_line_errors(prom: PromServer, tmp_path: Any) -> None:
    db = str(tmp_path / "p.db")
    base = [
        "ingest",
        "prometheus",
        "--query",
        "cpu_busy",
        "--service-label",
        "service",
        "--metric",
        "cpu",
        "--db",
        db,
        "--create",
    ]
    no_start = CliRunner().invoke(cli, [*base, "--url", prom.url])
    assert no_start.exit_code == 2 and "give --start" in no_start.output
    bad_url = CliRunner().invoke(cli, [*base, "--url", "prom:9090", "--start", "now-1d"])
    assert bad_url.exit_code == 2 and "url must start with http://" in bad_url.output
    bad_step = CliRunner().invoke(cli, [*base, "--url", prom.url, "--start", "now-1d", "--step", "often"])
    assert bad_step.exit_code == 2 and "step must be a duration" in bad_step.output
