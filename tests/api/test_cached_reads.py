"""Reads that used to recompute per request: the forecast chart is drawn once per forecast and data version (ETag,
304 without drawing), event reports and charts are computed once per server and shared by its workers, and
``/points`` reads a bounded default window of history."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from flask import Flask

import api.routes.forecasts as forecasts_route
import api.routes.reports as reports_route
from api import create_app
from api import shared_dir as runtime
from capacity.events.calendar import EventOccurrence
from capacity.forecast.types import ForecastSpec
from capacity.services.forecasting import forecast_stored
from capacity.services.versioned import VersionedCache
from tests.support.api import Api, assert_problem, columns_body, make_api
from tests.support.data import hourly_history

BASE = "/api/v1/series/checkout/cpu"
PNG = f"{BASE}/forecast.png"


def _counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    """Record each real call of ``module.name`` (the real function still runs)."""
    calls: list[int] = []
    real = getattr(module, name)

    def counted(*args: Any, **kw: Any) -> Any:
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(module, name, counted)
    return calls


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Api]:
    """A series with 16 days of history (the last two held back), a threshold and a stored forecast."""
    a = make_api(tmp_path)
    a.store.series.ingest(hourly_history("checkout", "cpu", days=16).iloc[: 14 * 24])
    a.store.series.update_series("checkout", "cpu", threshold=80.0)
    assert a.client.get(f"{BASE}/forecast", headers=a.read).status_code == 200
    yield a
    a.store.close()


def test_the_chart_is_drawn_once_and_a_matching_etag_gets_304(
    served: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn = _counting(monkeypatch, forecasts_route, "forecast_chart")
    first = served.client.get(PNG, headers=served.read)
    assert (
        first.status_code == 200 and first.mimetype == "image/png" and first.data[:8] == b"\x89PNG\r\n\x1a\n"
    )
    etag = first.headers["ETag"]
    assert etag.startswith('"png-') and first.headers["Last-Modified"].endswith(" GMT")
    again = served.client.get(PNG, headers=served.read)
    assert again.data == first.data and again.headers["ETag"] == etag
    not_modified = served.client.get(PNG, headers={**served.read, "If-None-Match": etag})
    assert (
        not_modified.status_code == 304 and not_modified.data == b"" and not_modified.headers["ETag"] == etag
    )
    assert len(drawn) == 1  # one drawing for three reads
    other = served.client.get(f"{PNG}?horizon=2d", headers={**served.read, "If-None-Match": etag})
    assert other.status_code == 200 and other.headers["ETag"] != etag  # another horizon is another chart
    assert len(drawn) == 2


def test_new_samples_or_a_new_forecast_change_the_chart(served: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = _counting(monkeypatch, forecasts_route, "forecast_chart")
    etag = served.client.get(PNG, headers=served.read).headers["ETag"]
    more = hourly_history("checkout", "cpu", days=16).iloc[14 * 24 : 14 * 24 + 3]
    assert (
        served.client.post(f"{BASE}/samples", json=columns_body(more), headers=served.write).status_code
        == 200
    )
    after_samples = served.client.get(PNG, headers={**served.read, "If-None-Match": etag})
    assert after_samples.status_code == 200 and after_samples.headers["ETag"] != etag
    assert len(drawn) == 2
    etag = after_samples.headers["ETag"]
    forecast_stored(served.store, [("checkout", "cpu")], ForecastSpec(horizon=24))  # a new run, same data
    served.app.extensions["capacity"].invalidate_series("checkout", "cpu")  # as the job worker's refresh does
    after_forecast = served.client.get(PNG, headers={**served.read, "If-None-Match": etag})
    assert after_forecast.status_code == 200 and after_forecast.headers["ETag"] != etag
    assert int(after_forecast.headers["X-Forecast-Run"]) > int(after_samples.headers["X-Forecast-Run"])
    assert len(drawn) == 3


def test_workers_of_one_server_share_the_report_and_the_chart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two apps on one database and one shared directory are two gunicorn workers of one `capacity serve`.
    (tmp_path / "runtime").mkdir()
    monkeypatch.setenv(runtime.RUNTIME_ENV, str(tmp_path / "runtime"))
    a = make_api(tmp_path)
    a.store.series.ingest(hourly_history("checkout", "cpu", days=14))
    a.store.series.update_series("checkout", "cpu", threshold=80.0)
    a.store.events.add_events(
        [EventOccurrence("Sale", pd.Timestamp("2024-01-16", tz="UTC"), pd.Timestamp("2024-01-17", tz="UTC"))],
        source="test",
    )
    assert a.client.get(f"{BASE}/forecast", headers=a.read).status_code == 200
    second: Flask = create_app({"db": str(tmp_path / "api.db"), "worker": False, "forecast_budget_s": 120.0})
    reports = _counting(monkeypatch, reports_route, "readiness_report")
    drawn = _counting(monkeypatch, forecasts_route, "forecast_chart")
    try:
        html = a.client.get("/api/v1/events/Sale/report?format=html", headers=a.read)
        assert html.status_code == 200 and "<html" in html.get_data(as_text=True).lower()
        json_ = second.test_client().get("/api/v1/events/Sale/report?format=json", headers=a.read)
        assert json_.status_code == 200 and json_.get_json()["risks"]
        assert len(reports) == 1  # the second worker read what the first computed, in the other format too
        png = a.client.get(PNG, headers=a.read)
        assert second.test_client().get(PNG, headers=a.read).data == png.data
        assert len(drawn) == 1
        assert list((tmp_path / "runtime" / "answers").glob("*/*.bin"))
    finally:
        second.extensions["capacity"].store.close()
        a.store.close()


def test_concurrent_first_reads_in_two_processes_compute_once(tmp_path: Path) -> None:
    # Two caches on one directory stand for two worker processes: neither shares the other's memory.
    caches = [VersionedCache[bytes](4, tmp_path), VersionedCache[bytes](4, tmp_path)]
    started, computed = threading.Event(), []

    def slow() -> bytes:
        computed.append(1)
        started.wait(5)
        return b"answer"

    results: list[bytes] = []
    threads = [
        threading.Thread(target=lambda c=c: results.append(c.shared("k", "v1", slow)))
        for c in caches  # type: ignore[misc]
    ]
    for t in threads:
        t.start()
    started.set()
    for t in threads:
        t.join(10)
    assert results == [b"answer", b"answer"] and computed == [1]
    caches[0].shared("k", "v2", lambda: b"newer")
    assert [p.read_bytes() for p in tmp_path.glob("*.bin")] == [b"newer"]  # older versions are removed
    assert caches[1].shared("k", "v2", slow) == b"newer" and computed == [1]


def test_points_default_to_fourteen_days_of_history_and_from_asks_for_more(tmp_path: Path) -> None:
    a = make_api(tmp_path)
    a.store.series.ingest(hourly_history("checkout", "cpu", days=28))
    forecast_stored(a.store, [("checkout", "cpu")], ForecastSpec(horizon=48))

    def actuals(query: str = "") -> list[str]:
        points = a.client.get(f"{BASE}/points{query}", headers=a.read).get_json()
        assert len([p for p in points if p["forecast"] is not None]) == 48  # the stored forecast, whole
        return [p["ts"] for p in points if p["actual"] is not None]

    default = actuals()
    assert len(default) == 14 * 24 and default[-1] == "2024-01-28T23:00:00Z"
    assert default[0] == "2024-01-15T00:00:00Z"
    assert len(actuals("?history=2d")) == 48
    start = int(pd.Timestamp("2024-01-01", tz="UTC").timestamp() * 1000)
    assert len(actuals(f"?from={start}")) == 28 * 24  # from asks for the whole history
    end = int(pd.Timestamp("2024-01-10T23:00:00Z").timestamp() * 1000)
    assert a.client.get(f"{BASE}/points?to={end}&history=1d", headers=a.read).get_json()[0]["ts"] == (
        "2024-01-10T00:00:00Z"
    )  # without from, the window ends at to
    assert_problem(a.client.get(f"{BASE}/points?history=400d", headers=a.read), 422, "history")
    assert_problem(a.client.get(f"{BASE}/points?history=soon", headers=a.read), 422, "history")
    spec = a.client.get("/openapi.json").get_json()
    (history,) = [
        p
        for p in spec["paths"]["/api/v1/series/{service}/{metric}/points"]["get"]["parameters"]
        if p["name"] == "history"
    ]
    assert history["schema"]["default"] == "14d"
    a.store.close()


def test_series_lists_show_an_ingest_at_once(served: Api) -> None:
    def listed() -> tuple[int, str, float]:
        (row,) = served.client.get("/api/v1/series", headers=served.read).get_json()["series"]
        return row["samples"], row["last_ts"], row["last_value"]

    assert listed()[0] == 14 * 24
    more = hourly_history("checkout", "cpu", days=16).iloc[14 * 24 : 14 * 24 + 3]
    assert (
        served.client.post(f"{BASE}/samples", json=columns_body(more), headers=served.write).status_code
        == 200
    )
    assert listed() == (14 * 24 + 3, "2024-01-15T02:00:00Z", round(float(more["value"].iloc[-1]), 4))
    services = served.client.get("/api/v1/services", headers=served.read).get_json()["services"]
    assert services == [{"service": "checkout", "metrics": ["cpu"], "series": 1}]


@pytest.mark.parametrize("shared", [False, True], ids=["one-process", "shared-directory"])
def test_two_entries_filled_by_one_computation_are_computed_once(tmp_path: Path, shared: bool) -> None:
    # The HTML and JSON report asked for at the same time: one computation renders both.
    cache = VersionedCache[bytes](4, tmp_path if shared else None)
    computed: list[str] = []

    def compute(fmt: str) -> bytes:
        computed.append(fmt)
        cache.put_shared(("json" if fmt == "html" else "html", "sale"), "v1", b"other")
        return b"asked"

    barrier = threading.Barrier(2)
    results: dict[str, bytes] = {}

    def read(fmt: str) -> None:
        barrier.wait(5)
        results[fmt] = cache.shared((fmt, "sale"), "v1", lambda: compute(fmt), group="sale")

    threads = [threading.Thread(target=read, args=(fmt,)) for fmt in ("html", "json")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(computed) == 1 and sorted(results.values()) == [b"asked", b"other"]
