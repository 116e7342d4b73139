"""API events calendar, fleet risks, readiness report and load-test plan/result routes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.support.api import Api, assert_problem, make_api
from tests.support.data import hourly_history

BF = {
    "name": "Black Friday",
    "start": "2024-01-18",
    "end": "2024-01-19",
    "multiplier_low": 1.6,
    "multiplier_high": 1.8,
}


def rps_history(days: int = 14) -> pd.DataFrame:
    """A request-rate series with a daily cycle around 100 requests/s."""
    frame = hourly_history("checkout", "rps", days=days, seed=5)
    return frame.assign(value=np.clip(frame["value"] * 2.5, 0, None))


@pytest.fixture(scope="module")
def eapi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """Two series (cpu near its threshold, rps), forecasts stored, one event in the forecast window."""
    a = make_api(tmp_path_factory.mktemp("events"))
    a.store.series.ingest(pd.concat([hourly_history("checkout", "cpu", days=14), rps_history()]))
    a.store.series.update_series("checkout", "cpu", threshold=50.0)
    a.store.series.update_series("checkout", "rps", threshold=400.0, instances=4)
    assert a.client.post("/api/v1/events", json=BF, headers=a.write).status_code == 201
    for metric in ("cpu", "rps"):
        assert a.client.get(f"/api/v1/series/checkout/{metric}/forecast", headers=a.read).status_code == 200
    yield a
    a.store.close()


def test_event_crud(eapi: Api) -> None:
    c, w = eapi.client, eapi.write
    created = c.post(
        "/api/v1/events", json={"name": "Launch <b>", "start": "2024-02-01", "end": "2024-02-02"}, headers=w
    )
    assert_problem(created, 422, "name")  # angle brackets are refused in names (the pattern says so)
    created = c.post(
        "/api/v1/events", json={"name": "Launch", "start": "2024-02-01", "end": "2024-02-02"}, headers=w
    )
    assert created.status_code == 201 and created.headers["Location"] == "/api/v1/events/Launch"
    listing = c.get("/api/v1/events", headers=eapi.read).get_json()["events"]
    assert {e["name"] for e in listing} >= {"Black Friday", "Launch"}
    one = c.get("/api/v1/events/Launch", headers=eapi.read).get_json()
    assert one["occurrences"] == [
        {
            "start": "2024-02-01T00:00:00Z",
            "end": "2024-02-03T00:00:00Z",
            "multiplier_low": None,
            "multiplier_high": None,
            "service": None,
        }
    ]
    put = c.put(
        "/api/v1/events/Launch",
        json={
            "occurrences": [
                {
                    "start": "2024-03-01T08:00:00Z",
                    "end": "2024-03-01T20:00:00Z",
                    "service": "checkout",
                    "multiplier_low": 2,
                }
            ]
        },
        headers=w,
    )
    assert put.status_code == 200
    assert put.get_json()["occurrences"][0]["service"] == "checkout"
    assert put.get_json()["occurrences"][0]["multiplier_high"] == 2.0
    assert_problem(c.delete("/api/v1/events/Launch", headers=w), 403)
    assert c.delete("/api/v1/events/Launch", headers=eapi.admin).status_code == 204
    assert_problem(c.get("/api/v1/events/Launch", headers=eapi.read), 404, "event")
    assert_problem(c.delete("/api/v1/events/Launch", headers=eapi.admin), 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**BF, "end": "2024-01-10"}, "end"),
        ({**BF, "start": "not a date"}, "start"),
        ({**BF, "multiplier_low": 3, "multiplier_high": 2}, "multiplier_high"),
        ({**BF, "multiplier_low": -1}, "multiplier_low"),
        ({**BF, "service": "bad name"}, "service"),
        ({k: v for k, v in BF.items() if k != "start"}, "start"),
        ({**BF, "extra": 1}, "extra"),
    ],
)
def test_event_bad_input_names_the_field(eapi: Api, body: dict[str, Any], field: str) -> None:
    assert_problem(eapi.client.post("/api/v1/events", json=body, headers=eapi.write), 422, field)


def test_risks_for_an_event_and_a_date(eapi: Api) -> None:
    body = eapi.client.get("/api/v1/risks?event=Black%20Friday", headers=eapi.read).get_json()
    assert body["event"] == "Black Friday" and "Black Friday" in body["window"]
    rows = body["risks"]
    assert [r["rank"] for r in rows] == [1, 2]
    assert {(r["service"], r["metric"]) for r in rows} == {("checkout", "cpu"), ("checkout", "rps")}
    probs = [r["breach_probability"] for r in rows]
    assert probs == sorted(probs, reverse=True) and all(0 <= p <= 1 for p in probs)
    assert sum(body["counts"].values()) == 2
    until = eapi.client.get("/api/v1/risks?until=2024-01-16", headers=eapi.read).get_json()
    assert "2024-01-17" in until["window"]
    whole = eapi.client.get("/api/v1/risks", headers=eapi.read)
    assert whole.status_code == 200
    assert_problem(eapi.client.get("/api/v1/risks?event=Nope", headers=eapi.read), 404, "event")
    assert_problem(eapi.client.get("/api/v1/risks?until=someday", headers=eapi.read), 422, "until")
    assert_problem(
        eapi.client.get("/api/v1/risks?event=Black%20Friday&until=2024-01-16", headers=eapi.read),
        422,
        "until",
    )


def test_report_json_and_html(eapi: Api) -> None:
    js = eapi.client.get(
        "/api/v1/events/Black%20Friday/report", headers={**eapi.read, "Accept": "application/json"}
    )
    assert js.status_code == 200 and js.mimetype == "application/json"
    assert js.get_json()["event"] == "Black Friday" and len(js.get_json()["risks"]) == 2
    page = eapi.client.get(
        "/api/v1/events/Black%20Friday/report", headers={**eapi.read, "Accept": "text/html"}
    )
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert "<h1>Peak readiness: Black Friday</h1>" in page.get_data(as_text=True)
    assert (
        eapi.client.get("/api/v1/events/Black%20Friday/report?format=html", headers=eapi.read).mimetype
        == "text/html"
    )
    assert_problem(
        eapi.client.get("/api/v1/events/Black%20Friday/report", headers={**eapi.read, "Accept": "image/gif"}),
        406,
    )
    assert_problem(eapi.client.get("/api/v1/events/Nope/report", headers=eapi.read), 404, "event")


def test_report_escapes_user_text(eapi: Api) -> None:
    name = "Sale & \"quotes\" 'x'"
    body = {"name": name, "start": "2024-01-16", "end": "2024-01-16"}
    assert eapi.client.post("/api/v1/events", json=body, headers=eapi.write).status_code == 201
    page = eapi.client.get(
        "/api/v1/events/Sale%20%26%20%22quotes%22%20'x'/report?format=html", headers=eapi.read
    )
    text = page.get_data(as_text=True)
    assert "Sale &amp; &quot;quotes&quot; &#x27;x&#x27;" in text and name not in text


def test_loadtest_plan(eapi: Api) -> None:
    plan = eapi.client.get(
        "/api/v1/series/checkout/rps/loadtest-plan?event=Black%20Friday&margin=1.5&step_seconds=5",
        headers=eapi.read,
    )
    assert plan.status_code == 200
    body = plan.get_json()
    from loadtests.plan_build import parse_plan

    parsed = parse_plan(body)
    assert parsed.target_rps == pytest.approx(body["peak_rps"] * 1.5, abs=0.1)
    assert parsed.step_seconds == 5 and 1.0 in parsed.steps and body["event"] == "Black Friday"
    forecast = eapi.client.get("/api/v1/series/checkout/rps/forecast", headers=eapi.read).get_json()
    window = [p["q0.95"] for p in forecast["points"] if "2024-01-18" <= p["ts"] < "2024-01-20"]
    assert body["peak_rps"] == pytest.approx(max(window), rel=1e-3)
    assert_problem(
        eapi.client.get("/api/v1/series/checkout/cpu/loadtest-plan", headers=eapi.read), 422, "metric"
    )
    assert_problem(
        eapi.client.get("/api/v1/series/checkout/rps/loadtest-plan?margin=0.5", headers=eapi.read), 422
    )
    assert_problem(
        eapi.client.get("/api/v1/series/checkout/rps/loadtest-plan?event=Nope", headers=eapi.read), 404
    )
    assert_problem(eapi.client.get("/api/v1/series/nosuch/rps/loadtest-plan", headers=eapi.read), 404)


def _result(measured: float | None, verdict: str = "pass") -> dict[str, Any]:
    step = {
        "target_rps": 300.0,
        "achieved_rps": 300.0,
        "p50_ms": 20.0,
        "p95_ms": 80.0,
        "p99_ms": 120.0,
        "failure_ratio": 0.0,
        "met_slo": True,
    }
    return {"verdict": verdict, "target_rps": 300.0, "measured_capacity_rps": measured, "steps": [step]}


def test_post_loadtest_result_and_apply(eapi: Api) -> None:
    c = eapi.client
    stored = c.post(
        "/api/v1/loadtests",
        json={"service": "checkout", "metric": "rps", "result": _result(300.0)},
        headers=eapi.write,
    )
    assert stored.status_code == 201
    assert stored.get_json()["applied"] is False and stored.get_json()["threshold"] == 400.0
    applied = c.post(
        "/api/v1/loadtests",
        json={"service": "checkout", "metric": "rps", "result": _result(300.0), "apply": True},
        headers=eapi.write,
    )
    body = applied.get_json()
    assert body["applied"] is True and body["measured_capacity_rps"] == 300.0 and body["threshold"] == 300.0
    assert c.get("/api/v1/series/checkout/rps", headers=eapi.read).get_json()["threshold"] == 300.0
    assert_problem(
        c.post(
            "/api/v1/loadtests",
            json={"service": "checkout", "metric": "rps", "result": _result(300.0)},
            headers=eapi.read,
        ),
        403,
    )
    bad = {**_result(300.0), "verdict": "maybe"}
    assert_problem(
        c.post(
            "/api/v1/loadtests",
            json={"service": "checkout", "metric": "rps", "result": bad},
            headers=eapi.write,
        ),
        422,
        "result.verdict",
    )
    assert_problem(
        c.post(
            "/api/v1/loadtests",
            json={"service": "checkout", "metric": "cpu", "result": _result(300.0), "apply": True},
            headers=eapi.write,
        ),
        422,
        "apply",
    )
    assert_problem(
        c.post(
            "/api/v1/loadtests",
            json={"service": "nosuch", "metric": "rps", "result": _result(1.0)},
            headers=eapi.write,
        ),
        404,
    )
    assert_problem(
        c.post("/api/v1/loadtests", json={"service": "checkout", "metric": "rps"}, headers=eapi.write),
        422,
        "result",
    )


def test_risk_counts_are_integers(eapi: Api) -> None:
    for row in eapi.client.get("/api/v1/risks", headers=eapi.read).get_json()["risks"]:
        for key in ("instances", "instances_needed", "instances_to_add"):
            assert row[key] is None or isinstance(row[key], int), (key, row[key])
