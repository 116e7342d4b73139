"""A small fleet forecast through the batch layer, and the check that two runs stored the same forecasts."""

from __future__ import annotations

import os
import signal
import struct
import sys

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


def partial_result_then_die() -> None:
    """Run on a pool worker: die by SIGKILL halfway through writing a result, as a worker killed mid-send does.

    The result pipe is left holding the first bytes of a message whose rest never comes, and the pool's write lock
    stays held: what a kill at the wrong instant does to concurrent.futures.
    """
    frame = sys._getframe()
    while frame is not None and "result_queue" not in frame.f_locals:
        frame = frame.f_back  # up to concurrent.futures' _process_worker, which holds the queue
    assert frame is not None, "not running on a ProcessPoolExecutor worker"
    queue = frame.f_locals["result_queue"]
    queue._wlock.acquire()
    os.write(queue._writer.fileno(), struct.pack("!i", 1000) + b"partial")
    os.kill(os.getpid(), signal.SIGKILL)
