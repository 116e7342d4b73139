"""One series's forecast as a task a worker runs: the pure step, and the wrapper that turns its errors into a reason.

:func:`run_task` is the one function both the local process pool and Dask run (:mod:`capacity.batch.runners`), so
both give identical forecasts for the same inputs. The engine is imported inside :func:`forecast_one`: a pool
worker imports this module to unpickle its task, and must pin BLAS/OpenMP to one thread before numpy loads.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from capacity.errors import CapacityError

if (
    TYPE_CHECKING
):  # types only: importing the engine here would load numpy before a pool worker pins its threads
    import pandas as pd

    from capacity.events.calendar import EventOccurrence
    from capacity.forecast.types import ForecastResult, ForecastSpec


@dataclass(frozen=True)
class SeriesTask:
    """One series to forecast: its history, its spec, and the data version the history was read at."""

    service: str
    metric: str
    values: pd.Series
    spec: ForecastSpec
    data_version: int


@dataclass(frozen=True)
class TaskResult:
    """What a worker sends back for one :class:`SeriesTask`."""

    service: str
    metric: str
    result: ForecastResult | None
    error: str
    seconds: float
    worker: str
    peak_mb: float
    cpu_seconds: float = 0.0


def forecast_one(values: pd.Series, spec: ForecastSpec) -> ForecastResult:
    """Forecast one series (pure).

    Raises:
        CapacityError: for input the engine cannot use.
    """
    # deferred: a pool worker imports this module before pin_threads() runs, and numpy must load after it
    from capacity.forecast.pipeline import forecast_series

    if values.empty:
        raise CapacityError("the series has no samples", field="series")
    return forecast_series(values, spec)


def spec_for(base: ForecastSpec, agg: str, service: str, events: Sequence[EventOccurrence]) -> ForecastSpec:
    """The spec of one series: its aggregation and the events that apply to its service."""
    return replace(base, agg=agg, events=tuple(e for e in events if e.applies_to(service)))


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB (0 where the platform cannot tell)."""
    try:
        import resource  # deferred: POSIX only (there is no resource module on Windows)
    except ImportError:  # Windows
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def run_task(task: SeriesTask) -> TaskResult:
    """Forecast one task in a worker; an error becomes its reason instead of an exception.

    This is the one function both the process pool and Dask run.
    """
    started = time.perf_counter()
    cpu_started = time.process_time()
    result = None
    error = ""
    try:
        result = forecast_one(task.values, task.spec)
    except CapacityError as exc:
        error = str(exc)
    except Exception as exc:  # a bug or a numeric failure in one series must not stop the fleet
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
    return TaskResult(
        service=task.service,
        metric=task.metric,
        result=result,
        error=error,
        seconds=time.perf_counter() - started,
        worker=f"{socket.gethostname()}:{os.getpid()}",
        peak_mb=peak_rss_mb(),
        cpu_seconds=time.process_time() - cpu_started,
    )
