"""The readiness report page and the /docs page, served by the API under gunicorn, opened in a real headless Chromium.

The browser is driven over the DevTools protocol (websocket on loopback): it sends the bearer token as an extra
header, loads the page, and the test checks that every chart image decoded (``naturalWidth > 0``). A full-page
screenshot is kept in ``.artifacts/readiness-report.png``.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pandas as pd
import pytest

from capacity.events.calendar import make_occurrence
from capacity.forecast.types import ForecastSpec
from capacity.services.forecasting import forecast_stored
from capacity.services.plans import PlanRequest, make_plans
from capacity.store import Store
from tests.support.browser import CHROMIUM, chromium, evaluate
from tests.support.data import ROOT, hourly_history
from tests.support.live import start_server

ARTIFACTS = ROOT / ".artifacts"


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run does)"
)
def test_report_page_loads_every_chart_in_chromium(tmp_path: Path) -> None:
    db = tmp_path / "browser.db"
    store = Store.open(db)
    store.series.ingest(
        pd.concat(
            [hourly_history("checkout", "cpu", days=14), hourly_history("search", "cpu", days=14, seed=4)]
        )
    )
    store.series.update_series(
        "checkout", "cpu", threshold=50.0
    )  # the daily peak (~55%) crosses it: flagged, charted
    store.series.update_series("search", "cpu", threshold=52.0)
    store.events.add_events([make_occurrence("Black Friday", "2024-01-18", "2024-01-19", 1.3, 1.5)])
    forecast_stored(store, [("checkout", "cpu"), ("search", "cpu")], ForecastSpec(horizon=24 * 7))
    _, token = store.tokens.create_token(["read"], "browser")
    store.close()

    server = start_server(db, tmp_path / "server.log", workers=1)
    try:
        url = f"{server.url}/api/v1/events/Black%20Friday/report"
        with chromium(tmp_path / "profile") as page:
            page.call("Network.enable")
            page.call("Network.setExtraHTTPHeaders", headers={"Authorization": f"Bearer {token}"})
            page.call("Page.enable")
            page.call("Page.navigate", url=url)
            page.wait_event("Page.loadEventFired", timeout=120)
            state = page.call(
                "Runtime.evaluate",
                expression=(
                    "JSON.stringify({title: document.querySelector('h1') && document.querySelector('h1').textContent,"
                    " images: Array.from(document.images).map(i => ({ok: i.complete && i.naturalWidth > 0,"
                    " w: i.naturalWidth, h: i.naturalHeight, alt: i.alt}))})"
                ),
                returnByValue=True,
            )
            report = json.loads(state["result"]["value"])
            height = page.call(
                "Runtime.evaluate", expression="document.documentElement.scrollHeight", returnByValue=True
            )
            page.call(
                "Emulation.setDeviceMetricsOverride",
                width=1280,
                height=min(int(height["result"]["value"]), 12000),
                deviceScaleFactor=1,
                mobile=False,
            )
            shot = page.call("Page.captureScreenshot", format="png")
    finally:
        server.stop()
    assert report["title"] == "Peak readiness: Black Friday"
    images = report["images"]
    assert len(images) >= 1, report
    assert all(img["ok"] and img["w"] > 300 and img["h"] > 200 for img in images), images
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / "readiness-report.png"
    target.write_bytes(base64.b64decode(shot["data"]))
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and target.stat().st_size > 20_000


#: Every host name but loopback resolves to nothing: the page gets no CDN, as on a machine without internet.
OFFLINE = ("--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", "--disable-component-update")


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run does)"
)
def test_docs_page_lists_the_operations_with_the_network_blocked(tmp_path: Path) -> None:
    db = tmp_path / "docs.db"
    Store.open(db).close()
    server = start_server(db, tmp_path / "server.log", workers=1)
    try:
        with chromium(tmp_path / "profile", *OFFLINE) as page:
            page.call("Network.enable")
            page.call("Page.enable")
            page.call("Page.navigate", url=f"{server.url}/docs")
            page.wait_event("Page.loadEventFired", timeout=120)
            count = "document.querySelectorAll('.opblock').length"
            deadline = time.monotonic() + 120
            operations = 0
            while (
                time.monotonic() < deadline and operations < 20
            ):  # Swagger UI renders after fetching the spec
                operations = page.call("Runtime.evaluate", expression=count, returnByValue=True)["result"][
                    "value"
                ]
                time.sleep(0.5)
            state = page.call(
                "Runtime.evaluate",
                expression=(
                    "JSON.stringify({title: (document.querySelector('.info .title') || {}).textContent,"
                    " paths: Array.from(document.querySelectorAll('.opblock-summary-path'))"
                    ".map(e => e.textContent)})"
                ),
                returnByValue=True,
            )
            # The blocking works: the CDN APIFlask would use is out of reach from this browser.
            cdn = page.call(
                "Runtime.evaluate",
                expression=(
                    "fetch('https://cdn.jsdelivr.net/npm/swagger-ui-dist/swagger-ui.css')"
                    ".then(() => 'reached', () => 'blocked')"
                ),
                awaitPromise=True,
                returnByValue=True,
            )
            shot = page.call("Page.captureScreenshot", format="png")
            requested = [
                e["params"]["request"]["url"]
                for e in page.events
                if e.get("method") == "Network.requestWillBeSent"
            ]
    finally:
        server.stop()
    docs = json.loads(state["result"]["value"])
    assert cdn["result"]["value"] == "blocked"
    assert operations >= 20 and "capacity-planner API" in (docs["title"] or ""), docs
    assert any(
        p.replace("\u200b", "") == "/api/v1/series/{service}/{metric}/forecast" for p in docs["paths"]
    ), docs
    loaded = [u for u in requested if not u.startswith("https://cdn.jsdelivr.net")]
    assert all(u.startswith((server.url, "data:")) for u in loaded), loaded
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / "docs-offline.png"
    target.write_bytes(base64.b64decode(shot["data"]))
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run does)"
)
def test_report_with_a_plan_section_fits_a_1280px_window(tmp_path: Path) -> None:
    """The plan section of the report as a reviewer opens it: the page does not scroll sideways at 1280 px (long
    names scroll inside the table), and the planned peaks carry their unit and the daily aggregation they were
    planned on, next to a risk table that states hourly peaks."""
    long_name = "checkout-payments-authorization-gateway-eu-west-1-primary"
    db = tmp_path / "plan-page.db"
    store = Store.open(db)
    store.series.ingest(
        pd.concat(
            [
                hourly_history("recommendations", "memory", days=70),
                hourly_history(long_name, "cpu", days=70, seed=4),
            ]
        )
    )
    store.series.update_series("recommendations", "memory", threshold=50.0, agg="max")
    store.series.update_series(long_name, "cpu", threshold=52.0, agg="max")
    store.events.add_events([make_occurrence("Black Friday", "2024-03-12", "2024-03-13", 1.3, 1.5)])
    forecast_stored(store, [("recommendations", "memory"), (long_name, "cpu")], ForecastSpec(horizon=24 * 7))
    outcomes = make_plans(store, PlanRequest(quarter="2024Q2"))
    assert all(o.plan_id is not None for o in outcomes), [o.error for o in outcomes]
    _, token = store.tokens.create_token(["read"], "browser")
    store.close()

    server = start_server(db, tmp_path / "server.log", workers=1)
    try:
        with chromium(tmp_path / "profile") as page:
            page.call("Network.enable")
            page.call("Network.setExtraHTTPHeaders", headers={"Authorization": f"Bearer {token}"})
            page.call("Page.enable")
            page.call("Page.navigate", url=f"{server.url}/api/v1/events/Black%20Friday/report")
            page.wait_event("Page.loadEventFired", timeout=120)
            width = evaluate(page, "document.documentElement.scrollWidth")
            window = evaluate(page, "window.innerWidth")
            viewport = evaluate(page, "document.documentElement.clientWidth")  # less the scroll bar
            rows = json.loads(
                evaluate(
                    page,
                    "JSON.stringify(Array.from(document.querySelectorAll('h2')).filter(h => h.textContent =="
                    " 'Capacity plan').map(h => Array.from(h.nextElementSibling.querySelectorAll('tbody tr'))"
                    ".map(r => Array.from(r.cells).map(c => c.textContent)))[0])",
                )
            )
    finally:
        server.stop()
    assert window == 1280 and width <= viewport, (width, viewport)
    by_metric = {row[1]: row for row in rows}
    assert set(by_metric) == {"memory", "cpu"}
    peak = by_metric["memory"][3]  # "55.1% / 57.0% (daily max)"
    assert peak.count("%") == 2 and peak.endswith("(daily max)"), peak
