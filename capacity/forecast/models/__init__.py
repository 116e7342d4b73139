"""Forecasting models: one module per family, one small interface (:mod:`capacity.forecast.models.base`), a registry.

Importing this package registers every model. ``DEFAULT_MODELS`` is the automatic candidate set, in fallback
order: when every candidate fails, the engine falls back along ``FALLBACK_ORDER``. Registered models outside the
default set (``mstl_ar``, ``seasonal_mean``, ``ets_statsmodels``) can be asked for by name in ``ForecastSpec.models``;
they did not earn their place in the accuracy benchmark (or cost more than they gave).
"""

from __future__ import annotations

from capacity.forecast.models import baseline, ets, harmonic, mstl, theta
from capacity.forecast.models.base import (
    REGISTRY,
    FitInput,
    ModelRun,
    ModelSpec,
    get_model,
    run_model,
    usable,
)

#: The candidates of the automatic selection.
DEFAULT_MODELS: tuple[str, ...] = (
    "seasonal_naive_daily",
    "seasonal_naive_weekly",
    "seasonal_median_weekly",
    "seasonal_median_daily",
    "recent_daily_mean",
    "ets_damped",
    "mstl_ets",
    "harmonic",
    "theta",
    "drift",
    "naive",
)

#: The last resorts, tried in order when no candidate produced a forecast.
FALLBACK_ORDER: tuple[str, ...] = ("seasonal_naive_daily", "drift", "naive")

__all__ = [
    "DEFAULT_MODELS",
    "FALLBACK_ORDER",
    "REGISTRY",
    "FitInput",
    "ModelRun",
    "ModelSpec",
    "baseline",
    "ets",
    "get_model",
    "harmonic",
    "mstl",
    "run_model",
    "theta",
    "usable",
]
