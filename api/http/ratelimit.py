"""Slowing down token guessing: a per-client limit on failed authentications, answered with 429 and Retry-After.

Each client (its remote address) may present ``auth_fail_limit`` invalid tokens within ``auth_fail_window_s``
seconds; past that, every request from it that carries a token is refused with 429 before the token is even
checked, until the oldest failure leaves the window. Refusing before the check matters: a guesser who got 429 only
for wrong guesses would still learn the right one at full speed. Requests with a valid cached token from other
clients are unaffected.

The bound is exact, also under concurrency: a token that is not in the verified-token cache is checked only after
:func:`reserve` counted it as a failure, in the same locked step that saw the client under its limit; a token that
proves valid gives its reservation back (:func:`release`). So however many workers and threads answer one client
at once, at most ``auth_fail_limit`` of its invalid tokens are verified per window. (Checking first and recording
after the verification would let up to limit + workers x threads - 1 through.) The price: while a client already
has failures in the window, its concurrent first uses of valid tokens can briefly take the remaining places, and
one of them gets 429. A worker killed between reserving and releasing leaves its reservation counted as a failure
until the window passes it.

The counts are kept in a fixed-size table of client slots in shared memory. Under ``capacity serve`` the table is a
file in the server's shared directory (:mod:`api.shared_dir`) that every worker process maps, so the limit holds for
the whole server, not per worker; a single process uses an anonymous mapping. Each slot holds a client's key (a
64-bit hash of its address), how many failures it ever recorded, and its last ``limit`` failure times on the
system-wide monotonic clock. Writers (a reservation, a release) take an exclusive ``flock`` on the file, readers
(every request with a token) a shared one: a lookup is a hash and at most :data:`PROBES` fixed-offset reads.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import mmap
import os
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from flask import request

from api import shared_dir as runtime
from api.http.problems import Problem
from api.state import AppState

#: Client slots in the table; a client that finds none free takes the one among its probes whose last failure is
#: oldest (bounds memory under a spray from many addresses).
SLOTS = 8192
#: Slots a client may occupy, starting at its hash (open addressing).
PROBES = 8
#: File name of the shared table in the server's directory.
TABLE_FILE = "auth-failures"

_HEAD = struct.Struct("<QQ")  # client key, failures recorded so far


@dataclass(frozen=True)
class Reservation:
    """A failure counted in advance by :meth:`AuthFailures.reserve`: the client's key, the time cell, its time."""

    key: int
    cell: int
    stamp: float


def client_hash(client: str) -> int:
    """A client's 64-bit key in the table (never 0, which marks a free slot)."""
    digest = hashlib.blake2b(client.encode("utf-8", "replace"), digest_size=8).digest()
    return int.from_bytes(digest, "little") or 1


