"""Signed chart URLs: an ``<img>`` tag (no bearer header) fetches a chart with a URL from ``chart-url``; an expired,
altered or borrowed signature is refused, and every worker of one server accepts the others' URLs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from api.http import signing
from capacity.store.tables import secrets
from tests.support.api import Api, assert_problem, make_api
from tests.support.data import hourly_history
from tests.support.live import seed_fleet, start_server
from tests.support.yearly import hourly_cpu, store_series

BASE = "/api/v1/series/checkout/cpu"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def sapi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """Two series with enough history for a forecast, and one with a year of it for a plan."""
    a = make_api(tmp_path_factory.mktemp("signed"))
    a.store.series.ingest(hourly_history("checkout", "cpu", days=14))
    a.store.series.ingest(hourly_history("search", "cpu", days=14))
    store_series(
        a.store, hourly_cpu(2.3, seed=3).iloc[: 24 * 7 * 30], "shop", "cpu", threshold=50.0, agg="max"
    )
    yield a
    a.store.close()


def _signed(a: Api, series: str = BASE, **query: str) -> str:
    response = a.client.get(f"{series}/chart-url", query_string=query, headers=a.read)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["url"].endswith(body["path"]) and body["path"].startswith(series)
    return str(body["path"])


def _with(path: str, **changes: str) -> str:
    """``path`` with some query parameters replaced (an altered URL)."""
    parts = urlsplit(path)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return parts.path + "?" + "&".join(f"{k}={v}" for k, v in query.items())


def test_a_signed_url_needs_no_token(sapi: Api) -> None:
    path = _signed(sapi)
    response = sapi.client.get(path)  # no Authorization header, as an <img> tag sends it
    assert response.status_code == 200 and response.mimetype == "image/png" and response.data.startswith(PNG)
    assert sapi.client.get(path + "&horizon=24h").data.startswith(PNG)  # drawing options are not signed
    plan = _signed(sapi, "/api/v1/series/shop/cpu", chart="plan")
    assert "/plan.png?" in plan
    chart = sapi.client.get(plan)
    assert chart.status_code == 200 and chart.data.startswith(PNG)


def test_chart_url_expiry_is_bounded_and_needs_read(sapi: Api) -> None:
    before = int(time.time())
    body = sapi.client.get(f"{BASE}/chart-url?ttl=60", headers=sapi.read).get_json()
    assert before + 60 <= body["expires"] <= int(time.time()) + 60
    default = sapi.client.get(f"{BASE}/chart-url", headers=sapi.read).get_json()
    assert default["expires"] - int(time.time()) <= signing.DEFAULT_TTL_S
    assert_problem(sapi.client.get(f"{BASE}/chart-url?ttl=3601", headers=sapi.read), 422, "ttl")
    assert_problem(sapi.client.get(f"{BASE}/chart-url?chart=risk", headers=sapi.read), 422, "chart")
    assert_problem(sapi.client.get(f"{BASE}/chart-url"), 401)
    assert_problem(sapi.client.get("/api/v1/series/nosuch/cpu/chart-url", headers=sapi.read), 404)


def test_an_expired_url_is_refused(sapi: Api) -> None:
    st = sapi.app.extensions["capacity"]
    path, expires = signing.sign(st, f"{BASE}/forecast.png", 60, now=time.time() - 3600)
    assert expires < time.time()
    assert "expired" in assert_problem(sapi.client.get(path), 401)["detail"]


def test_an_altered_url_is_refused(sapi: Api) -> None:
    path = _signed(sapi)
    expires = int(parse_qs(urlsplit(path).query)["expires"][0])
    assert_problem(sapi.client.get(_with(path, expires=str(expires + 3600))), 403)  # a longer life
    flipped = parse_qs(urlsplit(path).query)["signature"][0]
    flipped = ("0" if flipped[0] != "0" else "1") + flipped[1:]
    assert_problem(sapi.client.get(_with(path, signature=flipped)), 403)
    assert_problem(sapi.client.get(_with(path, signature="zz")), 403)
    assert_problem(sapi.client.get(path.split("&")[0]), 403)  # expires without a signature
    # The signature of the forecast chart does not open the plan chart, nor another series' chart.
    assert_problem(sapi.client.get(path.replace("/forecast.png", "/plan.png")), 403)
    assert_problem(sapi.client.get(path.replace("/checkout/", "/search/")), 403)
    # A signature never stands in for a token on the JSON routes.
    assert_problem(sapi.client.get(path.replace("/forecast.png", "/forecast")), 401)


def test_workers_of_one_server_share_the_key(tmp_path: Path) -> None:
    """Two apps on one database (two gunicorn workers, or a restarted server) accept each other's URLs; another
    database means another key. The key is a row of the secrets table, which no route serves."""
    first = make_api(tmp_path / "a", db=str(tmp_path / "api.db"))
    second = make_api(tmp_path / "b", db=str(tmp_path / "api.db"))
    first.store.series.ingest(hourly_history("checkout", "cpu", days=14))
    path = _signed(first)
    assert second.client.get(path).status_code == 200
    with first.store.read() as conn:
        (row,) = conn.execute(select(secrets)).mappings().all()
    assert row["name"] == signing.KEY_NAME and len(bytes.fromhex(row["value"])) == 32
    other = make_api(tmp_path / "c", db=str(tmp_path / "other.db"))
    other.store.series.ingest(hourly_history("checkout", "cpu", days=14))
    assert_problem(other.client.get(path), 403)
    for a in (first, second, other):
        a.store.close()


def test_a_signed_url_outlives_a_server_restart(tmp_path: Path) -> None:
    """Sign on a real ``capacity serve``, stop it, start another process on the same database: the URL opens the
    chart (the key was in the runtime directory, which a restart replaces, and every such URL answered 403)."""
    token = seed_fleet(tmp_path / "live.db", n=1)
    auth = {"Authorization": f"Bearer {token}"}
    server = start_server(tmp_path / "live.db", tmp_path / "server.log", workers=2)
    try:
        body = requests.get(f"{server.url}/api/v1/series/svc0/cpu/chart-url", headers=auth, timeout=60).json()
        before = _fetch_chart(server.url + body["path"])
        assert before.status_code == 200 and before.content.startswith(PNG)
    finally:
        server.stop()
    restarted = start_server(tmp_path / "live.db", tmp_path / "server.log", workers=2)
    try:
        after = _fetch_chart(restarted.url + body["path"])  # no token: the signature alone
        assert after.status_code == 200 and after.content.startswith(PNG), after.text[:300]
        tampered = requests.get(restarted.url + body["path"].replace("svc0", "checkout"), timeout=60)
        assert tampered.status_code == 403
    finally:
        restarted.stop()
    assert "Traceback" not in (tmp_path / "server.log").read_text()


def _fetch_chart(url: str) -> requests.Response:
    """GET a chart, waiting while the server answers 202 (the forecast being computed), a hang guard of 10 min."""
    deadline = time.monotonic() + 600
    while True:
        response = requests.get(url, timeout=120)
        if response.status_code != 202 or time.monotonic() > deadline:
            return response
        time.sleep(float(response.headers.get("Retry-After", "1")))
