"""A steady read load on a running API from a few threads, every request's start, latency and outcome recorded.

Used where latencies must be split by what else happened at the time (a Prometheus scraping or not): each request
is kept with its start time, so the requests of any window can be summarized afterwards. The API benchmark's
scrape comparison and the Prometheus integration test run it.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import requests


@dataclass(frozen=True)
class Request:
    """One request: when it started (monotonic seconds), how long it took, its status (0: no answer)."""

    started: float
    seconds: float
    status: int


@dataclass
class ReadLoad:
    """``threads`` threads each sending GETs for ``paths`` in turn, at ``rate`` requests/s each (0: no wait).

    Attributes:
        url: the server's base URL.
        paths: the paths to read, in turn.
        headers: sent with every request (the token).
        threads: concurrent readers.
        rate: requests per second per reader (0: the next request as soon as the last one is answered).
        timeout: seconds a request may take before it counts as failed (status 0).
    """

    url: str
    paths: Sequence[str]
    headers: dict[str, str] = field(default_factory=dict)
    threads: int = 8
    rate: float = 5.0
    timeout: float = 30.0
    _records: list[Request] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> ReadLoad:
        """Start the readers."""
        self._stop.clear()
        for i in range(self.threads):
            thread = threading.Thread(target=self._run, args=(i,), name=f"read-load-{i}", daemon=True)
            thread.start()
            self._workers.append(thread)
        return self

    def stop(self) -> None:
        """Stop the readers and wait for their last requests."""
        self._stop.set()
        for thread in self._workers:
            thread.join(self.timeout + 5)
        self._workers.clear()

    def _run(self, offset: int) -> None:
        session = requests.Session()
        paths = itertools.cycle(
            list(self.paths[offset % len(self.paths) :]) + list(self.paths[: offset % len(self.paths)])
        )
        gap = 1.0 / self.rate if self.rate > 0 else 0.0
        next_at = time.monotonic()
        while not self._stop.is_set():
            started = time.monotonic()
            status = 0
            try:
                status = session.get(
                    self.url + next(paths), headers=self.headers, timeout=self.timeout
                ).status_code
            except requests.RequestException:
                status = 0
            record = Request(started, time.monotonic() - started, status)
            with self._lock:
                self._records.append(record)
            if gap:
                next_at = max(
                    next_at + gap, time.monotonic() - gap
                )  # no burst to catch up after a slow answer
                self._stop.wait(max(0.0, next_at - time.monotonic()))
        session.close()

    def records(self, start: float = float("-inf"), end: float = float("inf")) -> list[Request]:
        """The requests that started in ``[start, end)`` (monotonic seconds)."""
        with self._lock:
            return [r for r in self._records if start <= r.started < end]


def summarize(records: Sequence[Request]) -> dict[str, float | int]:
    """Count, failures (no answer or a 5xx) and p50/p95/p99/max latency in milliseconds of ``records``."""
    seconds = np.array([r.seconds for r in records], dtype="float64")
    failed = sum(1 for r in records if r.status == 0 or r.status >= 500)
    if not len(seconds):
        return {"requests": 0, "failures": failed}
    p50, p95, p99 = np.percentile(seconds * 1000, [50, 95, 99])
    return {
        "requests": len(records),
        "failures": failed,
        "p50_ms": round(float(p50), 1),
        "p95_ms": round(float(p95), 1),
        "p99_ms": round(float(p99), 1),
        "max_ms": round(float(seconds.max() * 1000), 1),
    }
