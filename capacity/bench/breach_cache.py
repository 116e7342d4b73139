"""A disk cache of the breach benchmark's forecasts, one file per (series, fold), so iterating on a probability
method over a long-window panel takes seconds instead of a re-forecast of every fold.

The key is the series name, the training part's end, length and a digest of its values, and the horizon: a change of
the data misses the cache. A change of the engine does not: the cache belongs to one experiment, so delete its folder
when the forecasting code changes.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pandas as pd

from capacity.bench.breach import Forecaster
from capacity.forecast.types import ForecastResult


def cache_key(name: str, train: pd.Series, horizon: int) -> str:
    """The file name of one fold's forecast."""
    digest = hashlib.sha1(np.ascontiguousarray(train.to_numpy(dtype="float64")).tobytes()).hexdigest()[:12]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return f"{safe}-{pd.Timestamp(train.index[-1]):%Y%m%dT%H%M}-{len(train)}-{horizon}-{digest}.pkl"


def disk_forecaster(folder: Path, forecast: Forecaster) -> Forecaster:
    """``forecast`` with its results kept under ``folder`` (created when missing) and read back when present."""
    folder.mkdir(parents=True, exist_ok=True)

    def cached(name: str, train: pd.Series, horizon: int) -> ForecastResult:
        path = folder / cache_key(name, train, horizon)
        if path.exists():
            with path.open("rb") as fh:
                result: ForecastResult = pickle.load(fh)  # our own cache files: trusted
            return result
        result = forecast(name, train, horizon)
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
        return result

    return cached
