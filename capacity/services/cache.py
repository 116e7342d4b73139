"""A small thread-safe LRU cache with an optional time-to-live per entry.

The forecast-serving service keeps its freshness records in one, and the API its rendered bodies and verified
tokens.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")


V = TypeVar("V")


class LRU(Generic[K, V]):
    """A small thread-safe LRU cache with an optional time-to-live per entry."""

    def __init__(self, size: int, ttl: float | None = None) -> None:
        self.size = max(1, size)
        self.ttl = ttl
        self._data: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The cached value, or None when absent or expired."""
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            stamp, value = item
            if self.ttl is not None and time.monotonic() - stamp > self.ttl:
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        """Store a value, evicting the least recently used entry when full."""
        with self._lock:
            self._data[key] = (time.monotonic(), value)
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def drop(self, predicate: Callable[[K], bool]) -> None:
        """Remove every entry whose key matches ``predicate``."""
        with self._lock:
            for key in [k for k in self._data if predicate(k)]:
                del self._data[key]

    def clear(self) -> None:
        """Remove everything."""
        with self._lock:
            self._data.clear()
