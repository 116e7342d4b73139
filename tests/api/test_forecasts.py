"""API forecasts: fresh-or-stored, ETag/304, parameters, PNG, Grafana points, live accuracy and drift."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from capacity.forecast.types import ForecastSpec
from capacity.services.forecasting import forecast_stored
from tests.support.api import Api, assert_problem, columns_body, make_api
from tests.support.data import hourly_history

BASE = "/api/v1/series/checkout/cpu"


@pytest.fixture(scope="module")
def fapi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One series with a stored forecast (computed by the first request)."""
    a = make_api(tmp_path_factory.mktemp("forecasts"))
    a.store.series.ingest(hourly_history("checkout", "cpu", days=14))
    a.store.series.update_series("checkout", "cpu", threshold=70.0)
    assert a.client.get(f"{BASE}/forecast", headers=a.read).status_code == 200
    yield a
    a.store.close()


def test_forecast_body_and_invariants(fapi: Api) -> None:
    response = fapi.client.get(f"{BASE}/forecast", headers=fapi.read)
    assert response.status_code == 200 and response.headers["X-Forecast-Stale"] == "false"
    body = response.get_json()
    assert body["model"] and body["horizon"] == 14 * 24 == len(body["points"])
    assert body["threshold"] == 70.0 and body["history_end"] == "2024-01-14T23:00:00Z"
    assert "mase" in body["scores"] and body["candidates"]
    qs = body["quantiles"]
    for point in body["points"]:
        levels = [point[f"q{q:g}"] for q in qs]
        assert levels == sorted(levels)
        assert point["lower"] <= point["mean"] <= point["upper"]
    stamps = [p["ts"] for p in body["points"]]
    assert stamps == sorted(stamps) and stamps[0] == "2024-01-15T00:00:00Z"


