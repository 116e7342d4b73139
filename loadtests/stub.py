"""A staging stand-in with a known capacity: ``capacity stub --capacity 200`` (stdlib only, no gevent).

The stub models a service with ``workers`` workers that each take ``workers / capacity`` seconds per request, in
front of a FIFO queue that holds at most ``queue_ms`` of waiting: below capacity a request takes the service
time; near it, requests wait in the queue and latency grows; past it, the queue is full and the stub answers
``503`` at once, as a saturated service behind a bounded queue does. The queue is simulated in virtual time
(each request is given the earliest free worker's next slot), so the capacity holds exactly whatever the thread
scheduling does; each connection gets its own thread that sleeps until its slot is over.

``GET /__stub__`` returns the counters (served, rejected) and the settings, outside the model.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from capacity.errors import InvalidInput


@dataclass(frozen=True)
class StubSettings:
    """The stub's service model."""

    capacity_rps: float
    workers: int = 4
    queue_ms: float = 500.0

    @property
    def service_s(self) -> float:
        """Seconds one worker spends on one request."""
        return self.workers / self.capacity_rps


def check_settings(capacity_rps: float, workers: int, queue_ms: float) -> StubSettings:
    """Validate the stub's settings.

    Raises:
        InvalidInput: naming the bad setting.
    """
    if not 0 < capacity_rps <= 100_000:
        raise InvalidInput(
            f"--capacity must be in (0, 100000] requests/s, got {capacity_rps:g}", field="capacity"
        )
    if not 1 <= workers <= 1000:
        raise InvalidInput(f"--workers must be in [1, 1000], got {workers}", field="workers")
    if not 0 <= queue_ms <= 600_000:
        raise InvalidInput(f"--queue-ms must be in [0, 600000], got {queue_ms:g}", field="queue_ms")
    return StubSettings(capacity_rps, workers, queue_ms)


class ServiceModel:
    """Workers with a bounded FIFO queue, in virtual time. Thread-safe."""

    def __init__(self, settings: StubSettings) -> None:
        self.settings = settings
        self._free = [0.0] * settings.workers
        self._lock = threading.Lock()
        self.served = 0
        self.rejected = 0

    def admit(self, now: float) -> float | None:
        """Give a request arriving at ``now`` (monotonic seconds) its finish time, or None when the queue is full."""
        s = self.settings
        with self._lock:
            k = min(range(len(self._free)), key=self._free.__getitem__)
            start = max(now, self._free[k])
            if (start - now) * 1000.0 > s.queue_ms:
                self.rejected += 1
                return None
            self._free[k] = start + s.service_s
            self.served += 1
            return self._free[k]


def make_handler(model: ServiceModel) -> type[BaseHTTPRequestHandler]:
    """An HTTP/1.1 keep-alive handler class bound to ``model``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "capacity-stub"
        # Buffer the response so headers and body leave in one segment (flushed after each request); with
        # two small writes, Nagle's algorithm and the client's delayed ACK add ~40 ms to every response.
        wbufsize = 65536

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:  # quiet: thousands of requests a second
            return

        def _reply(self, status: int, payload: dict[str, Any], extra: dict[str, str] | None = None) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _handle(self) -> None:
            arrived = time.monotonic()
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            if self.path == "/__stub__":
                s = model.settings
                self._reply(
                    200,
                    {
                        "capacity_rps": s.capacity_rps,
                        "workers": s.workers,
                        "queue_ms": s.queue_ms,
                        "served": model.served,
                        "rejected": model.rejected,
                    },
                )
                return
            done = model.admit(arrived)
            if done is None:
                self._reply(503, {"error": "overloaded"}, {"Retry-After": "1"})
                return
            delay = done - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._reply(200, {"ok": True})

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    return Handler


class StubServer(ThreadingHTTPServer):
    """The threading HTTP server of the stub (one thread per connection)."""

    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], model: ServiceModel) -> None:
        super().__init__(address, make_handler(model))
        self.model = model

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client drops its connection (load generators do, at the end of a run)."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        """The base URL the stub serves on."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


def make_stub(settings: StubSettings, host: str = "127.0.0.1", port: int = 0) -> StubServer:
    """Bind a stub server (port 0: any free port); call ``serve_forever()`` on it.

    Raises:
        InvalidInput: when the address cannot be bound.
    """
    try:
        return StubServer((host, port), ServiceModel(settings))
    except OSError as exc:
        raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror or exc}", field="port") from None
