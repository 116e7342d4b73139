"""The Dask path: a real scheduler and two worker processes on loopback give the same forecasts as the local pool."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from capacity.batch import runners
from capacity.cli import cli
from capacity.errors import InvalidInput
from capacity.services.forecasting import forecast_stored
from capacity.store import Store
from capacity.testing.net import free_port
from tests.support.batch import SPEC, assert_same_forecasts, fill, latest

distributed = pytest.importorskip(
    "distributed", reason="the dask extra is not installed (pip install '.[dask]')"
)


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A local Dask cluster: a scheduler and two single-threaded worker processes, all on 127.0.0.1."""
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        protocol="tcp",
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


@pytest.mark.slow  # end to end, minutes on 2 cores: `make test-slow` (CI runs it)
def test_dask_gives_the_same_forecasts_as_the_pool(store: Store, scheduler: str) -> None:
    keys = fill(store, 4)
    pooled = forecast_stored(store, keys, SPEC, workers=2)
    from_pool = latest(store, keys)
    seen = []
    on_dask = forecast_stored(store, keys, SPEC, seen.append, scheduler=scheduler)
    assert all(o.ok for o in pooled + on_dask), [o.error for o in pooled + on_dask]
    assert seen == on_dask and sorted((o.service, o.metric) for o in on_dask) == keys
    pool_runs = {o.run_id for o in pooled}
    assert all(o.run_id not in pool_runs for o in on_dask)  # stored again, as new runs
    assert_same_forecasts(from_pool, latest(store, keys))


def test_dask_records_failures_and_resumes(store: Store, scheduler: str) -> None:
    keys = fill(store, 2)
    forecast_stored(store, keys[:1], SPEC, scheduler=scheduler)
    done = forecast_stored(store, keys, SPEC, scheduler=scheduler, resume=True)
    assert [(o.service, o.metric, o.ok) for o in done] == [(*keys[1], True)]


def test_an_unreachable_scheduler_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runners, "CONNECT_TIMEOUT", 1.0)  # nobody listens: fail in 1 s, not 10
    address = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(InvalidInput, match=f"cannot reach the Dask scheduler at {address}"):
        runners.make_runner(scheduler=address)


def test_bench_scale_runs_through_the_scheduler(scheduler: str, tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    run = CliRunner().invoke(
        cli,
        [
            "bench",
            "scale",
            "--series",
            "2",
            "--weeks",
            "2",
            "--horizon",
            "24h",
            "--scheduler",
            scheduler,
            "--json",
            str(out),
        ],
    )
    assert run.exit_code == 0, run.output
    result = json.loads(out.read_text())
    assert (
        result["backend"] == "dask"
        and result["workers"] == 2
        and result["series"] == 2
        and result["failed"] == 0
    )
    assert sum(name.startswith("worker") for name in result["memory_by_process_mb"]) >= 1
