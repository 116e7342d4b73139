"""Degradation: when forecasting a series fails or passes its time budget, the API serves the last good forecast,
marked stale, and says why."""

from __future__ import annotations

import time
from pathlib import Path

from capacity.forecast.types import ForecastSpec
from tests.support.api import columns_body, make_api
from tests.support.data import hourly_history

BASE = "/api/v1/series/checkout/cpu"


def test_a_failed_forecast_of_new_data_serves_the_last_good_one_marked_stale_with_the_reason(
    tmp_path: Path,
) -> None:
    a = make_api(tmp_path, freshness_ttl_s=0.01)
    history = hourly_history("checkout", "cpu", days=14)
    a.store.series.ingest(history.iloc[: 13 * 24])
    good = a.client.get(f"{BASE}/forecast", headers=a.read)
    assert good.status_code == 200 and good.get_json()["stale_reason"] is None
    assert (
        a.client.post(
            f"{BASE}/samples", json=columns_body(history.iloc[13 * 24 :]), headers=a.write
        ).status_code
        == 200
    )
    # The engine's attempt on the new data failed (recorded as forecast_stored records every failure).
    a.store.forecasts.save_failed_forecast(
        "checkout", "cpu", ForecastSpec(), "NotEnoughHistory: model fit diverged\ntrace"
    )
    for _ in range(2):  # the second read is served from the render cache: same reason
        stale = a.client.get(f"{BASE}/forecast", headers=a.read)
        body = stale.get_json()
        assert stale.status_code == 200 and stale.headers["X-Forecast-Stale"] == "true"
        assert body["stale"] is True and body["run_id"] == good.get_json()["run_id"]
        assert "failed" in body["stale_reason"] and "model fit diverged" in body["stale_reason"]
        assert "trace" not in body["stale_reason"]  # one line only
        assert all(p["mean"] is not None for p in body["points"])


def test_a_forecast_over_its_time_budget_serves_the_last_good_one_and_says_so(tmp_path: Path) -> None:
    a = make_api(tmp_path, forecast_budget_s=0.01, freshness_ttl_s=0.01)
    history = hourly_history("checkout", "cpu", days=14)
    a.store.series.ingest(history.iloc[: 13 * 24])
    deadline = time.monotonic() + 120
    first = a.client.get(f"{BASE}/forecast", headers=a.read)
    while first.status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.3)
        first = a.client.get(f"{BASE}/forecast", headers=a.read)
    assert first.status_code == 200
    assert (
        a.client.post(
            f"{BASE}/samples", json=columns_body(history.iloc[13 * 24 :]), headers=a.write
        ).status_code
        == 200
    )
    stale = a.client.get(f"{BASE}/forecast", headers=a.read).get_json()
    assert stale["stale"] is True and "budget" in stale["stale_reason"]
    fresh = stale
    while fresh["stale"] and time.monotonic() < deadline:
        time.sleep(0.3)
        fresh = a.client.get(f"{BASE}/forecast", headers=a.read).get_json()
    assert fresh["stale"] is False and fresh["stale_reason"] is None
