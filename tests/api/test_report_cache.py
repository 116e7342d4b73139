"""Event reports and the ranked risks are cached by the fleet's data version: a repeated read is served from memory,
and anything the answer rests on (samples, settings, forecasts, the calendar, the ledger for reports) makes the next
read compute it again. Concurrent first reads of one entry compute it once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

import api.routes.reports as reports_route
from capacity.events.calendar import EventOccurrence
from capacity.services.accuracy import score_series
from capacity.services.versioned import VersionedCache
from tests.support.api import Api, columns_body, make_api
from tests.support.data import hourly_history

CPU = "/api/v1/series/checkout/cpu"
REPORT = "/api/v1/events/Sale/report?format=json"


@pytest.fixture
def counted(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Api, list[str]]]:
    """A served series with a forecast and an upcoming event; every real report computation is recorded."""
    a = make_api(tmp_path)
    history = hourly_history("checkout", "cpu", days=16)
    a.store.series.ingest(history.iloc[: 14 * 24])
    a.store.series.update_series("checkout", "cpu", threshold=80.0)
    a.store.events.add_events(
        [EventOccurrence("Sale", pd.Timestamp("2024-01-16", tz="UTC"), pd.Timestamp("2024-01-17", tz="UTC"))],
        source="test",
    )
    assert a.client.get(f"{CPU}/forecast", headers=a.read).status_code == 200
    calls: list[str] = []
    real = reports_route.readiness_report

    def recording(store: Any, name: str, *args: Any, **kw: Any) -> Any:
        calls.append(name)
        return real(store, name, *args, **kw)

    monkeypatch.setattr(reports_route, "readiness_report", recording)
    yield a, calls
    a.store.close()


def _threshold(a: Api) -> float:
    response = a.client.get(REPORT, headers=a.read)
    assert response.status_code == 200
    (risk,) = json.loads(response.get_data(as_text=True))["risks"]
    return float(risk["threshold"])


def test_a_repeated_report_is_served_from_the_cache_until_its_inputs_change(
    counted: tuple[Api, list[str]],
) -> None:
    a, calls = counted
    assert _threshold(a) == 80.0 and _threshold(a) == 80.0
    assert len(calls) == 1  # the second read was the cached report
    assert a.client.patch(CPU, json={"threshold": 90.0}, headers=a.write).status_code == 200
    assert _threshold(a) == 90.0 and len(calls) == 2  # a setting changed: computed again
    more = hourly_history("checkout", "cpu", days=16).iloc[14 * 24 : 14 * 24 + 5]
    assert a.client.post(f"{CPU}/samples", json=columns_body(more), headers=a.write).status_code == 200
    _threshold(a)
    assert len(calls) == 3  # new samples (and their ledger scores): computed again
    a.store.events.add_events(
        [
            EventOccurrence(
                "Launch", pd.Timestamp("2024-02-01", tz="UTC"), pd.Timestamp("2024-02-02", tz="UTC")
            )
        ],
        source="test",
    )
    _threshold(a)
    assert len(calls) == 4  # the calendar changed
    _threshold(a)
    assert len(calls) == 4


def test_the_risk_version_ignores_the_ledger_the_report_version_does_not(
    counted: tuple[Api, list[str]],
) -> None:
    a, _ = counted
    fleet = a.store.fleet
    risks, report = fleet.version(ledger=False), fleet.version()
    more = hourly_history("checkout", "cpu", days=16).iloc[14 * 24 :]
    a.store.series.ingest(more)  # samples change both
    assert fleet.version(ledger=False) != risks and fleet.version() != report
    risks, report = fleet.version(ledger=False), fleet.version()
    assert score_series(a.store, "checkout", "cpu") == 1  # only the ledger changes
    assert fleet.version(ledger=False) == risks and fleet.version() != report


def test_concurrent_first_reads_of_one_entry_compute_it_once() -> None:
    cache: VersionedCache[int] = VersionedCache(4)
    computed: list[int] = []
    gate = threading.Event()

    def slow() -> int:
        gate.wait(5)
        computed.append(1)
        return 42

    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("k", "v1", slow))) for _ in range(6)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(10)
    assert results == [42] * 6 and len(computed) == 1
    assert cache.get("k", "v2", lambda: 7) == 7  # a new version is a new entry
    assert cache.get("other", "v1", lambda: 8) == 8  # other keys are never held up by "k"
