"""The readiness report page and the /docs page, served by the API under gunicorn, opened in a real headless Chromium.

The browser is driven over the DevTools protocol (websocket on loopback): it sends the bearer token as an extra
header, loads the page, and the test checks that every chart image decoded (``naturalWidth > 0``). A full-page
screenshot is kept in ``.artifacts/readiness-report.png``.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from capacity.events.calendar import make_occurrence
from capacity.forecast.types import ForecastSpec
from capacity.services.forecasting import forecast_stored
from capacity.store import Store
from tests.support.data import ROOT, hourly_history
from tests.support.live import start_server

ARTIFACTS = ROOT / ".artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class DevTools:
    """A minimal DevTools protocol client over one page's websocket."""

    def __init__(self, ws_url: str) -> None:
        import websocket  # websocket-client, installed with locust

        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a command and wait for its result (events that arrive meanwhile are kept)."""
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message.get("result", {})  # type: ignore[no-any-return]
            self.events.append(message)

    def wait_event(self, method: str, timeout: float = 60) -> dict[str, Any]:
        """Wait for an event (or find it among those already received)."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.get("method") == method:
                    self.events.remove(event)
                    return event
            if time.monotonic() > deadline:
                raise AssertionError(f"no {method} within {timeout}s")
            self.events.append(json.loads(self.ws.recv()))

    def close(self) -> None:
        """Close the websocket."""
        self.ws.close()


@contextmanager
def chromium(profile: Path, *extra: str) -> Iterator[DevTools]:
    """A headless Chromium on loopback with a throwaway profile (and ``extra`` flags); yields a DevTools client on
    its page."""
    assert CHROMIUM is not None
    proc = subprocess.Popen(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--disable-extensions",
            f"--user-data-dir={profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "--window-size=1280,900",
            *extra,
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = None
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None, "chromium exited at start"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.1)
        port = int(port_file.read_text().splitlines()[0])
        pages = [
            t
            for t in requests.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
            if t["type"] == "page"
        ]
        client = DevTools(pages[0]["webSocketDebuggerUrl"])
        yield client
    finally:
        if client is not None:
            client.close()
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


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
