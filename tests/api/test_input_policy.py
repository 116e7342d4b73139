"""The input policy in the API: repeated timestamps in a samples body, and the horizon cap of the forecast routes
(the same rules and messages as ``capacity ingest`` and ``capacity forecast``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.api import Api, assert_problem, columns_body, make_api
from tests.support.data import hourly_history

BASE = "/api/v1/series/web/rps"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    a = make_api(tmp_path_factory.mktemp("policy"))
    a.store.series.ingest(hourly_history("web", "rps", days=14))
    yield a
    a.store.close()


def test_a_timestamp_repeated_with_another_value_is_refused_naming_the_rows(api: Api) -> None:
    body = {"ts": [1704067200, 1704070800, 1704070800], "value": [1.0, 2.0, 3.0]}
    problem = assert_problem(api.client.post(f"{BASE}/samples", json=body, headers=api.write), 422, "ts")
    assert "repeated with different values" in problem["detail"] and "at rows 2, 3" in problem["detail"]
    csv = "timestamp,value\n2024-01-01T00:00Z,1\n2024-01-01T00:00Z,5\n"
    headers = {**api.write, "Content-Type": "text/csv"}
    problem = assert_problem(api.client.post(f"{BASE}/samples", data=csv, headers=headers), 422, "ts")
    assert "at rows 2, 3" in problem["detail"]  # lines of the body: the header is line 1


def test_an_exact_repeat_is_stored_once(api: Api) -> None:
    history = hourly_history("dup", "rps", days=1)
    body = columns_body(history)
    body = {"ts": body["ts"] + body["ts"][:3], "value": body["value"] + body["value"][:3]}
    response = api.client.post("/api/v1/series/dup/rps/samples", json=body, headers=api.write)
    assert response.status_code in (200, 201), response.get_data(as_text=True)
    assert response.get_json()["samples"] == 24


def test_a_horizon_longer_than_the_history_is_a_409_saying_the_limit(api: Api) -> None:
    problem = assert_problem(api.client.get(f"{BASE}/forecast?horizon=30d", headers=api.read), 409, "horizon")
    assert "too long for the history of web/rps" in problem["detail"] and "at most 14d" in problem["detail"]
    problem = assert_problem(
        api.client.get(f"{BASE}/forecast?horizon=400d", headers=api.read), 422, "horizon"
    )
    assert "horizon" in problem["detail"]  # the document's pattern refuses it before the route runs
