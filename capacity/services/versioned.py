"""A cache of expensive fleet-wide answers (the ranked risks, readiness reports) keyed by the data they rest on.

An answer is computed once per (key, version) and reused until the version changes: the version is a digest of
everything the answer rests on (``store.fleet.version()``: series data and settings, newest runs, the calendar,
the ledger), so a cached answer is never out of date and nothing expires by the clock. Concurrent requests for the
same key and version wait for the one computation instead of repeating it; other keys are never held up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from capacity.services.cache import LRU

V = TypeVar("V")


class VersionedCache(Generic[V]):
    """Answers by (key, version), the most recently used ``size`` kept; thread-safe, one computation per entry.

    Args:
        size: entries kept (older versions of a key fall out as new ones are used).
    """

    def __init__(self, size: int = 32) -> None:
        self._done: LRU[tuple[Hashable, str], V] = LRU(size)
        self._locks: dict[tuple[Hashable, str], threading.Lock] = {}
        self._guard = threading.Lock()

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
