"""The per-app state (settings, store handle, caches, metrics) and the request-scoped accessors views use."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from flask import current_app, g

from api.settings import Settings
from capacity.store import SeriesInfo, Store

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


@dataclass
class AppState:
    """What one app instance holds: settings, the store, caches, metrics and background machinery."""

    settings: Settings
    store: Store
    tokens: LRU[str, Any]
    forecasts: LRU[tuple[Any, ...], Any]
    freshness: LRU[tuple[str, str], Any]
    extras: dict[str, Any] = field(default_factory=dict)

    def invalidate_series(self, service: str, metric: str) -> None:
        """Forget cached state of one series after a write that changes it."""
        self.freshness.drop(lambda k: k == (service, metric))
        self.forecasts.drop(lambda k: k[0] == service and k[1] == metric)
        self.extras.pop("series_list", None)

    def list_series(self) -> list[SeriesInfo]:
        """``Store.list_series`` reused for ``freshness_ttl_s`` (it scans every sample; lists are read often)."""
        cached: tuple[float, list[SeriesInfo]] | None = self.extras.get("series_list")
        now = time.monotonic()
        if cached is not None and now - cached[0] < self.settings.freshness_ttl_s:
            return cached[1]
        rows = self.store.list_series()
        self.extras["series_list"] = (now, rows)
        return rows


def state() -> AppState:
    """The current app's state."""
    return current_app.extensions["capacity"]


def store() -> Store:
    """The request's store handle (one per app; each call checks out its own connection)."""
    if "store" not in g:
        g.store = state().store
    return g.store