def test_etag_and_if_none_match(fapi: Api) -> None:
    first = fapi.client.get(f"{BASE}/forecast", headers=fapi.read)
    etag = first.headers["ETag"]
    again = fapi.client.get(f"{BASE}/forecast", headers={**fapi.read, "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    other = fapi.client.get(f"{BASE}/forecast", headers={**fapi.read, "If-None-Match": '"something-else"'})
    assert other.status_code == 200
    shorter = fapi.client.get(f"{BASE}/forecast?horizon=24h", headers={**fapi.read, "If-None-Match": etag})
    assert shorter.status_code == 200 and shorter.headers["ETag"] != etag


def test_horizon_and_quantile_parameters(fapi: Api) -> None:
    body = fapi.client.get(f"{BASE}/forecast?horizon=24h&quantiles=0.1,0.9", headers=fapi.read).get_json()
    assert len(body["points"]) == 24 and body["quantiles"] == [0.1, 0.9]
    assert set(body["points"][0]) == {"ts", "mean", "q0.1", "q0.9", "lower", "upper", "threshold"}
    for bad, field in [
        ("quantiles=0.5,1.5", "quantiles"),
        ("quantiles=abc", "quantiles"),
        ("horizon=soon", "horizon"),
        ("horizon=9999w", "horizon"),
        ("from=12", "from_"),
    ]:
        assert_problem(fapi.client.get(f"{BASE}/forecast?{bad}", headers=fapi.read), 422)
        del field


def test_from_to_window_in_epoch_ms(fapi: Api) -> None:
    start = int(pd.Timestamp("2024-01-16T00:00:00Z").timestamp() * 1000)
    end = int(pd.Timestamp("2024-01-16T05:00:00Z").timestamp() * 1000)
    body = fapi.client.get(f"{BASE}/forecast?from={start}&to={end}", headers=fapi.read).get_json()
    assert [p["ts"] for p in body["points"]] == [f"2024-01-16T0{h}:00:00Z" for h in range(6)]
    # A window that ends before it starts selects nothing (JSON Schema cannot compare two parameters).
    reversed_window = fapi.client.get(f"{BASE}/forecast?from={end}&to={start}", headers=fapi.read)
    assert reversed_window.status_code == 200 and reversed_window.get_json()["points"] == []


def test_forecast_png(fapi: Api) -> None:
    response = fapi.client.get(f"{BASE}/forecast.png", headers=fapi.read)
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.data[:8] == b"\x89PNG\r\n\x1a\n" and len(response.data) > 10_000
    cached = fapi.client.get(
        f"{BASE}/forecast.png", headers={**fapi.read, "If-None-Match": response.headers["ETag"]}
    )
    assert cached.status_code == 304
    assert_problem(fapi.client.get("/api/v1/series/checkout/cpu/forecast.png"), 401)


def test_grafana_points_are_flat(fapi: Api) -> None:
    points = fapi.client.get(f"{BASE}/points", headers=fapi.read).get_json()
    actual = [p for p in points if p["actual"] is not None]
    forecast = [p for p in points if p["forecast"] is not None]
    assert len(actual) == 14 * 24 and len(forecast) == 14 * 24
    assert all(set(p) == {"ts", "actual", "forecast", "lower", "upper", "threshold"} for p in points)
    assert [p["ts"] for p in points] == sorted(p["ts"] for p in points)
    start = int(pd.Timestamp("2024-01-14T22:00:00Z").timestamp() * 1000)
    end = int(pd.Timestamp("2024-01-15T01:00:00Z").timestamp() * 1000)
    window = fapi.client.get(f"{BASE}/points?from={start}&to={end}", headers=fapi.read).get_json()
    assert [(p["ts"], p["actual"] is not None) for p in window] == [
        ("2024-01-14T22:00:00Z", True),
        ("2024-01-14T23:00:00Z", True),
        ("2024-01-15T00:00:00Z", False),
        ("2024-01-15T01:00:00Z", False),
    ]


def test_unknown_series_everywhere(fapi: Api) -> None:
    for suffix in ("forecast", "forecast.png", "accuracy", "points"):
        assert_problem(fapi.client.get(f"/api/v1/series/nosuch/cpu/{suffix}", headers=fapi.read), 404)


def test_new_data_gives_a_fresh_forecast_and_a_tiny_budget_serves_stale(tmp_path: Path) -> None:
    a = make_api(tmp_path, forecast_budget_s=0.01, freshness_ttl_s=0.01)
    history = hourly_history("checkout", "cpu", days=14)
    a.store.series.ingest(history.iloc[: 13 * 24])
    first = a.client.get(f"{BASE}/forecast", headers=a.read)
    assert first.status_code == 202 and int(first.headers["Retry-After"]) >= 1
    deadline = time.monotonic() + 120
    while first.status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.5)
        first = a.client.get(f"{BASE}/forecast", headers=a.read)
    assert first.status_code == 200
    old = first.get_json()
    ingest = a.client.post(f"{BASE}/samples", json=columns_body(history.iloc[13 * 24 :]), headers=a.write)
    assert ingest.status_code == 200
    stale = a.client.get(f"{BASE}/forecast", headers=a.read)
    assert stale.status_code == 200 and stale.get_json()["stale"] is True
    assert stale.get_json()["run_id"] == old["run_id"]
    fresh = stale
    while fresh.get_json()["stale"] and time.monotonic() < deadline:
        time.sleep(0.5)
        fresh = a.client.get(f"{BASE}/forecast", headers=a.read)
    body = fresh.get_json()
    assert body["stale"] is False and body["run_id"] != old["run_id"]
    assert body["history_end"] == "2024-01-14T23:00:00Z" and body["data_version"] > old["data_version"]


def test_live_accuracy_and_drift(tmp_path: Path) -> None:
    a = make_api(tmp_path)
    history = hourly_history("checkout", "cpu", days=16)
    a.store.series.ingest(history.iloc[: 14 * 24])
    assert a.client.get(f"{BASE}/forecast", headers=a.read).status_code == 200
    before = a.client.get(f"{BASE}/accuracy", headers=a.read).get_json()
    assert before["backtest"]["scores"]["mase"] > 0
    assert before["live"]["mase"] is None and before["live"]["scored_steps"] == 0 and before["drift"] is False
    later = history.iloc[14 * 24 :]
    # Actuals pushed to the samples route are scored against the stored forecast as they arrive (the ledger).
    assert a.client.post(f"{BASE}/samples", json=columns_body(later), headers=a.write).status_code == 200
    good = a.client.get(f"{BASE}/accuracy", headers=a.read).get_json()
    assert good["live"]["scored_steps"] == 48 and good["live"]["mase"] is not None
    run = good["live"]["runs"][0]
    assert (
        run["complete"] is False and run["horizon_steps"] == 14 * 24
    )  # partial: 48 of 336 steps have passed
    assert 0.0 <= run["coverage_80"] <= 1.0 and good["drift"] is False
    # Corrected actuals far from anything the forecast allowed: rescored, live error many times the backtest's.
    shifted = later.assign(value=np.clip(later["value"] + 45.0, 0, 100))
    assert a.client.post(f"{BASE}/samples", json=columns_body(shifted), headers=a.write).status_code == 200
    bad = a.client.get(f"{BASE}/accuracy", headers=a.read).get_json()
    assert bad["live"]["mase"] > good["live"]["mase"] and bad["drift"] is True
    assert bad["live"]["runs"][0]["coverage_80"] < 0.5
    text = a.client.get("/metrics").get_data(as_text=True)
    assert 'capacity_forecast_drift{service="checkout",metric="cpu"} 1.0' in text
    line = next(
        x for x in text.splitlines() if x.startswith('capacity_forecast_live_mase_ratio{service="checkout"')
    )
    assert float(line.split()[-1]) == pytest.approx(bad["live"]["mase"], abs=1e-6)  # the same ledger numbers


def test_a_series_the_engine_cannot_forecast_is_a_409_problem(tmp_path: Path) -> None:
    a = make_api(tmp_path)
    one = {"samples": [["2024-01-01T00:00:00Z", 5]]}
    assert a.client.post("/api/v1/series/tiny/cpu/samples", json=one, headers=a.write).status_code == 201
    for _ in range(2):  # the failure is recorded; the second read does not recompute
        problem = assert_problem(
            a.client.get("/api/v1/series/tiny/cpu/forecast", headers=a.read), 409, "series"
        )
        assert problem["title"] == "Forecast failed" and "at least" in problem["detail"]
    assert (
        len(
            [r for r in [a.store.forecasts.latest_run_status("tiny", "cpu")] if r and r["status"] == "failed"]
        )
        == 1
    )


def test_points_reach_the_stored_forecast_horizon_or_the_one_asked(tmp_path: Path) -> None:
    # A forecast stored 21 days ahead (as a refresh up to an event stores it) is shown whole by default, not cut
    # at the 14-day default horizon; ``horizon`` shortens it.
    a = make_api(tmp_path)
    a.store.series.ingest(
        hourly_history("checkout", "cpu", days=28)
    )  # a 21-day horizon needs 21 days of history
    forecast_stored(a.store, [("checkout", "cpu")], ForecastSpec(horizon=21 * 24))
    points = a.client.get(f"{BASE}/points", headers=a.read).get_json()
    assert len([p for p in points if p["forecast"] is not None]) == 21 * 24
    short = a.client.get(f"{BASE}/points?horizon=2d", headers=a.read).get_json()
    assert len([p for p in short if p["forecast"] is not None]) == 2 * 24
    assert_problem(a.client.get(f"{BASE}/points?horizon=2y", headers=a.read), 422, "horizon")
    a.store.close()
