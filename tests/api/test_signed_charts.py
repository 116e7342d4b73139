"""Signed chart URLs: an ``<img>`` tag (no bearer header) fetches a chart with a URL from ``chart-url``; an expired,
altered or borrowed signature is refused, and every worker of one server accepts the others' URLs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from api import shared_dir as runtime
from api.http import signing
from tests.support.api import Api, assert_problem, make_api
from tests.support.data import hourly_history
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


def test_workers_of_one_server_share_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two apps with the same shared directory (two gunicorn workers) accept each other's URLs; another server's
    directory means another key."""
    monkeypatch.setenv(runtime.RUNTIME_ENV, str(tmp_path / "run"))
    (tmp_path / "run").mkdir()
    first = make_api(tmp_path / "a", db=str(tmp_path / "api.db"))
    second = make_api(tmp_path / "b", db=str(tmp_path / "api.db"))
    first.store.series.ingest(hourly_history("checkout", "cpu", days=14))
    path = _signed(first)
    assert second.client.get(path).status_code == 200
    key = (tmp_path / "run" / signing.KEY_FILE).stat()
    assert key.st_mode & 0o077 == 0 and key.st_size == 32
    monkeypatch.setenv(runtime.RUNTIME_ENV, str(tmp_path / "other"))
    (tmp_path / "other").mkdir()
    third = make_api(tmp_path / "c", db=str(tmp_path / "api.db"))
    assert_problem(third.client.get(path), 403)
    for a in (first, second, third):
        a.store.close()
