"""The per-app state (settings, store handle, caches, the forecast-serving service, metrics) and the
request-scoped accessors views use."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, g

from api.settings import Settings
from capacity.services.cache import LRU
from capacity.services.serving import ForecastServing
from capacity.store import SeriesInfo, Store


@dataclass
class AppState:
    """What one app instance holds: settings, the store, caches, metrics and background machinery."""

    settings: Settings
    store: Store
    tokens: LRU[str, Any]
    forecasts: LRU[tuple[Any, ...], Any]
    serving: ForecastServing
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Settings, store: Store) -> AppState:
        """The state of a new app: empty caches, and a forecast-serving service whose fresh forecasts drop this
        app's cached renderings of their series."""
        st = cls(
            settings=settings,
            store=store,
            tokens=LRU(1024, ttl=settings.token_cache_s),
            forecasts=LRU(settings.cache_entries),
            serving=ForecastServing(
                store,
                default_horizon=settings.default_horizon,
                budget_s=settings.forecast_budget_s,
                freshness_ttl_s=settings.freshness_ttl_s,
            ),
        )
        st.serving.on_forecast = st.invalidate_series
        return st

    def invalidate_series(self, service: str, metric: str) -> None:
        """Forget cached state of one series after a write that changes it."""
        self.serving.forget(service, metric)
        self.forecasts.drop(lambda k: k[0] == service and k[1] == metric)
        self.extras.pop("series_list", None)

    def list_series(self) -> list[SeriesInfo]:
        """``Store.list_series`` reused for ``freshness_ttl_s`` (it scans every sample; lists are read often)."""
        cached: tuple[float, list[SeriesInfo]] | None = self.extras.get("series_list")
        now = time.monotonic()
        if cached is not None and now - cached[0] < self.settings.freshness_ttl_s:
            return cached[1]
        rows = self.store.series.list_series()
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
