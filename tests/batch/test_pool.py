"""Batch forecasting on the local process pool: same forecasts as in-process, failures recorded, resume, BLAS pinned."""

from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pytest

from capacity.batch import runners
from capacity.batch.runners import make_runner
from capacity.config import SeriesConfig
from capacity.errors import InvalidInput
from capacity.services.forecasting import SeriesOutcome, forecast_stored
from capacity.services.staleness import stale_keys
from capacity.store import Store
from tests.support.batch import SPEC, assert_same_forecasts, fill, latest, partial_result_then_die
from tests.support.data import hourly_history


def test_pool_gives_the_same_forecasts_as_in_process(store: Store) -> None:
    keys = fill(store, 4)
    seen: list[SeriesOutcome] = []
    inline = forecast_stored(store, keys, SPEC, workers=1)
    first = latest(store, keys)
    pooled = forecast_stored(store, keys, SPEC, seen.append, workers=2)
    assert all(o.ok for o in inline + pooled), [o.error for o in inline + pooled]
    assert seen == pooled and sorted((o.service, o.metric) for o in pooled) == keys
    assert len({o.worker for o in pooled}) >= 1 and all(o.seconds > 0 for o in pooled)
    assert all(o.worker.split(":")[-1] != str(os.getpid()) for o in pooled)  # ran in other processes
    assert_same_forecasts(first, latest(store, keys))
    for key in keys:
        frame = first[key][0]
        assert len(frame) == SPEC.horizon and (frame["q0.025"] <= frame["q0.975"]).all()


def test_a_failing_series_is_recorded_with_its_reason_and_the_rest_go_on(store: Store) -> None:
    keys = fill(store, 2)
    store.series.configure_series([SeriesConfig(service="empty", metric="cpu")])  # a series with no samples
    outcomes = forecast_stored(store, [("empty", "cpu"), *keys], SPEC, workers=2)
    by_key = {(o.service, o.metric): o for o in outcomes}
    assert not by_key[("empty", "cpu")].ok
    assert by_key[("empty", "cpu")].error == "the series has no samples"
    status = store.forecasts.latest_run_status("empty", "cpu")
    assert (
        status is not None and status["status"] == "failed" and status["error"] == "the series has no samples"
    )
    assert all(by_key[k].ok for k in keys)


def test_resume_skips_fresh_forecasts_and_redoes_stale_or_failed_ones(store: Store) -> None:
    keys = fill(store, 3)
    assert stale_keys(store, keys) == keys
    forecast_stored(store, keys[:2], SPEC, workers=1)
    assert stale_keys(store, keys) == keys[2:]
    store.series.ingest(
        hourly_history("svc0", "cpu", days=15, seed=0)
    )  # new data: svc0's forecast is stale now
    assert stale_keys(store, keys) == [keys[0], keys[2]]
    done = forecast_stored(store, keys, SPEC, workers=2, resume=True)
    assert sorted((o.service, o.metric) for o in done) == [keys[0], keys[2]]
    assert stale_keys(store, keys) == []
    assert forecast_stored(store, keys, SPEC, workers=2, resume=True) == []


def test_pool_workers_run_blas_and_openmp_on_one_thread() -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(
        1, mp_context=ctx, initializer=runners._init_worker, initargs=(os.getpid(),)
    ) as pool:
        assert pool.submit(os.getenv, "OPENBLAS_NUM_THREADS").result() == "1"
        assert pool.submit(os.getenv, "OMP_NUM_THREADS").result() == "1"
        pool.submit(np.dot, np.ones((50, 50)), np.ones((50, 50))).result()  # BLAS loaded for sure
        info = pool.submit(threadpoolctl.threadpool_info).result()
    assert info, "no BLAS/OpenMP library found in the worker"
    assert {lib["num_threads"] for lib in info} == {1}, info


def test_bad_worker_counts_and_schedulers_are_input_errors() -> None:
    with pytest.raises(InvalidInput, match="workers must be at least 1, got 0"):
        make_runner(0)
    with pytest.raises(InvalidInput, match="scheduler must be an address like tcp://HOST:8786"):
        make_runner(2, "localhost:8786")


def test_a_killed_worker_fails_only_the_series_in_flight_and_the_run_goes_on(store: Store) -> None:
    keys = fill(store, 6)
    killed: list[int] = []

    def kill_a_worker(outcome: SeriesOutcome) -> None:
        # After the first result, kill the worker that produced it (it is already on its next series).
        if not killed:
            killed.append(int(outcome.worker.rsplit(":", 1)[1]))
            os.kill(killed[0], signal.SIGKILL)

    outcomes = forecast_stored(store, keys, SPEC, kill_a_worker, workers=2)
    assert sorted((o.service, o.metric) for o in outcomes) == keys  # every series has an outcome
    lost = [o for o in outcomes if not o.ok]
    assert lost and all(o.error.startswith("worker failed: BrokenProcessPool") for o in lost)
    assert len(lost) <= 2 * 2  # at most the series queued on the broken pool
    for o in lost:
        status = store.forecasts.latest_run_status(o.service, o.metric)
        assert status is not None and status["status"] == "failed" and "BrokenProcessPool" in status["error"]
    # What was lost is simply forecast again by a resumed run.
    again = forecast_stored(store, keys, SPEC, workers=2, resume=True)
    assert sorted((o.service, o.metric) for o in again) == sorted((o.service, o.metric) for o in lost)
    assert all(o.ok for o in again)


@pytest.mark.timeout(300)  # without the fix this hangs for ever: fail instead
def test_a_worker_killed_halfway_through_a_result_breaks_the_pool_instead_of_hanging() -> None:
    # concurrent.futures waits for the rest of a half-written result for ever; the runner must notice the dead
    # worker, end the pool and hand back BrokenProcessPool for what was in flight, like any broken pool.
    runner = runners._PoolRunner(2)
    try:
        submitted = [runner.submit_call(partial_result_then_die)]
        submitted += [runner.submit_call(os.getpid) for _ in range(3)]
        outcomes = [runner.next_done() for _ in submitted]
    finally:
        runner.close(cancel=True)
    assert all(o is not None for o in outcomes)
    results = [r for _f, r in outcomes if r is not None]
    assert any(isinstance(r, BrokenProcessPool) for r in results), results
    assert {f for f, _r in outcomes if f is not None} == set(submitted)  # every call came back, once
