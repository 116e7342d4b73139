"""Load-test results in the store: saved and listed, applied to the series' threshold in the same transaction."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from capacity.config import SeriesConfig
from capacity.errors import InvalidInput, UnknownSeries
from capacity.store import Store
from capacity.store.loadtests import capacity_update
from capacity.store.tables import loadtests
from loadtests.plan_build import parse_plan
from loadtests.verdict import build_result, judge_step
from tests.support.data import hourly_history
from tests.support.loadtests import tally


def result_doc(capacity_ok: bool = True, staging_instances: int | None = None) -> dict[str, object]:
    raw: dict[str, object] = {
        "target_rps": 100,
        "steps": [0.5, 1.0],
        "slo": {"p95_ms": 250, "max_failure_ratio": 0.01},
        "requests": [{"path": "/"}],
        "service": "checkout",
        "metric": "rps",
    }
    if staging_instances:
        raw["staging_instances"] = staging_instances
    plan = parse_plan(raw)
    steps = [
        judge_step(plan, i, [tally(r, latency_ms=20 if capacity_ok else 900)], final=True)
        for i, r in enumerate((50, 100))
    ]
    return json.loads(json.dumps(build_result(plan, steps, stopped_early=False)))


@pytest.fixture(params=["sqlite", "postgres"])
def fleet(request: pytest.FixtureRequest) -> Store:
    store: Store = request.getfixturevalue("store" if request.param == "sqlite" else "pg_store")
    store.series.ingest(hourly_history("checkout", "rps", days=2))
    store.series.ingest(hourly_history("checkout", "cpu", days=2))
    store.series.configure_series(
        [SeriesConfig("checkout", "rps", threshold=80.0, instances=4, instance_capacity=20.0)]
    )
    return store


def count_rows(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(loadtests)).scalar_one())


def test_save_and_list_without_apply(fleet: Store) -> None:
    doc = result_doc()
    lid = fleet.loadtests.save_loadtest("checkout", "rps", doc, apply=False)
    [row] = fleet.loadtests.list_loadtests("checkout", "rps")
    assert row.id == lid and row.verdict == "pass" and row.applied is False
    assert row.measured_capacity_rps == pytest.approx(100, abs=0.5) and row.result == doc
    info = fleet.series.describe("checkout", "rps")
    assert (info.threshold, info.instance_capacity) == (80.0, 20.0)  # untouched
    assert fleet.loadtests.list_loadtests("checkout", "cpu") == []


def test_apply_updates_threshold_and_per_instance_capacity(fleet: Store) -> None:
    fleet.loadtests.save_loadtest("checkout", "rps", result_doc(), apply=True)
    info = fleet.series.describe("checkout", "rps")
    assert info.threshold == pytest.approx(100, abs=0.5)
    assert info.instance_capacity == pytest.approx(25, abs=0.2)  # 100 over the series' 4 instances
    fleet.loadtests.save_loadtest("checkout", "rps", result_doc(staging_instances=2), apply=True)
    info = fleet.series.describe("checkout", "rps")
    assert info.instance_capacity == pytest.approx(50, abs=0.3)  # 100 over the 2 staging instances
    assert info.threshold == pytest.approx(200, abs=1)  # x the 4 production instances
    newest = fleet.loadtests.list_loadtests("checkout", "rps")
    assert [r.applied for r in newest] == [True, True] and newest[0].id > newest[1].id


def test_capacity_update_rules() -> None:
    assert capacity_update(120, None, None) == (120, None)
    assert capacity_update(120, None, 4) == (120, 30)
    assert capacity_update(120, 2, 4) == (240, 60)
    assert capacity_update(120, 2, None) == (120, 60)


@pytest.mark.parametrize(
    ("service", "metric", "doc", "apply", "error"),
    [
        ("nobody", "rps", None, False, UnknownSeries),
        ("checkout", "cpu", None, True, InvalidInput),  # a percent metric gets no request-rate threshold
        ("checkout", "rps", {"verdict": "meh", "target_rps": 1}, False, InvalidInput),
        ("checkout", "rps", "no-capacity", True, InvalidInput),
    ],
)
def test_bad_saves_store_nothing(
    fleet: Store, service: str, metric: str, doc: object, apply: bool, error: type[Exception]
) -> None:
    payload = result_doc(capacity_ok=False) if doc == "no-capacity" else (doc or result_doc())
    with pytest.raises(error):
        fleet.loadtests.save_loadtest(service, metric, payload, apply=apply)  # type: ignore[arg-type]
    assert count_rows(fleet) == 0
    assert fleet.series.describe("checkout", "rps").threshold == 80.0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    verdict=st.sampled_from(["pass", "fail", "unreachable"]),
    target=st.floats(0.1, 1e5),
    capacity=st.none() | st.floats(0.1, 1e5),
    note=st.text(max_size=30),
)
def test_results_round_trip(
    store: Store, verdict: str, target: float, capacity: float | None, note: str
) -> None:
    if not store.series.list_series():
        store.series.ingest(hourly_history("checkout", "rps", days=1))
    doc = {
        "verdict": verdict,
        "target_rps": target,
        "measured_capacity_rps": capacity,
        "steps": [],
        "note": note,
    }
    lid = store.loadtests.save_loadtest("checkout", "rps", doc, apply=False)
    stored = next(t for t in store.loadtests.list_loadtests("checkout", "rps") if t.id == lid)
    assert (stored.verdict, stored.target_rps, stored.measured_capacity_rps) == (verdict, target, capacity)
    assert stored.result == doc and stored.applied is False
