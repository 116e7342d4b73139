"""A batch asked to stop (a server's graceful shutdown) submits nothing more, ends its pool without waiting for the
queued series, keeps what it stored, and leaves the rest for a resumed run. Real pool processes, real fits."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from capacity.batch.runners import make_runner
from capacity.errors import Interrupted
from capacity.forecast.types import ForecastSpec
from capacity.services.forecasting import SeriesOutcome, forecast_stored
from capacity.services.staleness import stale_keys
from capacity.store import Store
from tests.support.data import hourly_history

SPEC = ForecastSpec(horizon=24)
KEYS = [(f"svc{i}", "cpu") for i in range(8)]


def test_a_stop_keeps_what_was_stored_and_a_resumed_run_does_the_rest(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "stop.db")
    try:
        store.series.ingest(
            pd.concat([hourly_history(s, m, days=14, seed=i) for i, (s, m) in enumerate(KEYS)])
        )
        stop = threading.Event()
        stopped_at: list[float] = []

        def on_done(outcome: SeriesOutcome) -> None:
            if not stop.is_set():
                stop.set()
                stopped_at.append(time.monotonic())

        with pytest.raises(Interrupted) as info:
            forecast_stored(store, KEYS, SPEC, on_done, workers=2, stop=stop)
        took = time.monotonic() - stopped_at[0]
        assert took < 5.0, f"the interrupted run took {took:.1f} s to end after the stop"
        saved = [(o.service, o.metric) for o in info.value.outcomes]
        assert 1 <= len(saved) < len(KEYS) and all(o.ok for o in info.value.outcomes)
        left = stale_keys(store, KEYS)
        assert sorted(left + saved) == sorted(KEYS)  # the stored ones are fresh, nothing else was recorded
        assert all(store.forecasts.latest_run_status(*k) is None for k in left)

        rest = forecast_stored(store, KEYS, SPEC, workers=2, resume=True)
        assert sorted((o.service, o.metric) for o in rest) == sorted(left) and all(o.ok for o in rest)
        assert [len(store.forecasts.forecast_history(*k)) for k in KEYS] == [1] * len(KEYS)
    finally:
        store.close()


def test_a_pool_shut_down_under_a_batch_is_an_interruption_not_a_failure(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "shut.db")
    try:
        store.series.ingest(
            pd.concat([hourly_history(s, m, days=14, seed=i) for i, (s, m) in enumerate(KEYS[:2])])
        )
        runner = make_runner(2)
        runner.close(cancel=True)  # what concurrent.futures' exit hook does to a pool when the process exits
        with pytest.raises(Interrupted, match="shut down"):
            forecast_stored(store, KEYS[:2], SPEC, runner=runner)
        assert all(store.forecasts.latest_run_status(*k) is None for k in KEYS[:2])  # no failure recorded
    finally:
        store.close()
