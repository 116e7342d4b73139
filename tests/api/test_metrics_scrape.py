"""``/metrics`` from stored state: a real scrape passes ``promtool check metrics``, shows the gauges written when the
forecasts and actuals arrived, and computes nothing itself (a changed threshold shows only once a background pass
has refreshed the stored gauges)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.serving.metrics import SERIES_GAUGES
from capacity.services.gauges import catch_up
from tests.support.api import Api, columns_body, make_api
from tests.support.data import hourly_history

PROMTOOL = shutil.which("promtool")
CPU = "/api/v1/series/checkout/cpu"


def gauge(text: str, name: str, service: str = "checkout", metric: str = "cpu") -> float | None:
    """The value of one per-series gauge in a scrape (None when the line is absent)."""
    prefix = f'{name}{{service="{service}",metric="{metric}"'
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(lines[0].rsplit(" ", 1)[1]) if lines else None


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """Two series forecast through the API (the forecasts write the gauges), then two days of actuals pushed."""
    a = make_api(tmp_path_factory.mktemp("metrics"))
    cpu = hourly_history("checkout", "cpu", days=16)
    rps = hourly_history("web", "rps", days=16, seed=4)
    a.store.series.ingest(cpu.iloc[: 14 * 24])
    a.store.series.ingest(rps.iloc[: 14 * 24])
    a.store.series.update_series("checkout", "cpu", threshold=52.0)  # the daily peak crosses it
    a.store.series.update_series("web", "rps", threshold=500.0)
    for path in (CPU, "/api/v1/series/web/rps"):
        assert a.client.get(f"{path}/forecast", headers=a.read).status_code == 200
    for path, frame in ((CPU, cpu), ("/api/v1/series/web/rps", rps)):
        pushed = a.client.post(f"{path}/samples", json=columns_body(frame.iloc[14 * 24 :]), headers=a.write)
        assert pushed.status_code == 200
    a.client.get("/api/v1/services", headers=a.read)
    yield a
    a.store.close()


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian: apt-get install prometheus)")
def test_a_real_scrape_passes_promtool(served: Api) -> None:
    assert PROMTOOL is not None
    text = served.client.get("/metrics").get_data(as_text=True)
    checked = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == checked.stderr.strip() == ""
    for name, *_ in SERIES_GAUGES:
        assert f"# TYPE {name} gauge" in text
    assert "# TYPE capacity_http_requests_total counter" in text


def test_the_gauges_show_what_was_stored_with_the_forecasts_and_the_actuals(served: Api) -> None:
    text = served.client.get("/metrics").get_data(as_text=True)
    # two weeks of history whose every day reached the threshold: the recalibrated paths part (0.82 on this seed)
    # shrunk towards that record, 0.99
    assert 0.9 < (gauge(text, "capacity_breach_probability") or 0) <= 1.0
    assert (
        gauge(text, "capacity_breach_probability", "web", "rps") or 0
    ) < 0.01  # a smooth model: near 0, not 0
    assert (
        gauge(text, "capacity_time_to_breach_seconds") == 0.0
    )  # its first likely breach is in the past by now
    assert gauge(text, "capacity_time_to_breach_seconds", "web", "rps") is None  # none likely: no line
    assert (
        0
        < (gauge(text, "capacity_headroom_ratio") or 0)
        < 1
        < (gauge(text, "capacity_headroom_ratio", "web", "rps") or 0)
    )
    accuracy = served.client.get(f"{CPU}/accuracy", headers=served.read).get_json()
    assert gauge(text, "capacity_forecast_live_mase_ratio") == pytest.approx(
        accuracy["live"]["mase"], abs=1e-6
    )
    assert gauge(text, "capacity_forecast_scored_steps") == accuracy["live"]["scored_steps"] == 48
    assert gauge(text, "capacity_forecast_drift") == 0.0
    assert gauge(text, "capacity_forecast_stale") == 1.0  # two days of data arrived after the forecast
    assert (gauge(text, "capacity_forecast_age_seconds") or -1) >= 0
    coverage = [
        line for line in text.splitlines() if line.startswith("capacity_forecast_interval_coverage_ratio{")
    ]
    assert {line.split('interval="')[1][:2] for line in coverage} == {"80", "95"}


def test_a_scrape_computes_nothing_a_background_pass_refreshes_the_stored_gauges(served: Api) -> None:
    before = served.client.get("/metrics").get_data(as_text=True)
    stored = gauge(before, "capacity_breach_probability")
    assert stored is not None and stored > 0.5
    raised = served.client.patch(CPU, json={"threshold": 99.0}, headers=served.write)
    assert raised.status_code == 200
    unchanged = served.client.get("/metrics").get_data(as_text=True)
    assert gauge(unchanged, "capacity_breach_probability") == stored  # as stored: not recomputed
    assert catch_up(served.store) >= 1  # what a server's job worker runs while its queue is empty
    after = served.client.get("/metrics").get_data(as_text=True)
    assert (gauge(after, "capacity_breach_probability") or 0) < 0.01
    assert (gauge(after, "capacity_headroom_ratio") or 0) > 1
    assert served.client.patch(CPU, json={"threshold": 52.0}, headers=served.write).status_code == 200
    catch_up(served.store)


def test_bench_metrics_scrapes_a_real_server_on_tiny_input(tmp_path: Path) -> None:
    out = tmp_path / "metrics.json"
    cmd = [
        str(Path(sys.executable).with_name("capacity")),
        "bench", "metrics", "--series", "6", "--scrapes", "2", "--workers", "1", "--json", str(out),
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "server CPU per scrape" in result.stdout
    payload = json.loads(out.read_text())
    assert payload["series"] == 6 and payload["http"]["n"] == 2
    # every series shows at least its probability, headroom, live MASE, backtest MASE, two coverages, steps, drift,
    # age and staleness
    assert payload["sample_lines"] >= 6 * 10