class AuthFailures:
    """Failed-authentication times per client in a sliding window; thread-safe, and process-safe with ``path``.

    Args:
        limit: failures a client may have within the window before it is refused (0: no limit).
        window_s: the window in seconds.
        path: the shared table's file (created and sized when missing); None keeps the table in this process.
        slots: client slots in the table.
    """

    def __init__(self, limit: int, window_s: float, path: Path | None = None, slots: int = SLOTS) -> None:
        self.limit = max(0, int(limit))
        self.window_s = float(window_s)
        self.path = path
        self.slots = max(PROBES, slots)
        self._ring = struct.Struct(f"<{max(1, self.limit)}d")
        self._slot_size = _HEAD.size + self._ring.size
        self._lock = threading.Lock()
        self._fd: int | None = None
        size = self.slots * self._slot_size
        if path is None:
            self._map = mmap.mmap(-1, size)
            return
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            if (
                os.fstat(self._fd).st_size < size
            ):  # the first process to open it sizes it (zeros: all slots free)
                os.ftruncate(self._fd, size)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._map = mmap.mmap(self._fd, size)

    def close(self) -> None:
        """Unmap the table and close its file."""
        self._map.close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _flock(self, mode: int) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, mode)

    @contextlib.contextmanager
    def _locked(self, mode: int) -> Iterator[None]:
        """Hold this process's lock and the table file's ``flock`` (shared or exclusive) together."""
        with self._lock:
            self._flock(mode)
            try:
                yield
            finally:
                self._flock(fcntl.LOCK_UN)

    def _find(self, key: int) -> int | None:
        """The slot holding ``key``, or None."""
        start = key % self.slots
        for i in range(PROBES):
            slot = (start + i) % self.slots
            found = _HEAD.unpack_from(self._map, slot * self._slot_size)[0]
            if found == key:
                return slot
            if found == 0:  # slots are never freed, so a free one ends the chain
                return None
        return None

    def _times(self, slot: int) -> tuple[int, tuple[float, ...]]:
        offset = slot * self._slot_size
        _, recorded = _HEAD.unpack_from(self._map, offset)
        ring = self._ring.unpack_from(self._map, offset + _HEAD.size)
        return recorded, ring[: min(recorded, self.limit)]

    def retry_after(self, client: str, now: float | None = None) -> int:
        """Seconds until ``client`` may try again (0 when it is not blocked)."""
        if self.limit <= 0:
            return 0
        now = time.monotonic() if now is None else now
        key = client_hash(client)
        with self._locked(fcntl.LOCK_SH):
            slot = self._find(key)
            if slot is None:
                return 0
            _, times = self._times(slot)
        return self._wait(times, now)

    def _wait(self, times: tuple[float, ...], now: float) -> int:
        recent = [t for t in times if now - t < self.window_s]
        if len(recent) < self.limit:
            return 0
        return max(1, int(self.window_s - (now - min(recent)) + 0.999))

    def _append(self, slot: int, key: int, now: float) -> int:
        """Write a failure time into the slot's cell holding the oldest (or a released) one; returns the cell."""
        offset = slot * self._slot_size
        recorded, times = self._times(slot)
        cell = recorded if recorded < self.limit else min(range(self.limit), key=times.__getitem__)
        struct.pack_into("<d", self._map, offset + _HEAD.size + 8 * cell, now)
        _HEAD.pack_into(self._map, offset, key, recorded + 1)
        return cell

    def record(self, client: str, now: float | None = None) -> None:
        """Count one failed authentication by ``client``."""
        if self.limit <= 0:
            return
        now = time.monotonic() if now is None else now
        key = client_hash(client)
        with self._locked(fcntl.LOCK_EX):
            slot = self._find(key)
            self._append(self._claim(key) if slot is None else slot, key, now)

    def reserve(self, client: str, now: float | None = None) -> tuple[Reservation | None, int]:
        """Count a failure by ``client`` in advance, if it is under its limit: one atomic check-and-record.

        Returns:
            ``(reservation, 0)`` when counted (give it back with :meth:`release` if the token proves valid), or
            ``(None, seconds to wait)`` when the client is at its limit. ``(None, 0)`` when there is no limit.
        """
        if self.limit <= 0:
            return None, 0
        now = time.monotonic() if now is None else now
        key = client_hash(client)
        with self._locked(fcntl.LOCK_EX):
            slot = self._find(key)
            if slot is None:
                slot = self._claim(key)
            wait = self._wait(self._times(slot)[1], now)
            if wait:
                return None, wait
            return Reservation(key, self._append(slot, key, now), now), 0

    def release(self, reservation: Reservation | None) -> None:
        """Give back a reservation: the token was valid (or could not be checked), so it is no failure."""
        if reservation is None:
            return
        with self._locked(fcntl.LOCK_EX):
            slot = self._find(reservation.key)
            if slot is None:
                return  # the slot went to another client: nothing of ours is left to give back
            offset = slot * self._slot_size + _HEAD.size + 8 * reservation.cell
            # Unless a later failure has since taken the cell (then ours is already gone).
            if struct.unpack_from("<d", self._map, offset)[0] == reservation.stamp:
                struct.pack_into("<d", self._map, offset, float("-inf"))

    def _claim(self, key: int) -> int:
        """A slot for a new client: the first free one among its probes, else the one idle longest."""
        start = key % self.slots
        best, best_last = start, float("inf")
        for i in range(PROBES):
            slot = (start + i) % self.slots
            found = _HEAD.unpack_from(self._map, slot * self._slot_size)[0]
            if found == 0:
                best = slot
                break
            last = max(self._times(slot)[1], default=float("-inf"))
            if last < best_last:
                best, best_last = slot, last
        _HEAD.pack_into(self._map, best * self._slot_size, key, 0)
        return best


def _failures(st: AppState) -> AuthFailures:
    failures = st.extras.get("auth_failures")
    if failures is None:
        with st.extras.setdefault("auth_failures_lock", threading.Lock()):
            failures = st.extras.get("auth_failures")
            if failures is None:
                limit = int(getattr(st.settings, "auth_fail_limit", 10))
                window = float(getattr(st.settings, "auth_fail_window_s", 60.0))
                shared = runtime.shared_dir()
                path = shared / f"{TABLE_FILE}-{limit}" if shared is not None else None
                failures = st.extras["auth_failures"] = AuthFailures(limit, window, path)
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


def reserve(st: AppState) -> Reservation | None:
    """Count the token about to be verified as a failure of the request's client, unless it is at its limit.

    Returns:
        The reservation, for :func:`release` when the token proves valid (None when there is no limit).

    Raises:
        Problem: 429 with ``Retry-After`` when the client is at its limit (counting verifications in flight).
    """
    reservation, wait = _failures(st).reserve(client_key())
    if wait:
        raise Problem(
            429,
            f"too many invalid tokens from this client; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    return reservation


def release(st: AppState, reservation: Reservation | None) -> None:
    """Give back a reservation: the token was valid, or could not be checked (the database was unreachable)."""
    _failures(st).release(reservation)
