"""Forecast many stored series: each result is stored as soon as its series finishes, failures are recorded.

``forecast_one`` is the pure per-series step (history in, result or error out); ``forecast_stored`` wires the
store around it.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import pandas as pd

from capacity.errors import CapacityError
from capacity.events import EventOccurrence
from capacity.forecast import ForecastResult, ForecastSpec, forecast_series


@dataclass(frozen=True)
class SeriesOutcome:
    """What happened to one series in a batch."""

    service: str
    metric: str
    ok: bool
    model: str = ""
    fallback: bool = False
    error: str = ""
    run_id: int | None = None


def forecast_one(values: pd.Series, spec: ForecastSpec) -> ForecastResult:
    """Forecast one series (pure). Raises ``CapacityError`` for input the engine cannot use."""
    if values.empty:
        raise CapacityError("the series has no samples", field="series")
    return forecast_series(values, spec)


def spec_for(base: ForecastSpec, agg: str, service: str, events: Sequence[EventOccurrence]) -> ForecastSpec:
    """The spec of one series: its aggregation and the events that apply to its service."""
    return replace(base, agg=agg, events=tuple(e for e in events if e.applies_to(service)))


def forecast_stored(
    store: object,
    keys: Iterable[tuple[str, str]],
    base: ForecastSpec,
    on_done: Callable[[SeriesOutcome], None] | None = None,
) -> list[SeriesOutcome]:
    """Forecast each (service, metric) from the store and save each result as soon as it is ready.

    A series that fails is recorded as a failed run with its reason and does not stop the others.
    """
    from capacity.store import Store

    assert isinstance(store, Store)
    events = store.list_events()
    outcomes = []
    for service, metric in keys:
        info = store.describe(service, metric)
        spec = spec_for(base, info.agg, service, events)
        try:
            values = store.load_history(service, metric)
            result = forecast_one(values, spec)
            run_id = store.save_forecast(service, metric, result, spec, data_version=info.data_version)
            outcome = SeriesOutcome(service, metric, True, result.model, result.fallback, run_id=run_id)
        except CapacityError as exc:
            store.save_failed_forecast(service, metric, spec, str(exc))
            outcome = SeriesOutcome(service, metric, False, error=str(exc))
        except Exception as exc:  # a bug or a numeric failure in one series must not stop the fleet
            reason = f"{type(exc).__name__}: {exc}"
            store.save_failed_forecast(service, metric, spec, reason + "\n" + traceback.format_exc(limit=3))
            outcome = SeriesOutcome(service, metric, False, error=reason)
        outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)
    return outcomes
