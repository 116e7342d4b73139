"""API capacity plans: the fleet's plan, one series' plan and chart, plan accuracy; bad parameters are 422 problem
documents naming the field, an unknown series 404, and a missing token 401: never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from capacity.plan.plan import PlanTarget
from capacity.services.plans import PlanRequest, make_plans
from tests.support.api import Api, assert_problem, make_api
from tests.support.yearly import hourly_cpu, store_series

CUT = pd.Timestamp("2023-01-02", tz="UTC")


@pytest.fixture(scope="module")
def papi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    a = make_api(Path(tmp_path_factory.mktemp("plans")))
    full = hourly_cpu(2.3, seed=3)
    store_series(a.store, full[full.index < CUT], "shop", "cpu", threshold=50.0, instances=6, agg="max")
    store_series(a.store, full.iloc[-24 * 5 :], "tiny", "cpu")
    yield a
    a.store.close()


def test_the_fleet_plan_has_a_plan_or_a_reason_per_series(papi: Api) -> None:
    response = papi.client.get("/api/v1/plan?horizon=5w", headers=papi.read)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["horizon_weeks"] == 5 and body["quarter"] is None
    by_service = {p["service"]: p for p in body["plans"]}
    assert "error" in by_service["tiny"] and "weeks" not in by_service["tiny"]
    shop = by_service["shop"]
    assert len(shop["weeks"]) == 5 and shop["threshold"] == 50.0 and shop["plan_id"] is None  # not stored
    for week in shop["weeks"]:
        assert week["p50"] <= week["p90"]
        assert week["headroom_pct"] == pytest.approx((50.0 - week["p90"]) / 50.0 * 100)
    assert papi.store.plans.list_plans() == []


def test_one_series_plan_and_its_chart(papi: Api) -> None:
    response = papi.client.get("/api/v1/series/shop/cpu/plan?horizon=5w&margin=0.2", headers=papi.read)
    assert response.status_code == 200
    body = response.get_json()
    assert body["service"] == "shop" and body["margin"] == 0.2 and len(body["weeks"]) == 5
    png = papi.client.get("/api/v1/series/shop/cpu/plan.png?horizon=5w", headers=papi.read)
    assert png.status_code == 200 and png.mimetype == "image/png" and png.data.startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("horizon=99w", "horizon"),
        ("horizon=13d", "horizon"),
        ("quarter=2027Q9", "quarter"),
        ("agg=min", "agg"),
        ("margin=-1", "margin"),
        ("margin=abc", "margin"),
    ],
)
def test_bad_plan_parameters_are_422_naming_the_field(papi: Api, query: str, field: str) -> None:
    for path in ("/api/v1/plan", "/api/v1/series/shop/cpu/plan"):
        assert_problem(papi.client.get(f"{path}?{query}", headers=papi.read), 422, field)


def test_a_quarter_before_the_history_ends_is_a_409_naming_the_quarter(papi: Api) -> None:
    # Well formed; it is where this series' history ends that rules the quarter out (409, like a short series).
    for path in ("/api/v1/plan", "/api/v1/series/shop/cpu/plan"):
        assert_problem(papi.client.get(f"{path}?quarter=2020Q1", headers=papi.read), 409, "quarter")
        # as is one ending more than a year after it (schemathesis: a schema-valid 2082Q4 was a 422)
        assert_problem(papi.client.get(f"{path}?quarter=2082Q4", headers=papi.read), 409, "quarter")


def test_unknown_short_or_unauthorized_series_never_give_a_500(papi: Api) -> None:
    assert_problem(papi.client.get("/api/v1/series/nope/cpu/plan", headers=papi.read), 404)
    assert_problem(papi.client.get("/api/v1/series/bad%20name/cpu/plan", headers=papi.read), 422, "service")
    assert_problem(papi.client.get("/api/v1/plan?service=nope", headers=papi.read), 404)
    assert_problem(papi.client.get("/api/v1/series/tiny/cpu/plan", headers=papi.read), 409, "values")
    assert_problem(papi.client.get("/api/v1/series/tiny/cpu/plan.png", headers=papi.read), 409, "values")
    assert_problem(papi.client.get("/api/v1/plan"), 401)


def test_plan_accuracy_lists_the_stored_plans_with_their_scores(papi: Api) -> None:
    (outcome,) = make_plans(papi.store, PlanRequest(weeks=4, service="shop"))
    assert outcome.plan is not None and outcome.plan.target == PlanTarget("shop", "cpu", 50.0, 6, None)
    before = papi.client.get("/api/v1/plan/accuracy", headers=papi.read).get_json()
    assert before["summary"] == {"plans": 0, "weeks": 0}
    assert [p["score"] for p in before["plans"]] == [None]
    full = hourly_cpu(2.3, seed=3)
    store_series(papi.store, full[full.index >= CUT], "shop", "cpu")
    after = papi.client.get("/api/v1/plan/accuracy?service=shop", headers=papi.read).get_json()
    assert after["summary"]["weeks"] == 4 and after["summary"]["plans"] == 1
    (plan,) = after["plans"]
    assert plan["score"]["weeks_scored"] == 4 and len(plan["scored_weeks"]) == 4
    assert_problem(
        papi.client.get("/api/v1/plan/accuracy?service=bad%20name", headers=papi.read), 422, "service"
    )


def test_the_margin_bound_the_server_keeps_is_the_one_the_document_states(papi: Api) -> None:
    assert_problem(papi.client.get("/api/v1/plan?margin=10", headers=papi.read), 422, "margin")
    for path in ("/api/v1/plan", "/api/v1/series/{service}/{metric}/plan.png"):
        params = papi.client.get("/openapi.json").get_json()["paths"][path]["get"]["parameters"]
        (margin,) = [p["schema"] for p in params if p["name"] == "margin"]
        assert margin["maximum"] == 10 and margin["exclusiveMaximum"] is True
