"""A cache of expensive answers (the ranked risks, readiness reports, forecast charts) keyed by the data they rest on.

An answer is computed once per (key, version) and reused until the version changes: the version is a digest of
everything the answer rests on (for fleet-wide answers ``store.fleet.version()``: series data and settings, newest
runs, the calendar, the ledger; for a chart its forecast run and its series' data version), so a cached answer is
never out of date and nothing expires by the clock. Concurrent requests for the same key and version wait for the
one computation instead of repeating it; other keys are never held up.

Answers that are bytes (a rendered report, a PNG) can also be shared between the worker processes of one server
(:meth:`VersionedCache.shared`): given a directory (the server's shared runtime directory), the first worker to need
an entry computes it under a file lock while the others wait, and writes it there for all of them, so an answer that
takes half a minute is computed once per server rather than once per worker. One file per key is kept: writing a
newer version removes the older ones.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from typing import Generic, TypeVar

from capacity.services.cache import LRU

V = TypeVar("V")


class VersionedCache(Generic[V]):
    """Answers by (key, version), the most recently used ``size`` kept; thread-safe, one computation per entry.

    Args:
        size: entries kept in memory (older versions of a key fall out as new ones are used).
        directory: where :meth:`shared` keeps its bytes for every process of the server (None: memory only).
    """

    def __init__(self, size: int = 32, directory: Path | None = None) -> None:
        self._done: LRU[tuple[Hashable, str], V] = LRU(size)
        self._locks: dict[tuple[Hashable, str], threading.Lock] = {}
        self._guard = threading.Lock()
        self.directory = directory
        self._groups: dict[Hashable, threading.Lock] = {}  # one per group named to shared() (event names)

    def get(self, key: Hashable, version: str, compute: Callable[[], V]) -> V:
        """The answer for ``key`` at ``version``: cached, or computed now (once, however many ask at the same
        time). An exception from ``compute`` reaches every caller waiting for it and caches nothing."""
        entry = (key, version)
        found = self._done.get(entry)
        if found is not None:
            return found
        with self._guard:
            lock = self._locks.setdefault(entry, threading.Lock())
        try:
            with lock:  # only the callers of this very entry wait here
                found = self._done.get(entry)
                if found is None:
                    found = compute()
                    self._done.put(entry, found)
                return found
        finally:
            with self._guard:
                if not lock.locked():
                    self._locks.pop(entry, None)

    def shared(
        self: VersionedCache[bytes],
        key: Hashable,
        version: str,
        compute: Callable[[], bytes],
        *,
        group: Hashable | None = None,
    ) -> bytes:
        """Like :meth:`get` for an answer that is bytes, also shared through ``directory`` with the other
        processes of the server: computed by one process once per (key, version), read from the file by the rest.

        Args:
            group: entries that one computation fills together (the rest by :meth:`put_shared`) name the same
                group: they share one lock, so a reader of the second waits for the first computation instead of
                repeating it.
        """
        if self.directory is None:
            if group is None:
                return self.get(key, version, compute)

            def in_group() -> bytes:
                with self._group_lock(group):  # the first of the group computes; the rest find what it put
                    return self._done.get((key, version)) or compute()

            return self.get(key, version, in_group)
        path = self._path(key, version)
        lock = self.directory / f"{self._stem(key if group is None else ('group', group))}.lock"

        def from_disk() -> bytes:
            with contextlib.suppress(FileNotFoundError):
                return path.read_bytes()
            with self._file_lock(lock):  # across processes: the first computes, the others wait and read
                with contextlib.suppress(FileNotFoundError):
                    return path.read_bytes()
                body = compute()
                self._write(key, path, body)
                return body

        return self.get(key, version, from_disk)

    def put_shared(self: VersionedCache[bytes], key: Hashable, version: str, body: bytes) -> None:
        """Store an answer computed alongside another (the JSON of a report whose HTML was asked for), in memory
        and, with a directory, for the other processes."""
        self._done.put((key, version), body)
        if self.directory is not None:
            self._write(key, self._path(key, version), body)

    def _group_lock(self, group: Hashable) -> threading.Lock:
        with self._guard:
            return self._groups.setdefault(group, threading.Lock())

    def _stem(self, key: Hashable) -> str:
        return hashlib.sha256(repr(key).encode()).hexdigest()[:32]

    def _path(self, key: Hashable, version: str) -> Path:
        assert self.directory is not None
        digest = hashlib.sha256(version.encode()).hexdigest()[:32]
        return self.directory / f"{self._stem(key)}-{digest}.bin"

    def _write(self, key: Hashable, path: Path, body: bytes) -> None:
        """Write atomically (a reader never sees half a file), then drop the key's older versions."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(body)
        os.replace(tmp, path)
        for old in path.parent.glob(f"{self._stem(key)}-*.bin"):
            if old != path:
                with contextlib.suppress(FileNotFoundError):
                    old.unlink()

    @staticmethod
    @contextlib.contextmanager
    def _file_lock(path: Path) -> Iterator[None]:
        """An exclusive lock on the file ``path`` between processes (and threads: each opens its own descriptor);
        one lock file per key, whatever the version, so there is nothing to clean up but one small file a key."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(
                fd
            )  # releases the lock; the file stays (unlinking it could let two processes lock at once)
