"""A real Prometheus server on loopback, backfilled with ``promtool``, ingested through ``capacity ingest prometheus``.

Needs the ``prometheus`` and ``promtool`` binaries (Debian package ``prometheus``; ``.ci/run`` installs it).
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from capacity.sources.prometheus import PrometheusClient
from capacity.store import Store
from capacity.testing.net import free_port

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(
    PROMETHEUS is None or PROMTOOL is None,
    reason="the prometheus and promtool binaries are not installed (Debian: apt-get install prometheus)",
)

START = pd.Timestamp("2026-01-01", tz="UTC")
HOURS = 24 * 40
SERVICES = ("api", "checkout", "search")
CAPACITY = [sys.executable, "-m", "capacity.cli"]


def written_value(j: int, i: int) -> float:
    """The value written for service ``j`` at hour ``i``: a daily cycle with a per-service level."""
    return round(40 + 15 * math.sin(2 * math.pi * i / 24) + 5 * j + (i % 7) * 0.25, 3)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Prometheus server on a free loopback port over a TSDB backfilled with 40 days of 3 hourly series."""
    assert PROMETHEUS is not None and PROMTOOL is not None
    tmp = tmp_path_factory.mktemp("prometheus")
    lines = ["# HELP cpu_busy_percent CPU busy.", "# TYPE cpu_busy_percent gauge"]
    for j, service in enumerate(SERVICES):
        for i in range(HOURS):
            ts = int(START.timestamp()) + i * 3600
            lines.append(
                f'cpu_busy_percent{{service="{service}",instance="{service}-0"}} {written_value(j, i)} {ts}'
            )
    lines.append("# EOF")
    (tmp / "history.om").write_text("\n".join(lines) + "\n")
    data = tmp / "data"
    subprocess.run(
        [
            PROMTOOL,
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=2400h",
            str(tmp / "history.om"),
            str(data),
        ],
        check=True,
        capture_output=True,
    )
    (tmp / "prometheus.yml").write_text("global:\n  scrape_interval: 1h\n")
    port = free_port()
    log = (tmp / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=100y",  # keep the backfilled history however old it is
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"prometheus did not start: {(tmp / 'prometheus.log').read_text()[-2000:]}"
                )
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def ingest(
    url: str, db: Path, *extra: str, query: str = "cpu_busy_percent"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *CAPACITY,
            "ingest",
            "prometheus",
            "--url",
            url,
            "--query",
            query,
            "--step",
            "1h",
            "--service-label",
            "service",
            "--metric",
            "cpu",
            "--db",
            str(db),
            "--create",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_ingest_stores_exactly_what_was_written(prometheus: str, tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    end = START + pd.Timedelta(hours=HOURS - 1)
    half = START + pd.Timedelta(hours=HOURS // 2)
    first = ingest(prometheus, db, "--start", START.isoformat(), "--end", half.isoformat())
    assert first.returncode == 0, first.stderr
    assert f"pulled 3 series, {3 * (HOURS // 2 + 1):,} samples" in first.stdout
    rest = ingest(
        prometheus,
        db,
        "--since-last",
        "--start",
        "2025-01-01",
        "--end",
        (end + pd.Timedelta(hours=6)).isoformat(),
    )
    assert rest.returncode == 0, rest.stderr
    store = Store.open(db)
    try:
        assert sorted(s.service for s in store.series.list_series()) == list(SERVICES)
        for j, service in enumerate(SERVICES):
            stored = store.series.load_history(service, "cpu")
            assert stored.index.equals(pd.date_range(START, end, freq="h"))
            assert np.array_equal(stored.to_numpy(), [written_value(j, i) for i in range(HOURS)])
    finally:
        store.close()


def test_small_chunks_against_real_prometheus_give_the_same_series(prometheus: str) -> None:
    start, end = START.timestamp(), START.timestamp() + (HOURS - 1) * 3600
    with PrometheusClient(prometheus) as whole, PrometheusClient(prometheus, max_points=97) as chunked:
        one, one_stats = whole.query_range("cpu_busy_percent", start, end, 3600)
        many, many_stats = chunked.query_range("cpu_busy_percent", start, end, 3600)
    assert one_stats.requests == 1 and many_stats.requests == math.ceil(HOURS / 97)
    by_service = {s.labels["service"]: s for s in one}
    assert len(many) == 3
    for s in many:
        assert np.array_equal(s.ts, by_service[s.labels["service"]].ts)
        assert np.array_equal(s.values, by_service[s.labels["service"]].values)


def test_bad_query_shows_prometheus_parse_error(prometheus: str, tmp_path: Path) -> None:
    bad = ingest(
        prometheus, tmp_path / "x.db", "--start", START.isoformat(), query="rate(cpu_busy_percent[5m"
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: Prometheus rejected the query: bad_data:")
    assert "parse error" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_empty_result_stores_nothing(prometheus: str, tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    empty = ingest(prometheus, db, "--start", "2025-01-01", "--end", "2025-01-05")
    assert empty.returncode == 2 and "returned no samples between 2025-01-01" in empty.stderr
    store = Store.open(db)
    try:
        assert store.series.list_series() == []
    finally:
        store.close()
