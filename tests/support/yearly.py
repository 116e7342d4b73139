"""Seeded multi-year test series with a known yearly cycle, weekday pattern and growth (daily or hourly)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from capacity.schema import validate_history
from capacity.store import Store

#: Amplitude of the yearly cycle of :func:`daily_truth` (level 100).
YEARLY_AMPLITUDE = 20.0


def daily_truth(days: pd.DatetimeIndex, growth_per_year: float = 0.0) -> np.ndarray:
    """The noise-free daily level: 100, a yearly sine peaking in late July, weekends 8 lower, optional growth."""
    t = np.asarray((days - days[0]) / pd.Timedelta(days=1), dtype="float64")
    yearly = YEARLY_AMPLITUDE * np.sin(2 * np.pi * (days.dayofyear.to_numpy() - 118) / 365.25)
    weekend = -8.0 * (days.dayofweek.to_numpy() >= 5)
    return (100.0 + yearly + weekend) * (1.0 + growth_per_year) ** (t / 365.25)


def daily_series(
    years: float = 3.0,
    start: str = "2021-01-04",
    seed: int = 0,
    noise: float = 2.0,
    growth_per_year: float = 0.0,
) -> pd.Series:
    """A daily series of ``years`` years: :func:`daily_truth` plus AR(1) noise of standard deviation ``noise``."""
    days = pd.date_range(start, periods=round(years * 365.25), freq="1D", tz="UTC")
    rng = np.random.default_rng(seed)
    e = np.zeros(len(days))
    for i in range(1, len(days)):
        e[i] = 0.5 * e[i - 1] + rng.normal(0, noise)
    return pd.Series(daily_truth(days, growth_per_year) + e, index=days)


def hourly_series(years: float = 2.5, start: str = "2021-01-04", seed: int = 0) -> pd.Series:
    """An hourly series whose daily mean follows :func:`daily_series`, with a day-time peak (x 1.2 at 14:00)."""
    daily = daily_series(years, start, seed)
    hours = pd.date_range(daily.index[0], periods=len(daily) * 24, freq="1h", tz="UTC")
    shape = 1.0 + 0.2 * np.sin(np.pi * (hours.hour.to_numpy() - 2) / 24) ** 2 - 0.1
    rng = np.random.default_rng(seed + 1)
    return pd.Series(np.repeat(daily.to_numpy(), 24) * shape + rng.normal(0, 1.0, len(hours)), index=hours)


def store_series(
    store: Store,
    values: pd.Series,
    service: str = "grid",
    metric: str = "cpu",
    **settings: object,
) -> None:
    """Ingest ``values`` as one series of ``store`` and apply ``settings`` (threshold, instances, agg ...)."""
    frame = pd.DataFrame(
        {"service": service, "metric": metric, "ts": values.index, "value": values.to_numpy()}
    )
    store.series.ingest(validate_history(frame))
    if settings:
        store.series.update_series(service, metric, **settings)


def hourly_cpu(years: float = 2.2, seed: int = 0, end: str | None = None) -> pd.Series:
    """Hourly CPU % (about 30 to 60) with a yearly cycle and a day-time peak, optionally cut at ``end``."""
    values = hourly_series(years, seed=seed) * 0.45
    return values[values.index < pd.Timestamp(end, tz="UTC")] if end is not None else values
