"""The per-app state (settings, store handle, caches, the forecast-serving service, metrics) and the
request-scoped accessors views use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import current_app, g

from api import shared_dir as runtime
from api.settings import Settings
from capacity.services.cache import LRU
from capacity.services.serving import ForecastServing
from capacity.services.versioned import VersionedCache
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

    def list_series(self) -> list[SeriesInfo]:
        """``Store.list_series``: one row per series (the sample summaries are kept at ingest), so it is read
        fresh every time and a list never lags an ingest."""
        return self.store.series.list_series()


def versioned(name: str, size: int) -> VersionedCache[Any]:
    """This app's versioned cache ``name`` (created on first use), which under ``capacity serve`` also shares its
    bytes answers with the other workers through the server's shared directory (:mod:`api.shared_dir`)."""
    extras = state().extras
    cache: VersionedCache[Any] | None = extras.get(f"versioned:{name}")
    if cache is None:
        shared = runtime.shared_dir()
        cache = extras.setdefault(
            f"versioned:{name}", VersionedCache(size, shared / "answers" / name if shared else None)
        )
    return cache


def state() -> AppState:
    """The current app's state."""
    return current_app.extensions["capacity"]


def store() -> Store:
    """The request's store handle (one per app; each call checks out its own connection)."""
    if "store" not in g:
        g.store = state().store
    return g.store
