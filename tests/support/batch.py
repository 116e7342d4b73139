"""A small fleet forecast through the batch layer, and the check that two runs stored the same forecasts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from capacity.forecast.types import ForecastSpec
from capacity.store import Store
from tests.support.data import hourly_history

# A small candidate set keeps the tests quick; the batch layer is what is under test, not model selection.
SPEC = ForecastSpec(horizon=48, n_paths=50, models=("seasonal_naive_daily", "harmonic"), folds=2)


def fill(store: Store, n: int, days: int = 14) -> list[tuple[str, str]]:
    store.series.ingest(pd.concat([hourly_history(f"svc{i}", "cpu", days=days, seed=i) for i in range(n)]))
    return [(f"svc{i}", "cpu") for i in range(n)]


def latest(
    store: Store, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], tuple[pd.DataFrame, np.ndarray]]:
    out = {}
    for key in keys:
        stored = store.forecasts.latest_forecast(*key)
        assert stored is not None and stored.paths is not None
        out[key] = (stored.frame, stored.paths)
    return out


def assert_same_forecasts(a: dict, b: dict) -> None:  # type: ignore[type-arg]
    assert a.keys() == b.keys()
    for key in a:
        pd.testing.assert_frame_equal(a[key][0], b[key][0], check_exact=True)
        assert np.array_equal(a[key][1], b[key][1])
