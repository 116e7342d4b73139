"""A real Prometheus scraping a real ``capacity serve`` (2 workers x 4 threads) every 2 s for a minute while eight
readers load it: at least 99% of the scrapes are up, and the per-series gauges reach Prometheus.

Needs the ``prometheus`` binary (Debian package ``prometheus``; ``.ci/run`` installs it). Latency with and without
scraping is a timing claim, measured by ``capacity bench api --scrape-interval 2s``, not asserted here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests

from capacity.events.calendar import EventOccurrence
from capacity.forecast.types import ForecastSpec
from capacity.services.forecasting import forecast_stored
from capacity.store import Store
from capacity.testing.load import ReadLoad, summarize
from capacity.testing.prometheus import PrometheusServer, prometheus_binary
from capacity.testing.serve import ServeProcess
from tests.support.live import seed_fleet

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        prometheus_binary() is None,
        reason="the prometheus binary is not installed (Debian: apt-get install prometheus)",
    ),
]

#: How long Prometheus scrapes while the readers run, and how often.
SCRAPE_FOR_S = 60.0
INTERVAL_S = 2.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServeProcess, str]]:
    """``capacity serve`` on a demo-like database: three series with thresholds, forecasts and an upcoming event."""
    tmp = tmp_path_factory.mktemp("prometheus-scrape")
    db = tmp / "demo.db"
    token = seed_fleet(db, n=2, days=10)
    store = Store.open(db)
    store.series.update_series("svc0", "cpu", threshold=50.0)
    store.events.add_events(
        [EventOccurrence("Sale", pd.Timestamp("2024-01-12", tz="UTC"), pd.Timestamp("2024-01-13", tz="UTC"))],
        source="test",
    )
    keys = [(s.service, s.metric) for s in store.series.list_series()]
    assert all(o.ok for o in forecast_stored(store, keys, ForecastSpec(horizon=3 * 24)))
    store.close()
    served = ServeProcess(db, tmp / "server.log", workers=2, threads=4).start(timeout=90)
    try:
        yield served, token
    finally:
        served.stop()


def test_prometheus_scrapes_every_two_seconds_under_a_read_load(
    server: tuple[ServeProcess, str], tmp_path: Path
) -> None:
    served, token = server
    auth = {"Authorization": f"Bearer {token}"}
    paths = [
        "/api/v1/series/svc0/cpu/forecast",
        "/api/v1/series/checkout/rps/forecast",
        "/api/v1/series/svc1/cpu/accuracy",
        "/api/v1/series/svc0/cpu/points",
        "/api/v1/series",
        "/api/v1/risks",
        "/api/v1/events/Sale/report?format=json",
        "/healthz",
    ]
    for (
        path
    ) in paths:  # a report's first computation takes tens of seconds on a busy machine: not under the load
        assert requests.get(served.url + path, headers=auth, timeout=600).status_code == 200, path
    # A failure is a 5xx or no answer; the generous timeout keeps a busy machine's slow answer from counting as one.
    load = ReadLoad(served.url, paths, auth, threads=8, rate=5.0, timeout=120.0).start()
    prometheus = PrometheusServer(tmp_path / "prometheus", f"127.0.0.1:{served.port}", interval_s=INTERVAL_S)
    try:
        prometheus.start()
        prometheus.wait_first_scrape()
        started = time.monotonic()
        time.sleep(SCRAPE_FOR_S)
        up, total = prometheus.scrapes(time.monotonic() - started)
        gauges = prometheus.query("capacity_breach_probability")
        targets = prometheus.target_health()
    finally:
        prometheus.stop()
        load.stop()
    assert total >= 0.8 * SCRAPE_FOR_S / INTERVAL_S, (up, total, prometheus.log()[-2000:])
    assert up >= 0.99 * total, (up, total, targets)
    assert {(g["metric"]["service"], g["metric"]["metric"]) for g in gauges} >= {
        ("svc0", "cpu"),
        ("checkout", "rps"),
    }
    reads = summarize(load.records())
    assert reads["requests"] > 0 and reads["failures"] == 0, reads
