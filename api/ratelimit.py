"""Slowing down token guessing: a per-client limit on failed authentications, answered with 429 and Retry-After.

Each client (its remote address) may present ``auth_fail_limit`` invalid tokens within ``auth_fail_window_s``
seconds; past that, every request from it that carries a token is refused with 429 before the token is even
checked, until the oldest failure leaves the window. Refusing before the check matters: a guesser who got 429 only
for wrong guesses would still learn the right one at full speed. Requests with a valid cached token from other
clients are unaffected. The counts live in memory, per server process (each gunicorn worker counts on its own,
so the effective limit is at most ``workers x auth_fail_limit`` per window).
"""

from __future__ import annotations

import threading
import time
from collections import deque

from flask import request

from api.context import AppState
from api.problems import Problem

#: Distinct clients tracked at once; the oldest entries are dropped past this (bounds memory under a spray).
MAX_CLIENTS = 10_000


class AuthFailures:
    """Failed-authentication times per client, in a sliding window; thread-safe."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = {}

    def _prune(self, times: deque[float], now: float) -> None:
        while times and now - times[0] >= self.window_s:
            times.popleft()

    def retry_after(self, client: str, now: float | None = None) -> int:
        """Seconds until ``client`` may try again (0 when it is not blocked)."""
        if self.limit <= 0:
            return 0
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._seen.get(client)
            if times is None:
                return 0
            self._prune(times, now)
            if len(times) < self.limit:
                if not times:
                    del self._seen[client]
                return 0
            return max(1, int(self.window_s - (now - times[0]) + 0.999))

    def record(self, client: str, now: float | None = None) -> None:
        """Count one failed authentication by ``client``."""
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._seen.get(client)
            if times is None:
                if len(self._seen) >= MAX_CLIENTS:
                    self._seen.pop(next(iter(self._seen)))
                times = self._seen[client] = deque(maxlen=max(1, self.limit))
            self._prune(times, now)
            times.append(now)


def _failures(st: AppState) -> AuthFailures:
    failures = st.extras.get("auth_failures")
    if failures is None:
        limit = int(getattr(st.settings, "auth_fail_limit", 10))
        window = float(getattr(st.settings, "auth_fail_window_s", 60.0))
        failures = st.extras.setdefault("auth_failures", AuthFailures(limit, window))
    return failures


def client_key() -> str:
    """The client a request counts against: its remote address."""
    return request.remote_addr or "unknown"


def check(st: AppState) -> None:
    """Refuse the request when its client is over the failed-authentication limit.

    Raises:
        Problem: 429 with ``Retry-After`` naming the seconds to wait.
    """
    wait = _failures(st).retry_after(client_key())
    if wait:
        raise Problem(
            429,
            f"too many invalid tokens from this client; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )


def record_failure(st: AppState) -> None:
    """Count a failed authentication (an unknown, malformed or revoked token) against the request's client."""
    _failures(st).record(client_key())
