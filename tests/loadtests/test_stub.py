"""The staging stub's service model (virtual time) and its HTTP server on loopback."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capacity.errors import InvalidInput
from loadtests.stub import ServiceModel, StubServer, StubSettings, check_settings, make_stub


def offer(model: ServiceModel, rate: float, seconds: float) -> tuple[list[float], int]:
    """Offer evenly spaced arrivals in virtual time; returns the latencies of the admitted and the rejected count."""
    latencies = []
    n = int(rate * seconds)
    for k in range(n):
        now = k / rate
        done = model.admit(now)
        if done is not None:
            latencies.append(done - now)
    return latencies, model.rejected


def test_below_capacity_every_request_takes_the_service_time() -> None:
    model = ServiceModel(StubSettings(capacity_rps=200, workers=4))
    latencies, rejected = offer(model, 150, 10)
    assert rejected == 0
    assert max(latencies) == pytest.approx(0.02)


def test_past_capacity_latency_grows_then_503() -> None:
    model = ServiceModel(StubSettings(capacity_rps=200, workers=4, queue_ms=500))
    latencies, rejected = offer(model, 400, 10)
    assert max(latencies) <= 0.5 + 0.02 + 1e-9  # bounded by the queue
    assert max(latencies) > 0.4  # the queue filled
    served = len(latencies)
    assert served / 10 == pytest.approx(200, rel=0.06)  # it serves its capacity, no more
    assert rejected == 4000 - served


@given(rate=st.floats(10, 1000), workers=st.integers(1, 16))
def test_throughput_never_exceeds_capacity(rate: float, workers: int) -> None:
    model = ServiceModel(StubSettings(capacity_rps=100, workers=workers, queue_ms=100))
    latencies, _ = offer(model, rate, 5)
    # completions by the end of the window plus what the queue holds at most
    assert len(latencies) <= 100 * 5 + workers + 100 * 0.1 + 1


def test_settings_are_checked() -> None:
    assert check_settings(200, 4, 500).service_s == pytest.approx(0.02)
    for args, field in (((0, 4, 500), "capacity"), ((200, 0, 500), "workers"), ((200, 4, -1), "queue_ms")):
        with pytest.raises(InvalidInput) as info:
            check_settings(*args)  # type: ignore[arg-type]
        assert info.value.field == field


@pytest.fixture
def server() -> Iterator[StubServer]:
    srv = make_stub(StubSettings(capacity_rps=4, workers=1, queue_ms=0))
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_http_serves_then_rejects_when_busy(server: StubServer) -> None:
    started = time.perf_counter()
    with urllib.request.urlopen(server.url + "/anything", timeout=5) as resp:
        assert resp.status == 200 and json.loads(resp.read()) == {"ok": True}
    assert time.perf_counter() - started >= 0.245  # 1 worker at 4/s: 250 ms per request
    results: list[int] = []

    def hit() -> None:
        try:
            with urllib.request.urlopen(server.url + "/", timeout=5) as resp:
                results.append(resp.status)
        except urllib.error.HTTPError as exc:
            results.append(exc.code)

    threads = [threading.Thread(target=hit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 200 in results and 503 in results  # no queue: the busy worker turns the others away
    with urllib.request.urlopen(server.url + "/__stub__", timeout=5) as resp:
        stats = json.loads(resp.read())
    assert stats["served"] + stats["rejected"] == 5 and stats["capacity_rps"] == 4


def test_port_in_use_is_a_clear_error(server: StubServer) -> None:
    with pytest.raises(InvalidInput, match=r"cannot listen on 127\.0\.0\.1"):
        make_stub(StubSettings(capacity_rps=20), port=int(server.server_address[1]))
