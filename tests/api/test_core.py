"""API core: the error shape, auth (401/403, no existence leaks), services/series/samples, health and metrics.

Flask test client on a real temporary SQLite database; forecasts are real engine runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from api import create_app
from capacity.store import Store
from tests.support.api import Api, assert_problem, columns_body, make_api
from tests.support.data import hourly_history


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """A fresh API with one stored series (checkout/cpu, 14 days hourly, threshold 70)."""
    a = make_api(tmp_path)
    a.store.series.ingest(hourly_history("checkout", "cpu", days=14))
    a.store.series.update_series("checkout", "cpu", threshold=70.0)
    yield a
    a.store.close()


# --- error shape and routing -------------------------------------------------------------------------------


def test_unknown_route_is_a_404_problem(api: Api) -> None:
    assert_problem(api.client.get("/api/v1/nope", headers=api.read), 404)
    assert_problem(api.client.get("/nothing/here"), 404)


def test_wrong_method_is_a_405_problem(api: Api) -> None:
    assert_problem(api.client.put("/api/v1/services", headers=api.admin), 405)


def test_unexpected_error_is_a_generic_500_problem_without_traceback(tmp_path: Path) -> None:
    a = make_api(tmp_path)

    def boom() -> Any:
        raise RuntimeError("secret internals /etc/passwd")

    a.app.add_url_rule("/boom", "boom", boom)
    body = assert_problem(a.client.get("/boom"), 500)
    assert "secret" not in body["detail"] and "RuntimeError" not in body["detail"]


# --- authentication and scopes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/v1/services", "/api/v1/series", "/api/v1/series/checkout/cpu", "/api/v1/events", "/api/v1/risks"],
)
def test_every_api_route_needs_a_token(api: Api, path: str) -> None:
    body = assert_problem(api.client.get(path), 401)
    assert "token" in body["detail"]
    response = api.client.get(path, headers={"Authorization": "Bearer cp_not-a-real-token"})
    assert_problem(response, 401)
    assert "invalid_token" in response.headers["WWW-Authenticate"]
    assert_problem(api.client.get(path, headers={"Authorization": "Basic dXNlcjpwdw=="}), 401)


def test_no_token_reveals_nothing_about_which_series_exist(api: Api) -> None:
    known = api.client.get("/api/v1/series/checkout/cpu")
    unknown = api.client.get("/api/v1/series/nosuch/cpu")
    assert known.status_code == unknown.status_code == 401
    strip = lambda r: {k: v for k, v in r.get_json().items() if k != "instance"}  # noqa: E731
    assert strip(known) == strip(unknown)
    # The same for writes with a read-only token: 403 whether or not the series exists.
    for path in ("/api/v1/series/checkout/cpu", "/api/v1/series/nosuch/cpu"):
        assert_problem(api.client.patch(path, json={"threshold": 50}, headers=api.read), 403)


def test_write_needs_write_and_delete_needs_admin(api: Api) -> None:
    response = api.client.patch("/api/v1/series/checkout/cpu", json={"threshold": 60}, headers=api.read)
    assert_problem(response, 403)
    assert "insufficient_scope" in response.headers["WWW-Authenticate"]
    assert (
        api.client.patch("/api/v1/series/checkout/cpu", json={"threshold": 60}, headers=api.write).status_code
        == 200
    )
    assert_problem(api.client.delete("/api/v1/series/checkout/cpu", headers=api.write), 403)
    assert api.client.delete("/api/v1/series/checkout/cpu", headers=api.admin).status_code == 204
    assert_problem(api.client.get("/api/v1/series/checkout/cpu", headers=api.read), 404)


def test_revoked_token_is_refused(api: Api) -> None:
    info, secret = api.store.tokens.create_token(["read"], "short-lived")
    headers = {"Authorization": f"Bearer {secret}"}
    assert api.client.get("/api/v1/services", headers=headers).status_code == 200
    assert api.client.delete(f"/api/v1/tokens/{info.id}", headers=api.admin).status_code == 204
    assert_problem(api.client.get("/api/v1/services", headers=headers), 401)


def test_token_routes_are_admin_only_and_never_show_hashes(api: Api) -> None:
    assert_problem(api.client.get("/api/v1/tokens", headers=api.write), 403)
    listing = api.client.get("/api/v1/tokens", headers=api.admin).get_json()["tokens"]
    assert {t["name"] for t in listing} >= {"test-read", "test-write", "test-admin"}
    assert all("token" not in t and "token_hash" not in t for t in listing)
    created = api.client.post("/api/v1/tokens", json={"scopes": ["read"], "name": "ci"}, headers=api.admin)
    assert created.status_code == 201 and created.get_json()["token"].startswith("cp_")
    assert_problem(
        api.client.post("/api/v1/tokens", json={"scopes": ["root"]}, headers=api.admin), 422, "scopes"
    )
    assert_problem(api.client.delete("/api/v1/tokens/99999", headers=api.admin), 404)


# --- services and series ---------------------------------------------------------------------------------------


def test_services_and_series_lists(api: Api) -> None:
    services = api.client.get("/api/v1/services", headers=api.read).get_json()["services"]
    assert services == [{"service": "checkout", "metrics": ["cpu"], "series": 1}]
    series = api.client.get("/api/v1/series", headers=api.read).get_json()["series"]
    assert len(series) == 1 and series[0]["samples"] == 14 * 24 and series[0]["step_seconds"] == 3600
    assert api.client.get("/api/v1/series?service=other", headers=api.read).get_json()["series"] == []
    assert_problem(api.client.get("/api/v1/series?service=bad%20name", headers=api.read), 422, "service")


def test_describe_series(api: Api) -> None:
    body = api.client.get("/api/v1/series/checkout/cpu", headers=api.read).get_json()
    assert body["threshold"] == 70.0 and body["unit"] == "percent"
    assert body["first_ts"] == "2024-01-01T00:00:00Z" and body["last_ts"] == "2024-01-14T23:00:00Z"
    assert_problem(api.client.get("/api/v1/series/nosuch/cpu", headers=api.read), 404, "series")
    assert_problem(api.client.get("/api/v1/series/bad%3Cscript%3E/cpu", headers=api.read), 422, "service")


def test_patch_series_validates_each_field(api: Api) -> None:
    ok = api.client.patch(
        "/api/v1/series/checkout/cpu",
        json={"threshold": 80, "instances": 4, "instance_capacity": 25.0, "agg": "max", "description": "web"},
        headers=api.write,
    )
    assert ok.status_code == 200
    assert {k: ok.get_json()[k] for k in ("threshold", "instances", "agg")} == {
        "threshold": 80.0,
        "instances": 4,
        "agg": "max",
    }
    assert_problem(
        api.client.patch("/api/v1/series/checkout/cpu", json={"threshold": 140}, headers=api.write),
        422,
        "threshold",
    )
    assert_problem(
        api.client.patch("/api/v1/series/checkout/cpu", json={"agg": "median"}, headers=api.write), 422, "agg"
    )
    assert_problem(
        api.client.patch("/api/v1/series/checkout/cpu", json={"color": "red"}, headers=api.write),
        422,
        "color",
    )
    assert_problem(api.client.patch("/api/v1/series/checkout/cpu", json={}, headers=api.write), 422)
    assert_problem(
        api.client.patch("/api/v1/series/nosuch/cpu", json={"threshold": 50}, headers=api.write), 404
    )
    cleared = api.client.patch("/api/v1/series/checkout/cpu", json={"threshold": None}, headers=api.write)
    assert cleared.get_json()["threshold"] is None


# --- samples ---------------------------------------------------------------------------------------------------


def test_ingest_json_shapes_is_idempotent(api: Api) -> None:
    history = hourly_history("web", "rps", days=2, seed=3)
    first = api.client.post("/api/v1/series/web/rps/samples", json=columns_body(history), headers=api.write)
    assert first.status_code == 201 and first.get_json()["inserted"] == 48
    again = api.client.post("/api/v1/series/web/rps/samples", json=columns_body(history), headers=api.write)
    assert again.status_code == 200
    assert again.get_json()["inserted"] == 0 and again.get_json()["samples"] == 48
    objects = {
        "samples": [{"ts": "2024-01-03T00:00:00Z", "value": 5.0}, {"ts": "2024-01-03T01:00:00Z", "value": 6}]
    }
    assert (
        api.client.post("/api/v1/series/web/rps/samples", json=objects, headers=api.write).get_json()[
            "samples"
        ]
        == 50
    )
    pairs = {"samples": [[1704247200, 7.0]]}  # 2024-01-03T02:00Z as epoch seconds
    assert (
        api.client.post("/api/v1/series/web/rps/samples", json=pairs, headers=api.write).get_json()["samples"]
        == 51
    )


def test_ingest_csv(api: Api) -> None:
    text = "timestamp,value\n2024-02-01T00:00:00Z,10\n2024-02-01T01:00:00Z,12.5\n"
    response = api.client.post(
        "/api/v1/series/web/rps/samples", data=text, headers={**api.write, "Content-Type": "text/csv"}
    )
    assert response.status_code == 201 and response.get_json()["inserted"] == 2
    other = "timestamp,service,metric,value\n2024-02-01T00:00:00Z,other,rps,1\n"
    assert_problem(
        api.client.post(
            "/api/v1/series/web/rps/samples", data=other, headers={**api.write, "Content-Type": "text/csv"}
        ),
        422,
        "series",
    )


def test_bad_row_is_named_and_nothing_is_stored(api: Api) -> None:
    before = api.store.series.describe("checkout", "cpu").samples
    body = {
        "samples": [{"ts": "2024-03-01T00:00:00Z", "value": 50}, {"ts": "2024-03-01T01:00:00Z", "value": 150}]
    }
    problem = assert_problem(
        api.client.post("/api/v1/series/checkout/cpu/samples", json=body, headers=api.write), 422, "value"
    )
    assert "row 2" in problem["detail"] and problem["row"] == 2
    body = {"samples": [{"ts": "2024-03-01T00:00:00Z", "value": 50}, {"ts": "yesterday-ish", "value": 1}]}
    assert (
        "row 2"
        in assert_problem(
            api.client.post("/api/v1/series/checkout/cpu/samples", json=body, headers=api.write), 422, "ts"
        )["detail"]
    )
    csv = "timestamp,value\n2024-03-01T00:00:00Z,1\n2024-03-01T01:00:00Z,abc\n"
    problem = assert_problem(
        api.client.post(
            "/api/v1/series/checkout/cpu/samples", data=csv, headers={**api.write, "Content-Type": "text/csv"}
        ),
        422,
        "value",
    )
    assert "row 3" in problem["detail"]  # line 3 of the file (the header is line 1)
    assert api.store.series.describe("checkout", "cpu").samples == before


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"samples": "nope"}, 422, "samples"),
        ({"samples": []}, 422, "samples"),
        ({"ts": [1704067200], "value": [1, 2]}, 422, "value"),
        ({"samples": [{"value": 1}]}, 422, "ts"),
        ({"samples": [{"ts": 1704067200, "value": True}]}, 422, "value"),
        ([1, 2, 3], 422, "body"),
    ],
)
def test_malformed_sample_bodies(api: Api, body: Any, status: int, field: str) -> None:
    assert_problem(
        api.client.post("/api/v1/series/web/rps/samples", json=body, headers=api.write), status, field
    )


def test_unparseable_and_unsupported_bodies(api: Api) -> None:
    headers = {**api.write, "Content-Type": "application/json"}
    assert_problem(api.client.post("/api/v1/series/web/rps/samples", data="{not json", headers=headers), 400)
    xml = {**api.write, "Content-Type": "application/xml"}
    assert_problem(api.client.post("/api/v1/series/web/rps/samples", data="<a/>", headers=xml), 415)
    assert_problem(
        api.client.post("/api/v1/series/bad%20name/rps/samples", json={"samples": []}, headers=api.write),
        422,
        "service",
    )


def test_body_over_the_limit_is_413(tmp_path: Path) -> None:
    a = make_api(tmp_path, max_content_length=1024)
    big = {"ts": list(range(1704067200, 1704067200 + 3600 * 500, 3600)), "value": [1.0] * 500}
    assert_problem(a.client.post("/api/v1/series/web/rps/samples", json=big, headers=a.write), 413)
    assert a.store.series.list_series() == []


# --- health and metrics -------------------------------------------------------------------------------------------


def test_healthz_reports_the_database(api: Api, tmp_path: Path) -> None:
    body = api.client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["checks"]["database"] == "ok"
    broken = Store(create_engine(f"sqlite:///{tmp_path}/missing-dir/x.db"))
    app = create_app({"worker": False}, store=broken)
    assert_problem(app.test_client().get("/healthz"), 503)


def test_metrics_text_format_and_protection(api: Api, tmp_path: Path) -> None:
    api.client.get("/api/v1/services", headers=api.read)
    text = api.client.get("/metrics").get_data(as_text=True)
    assert 'capacity_http_requests_total{method="GET",route="/api/v1/services",status="200"} 1' in text
    assert "capacity_http_request_duration_seconds_bucket" in text
    assert "# TYPE capacity_breach_probability gauge" in text
    private = make_api(tmp_path / "p", metrics_public=False)
    assert_problem(private.client.get("/metrics"), 401)
    assert private.client.get("/metrics", headers=private.read).status_code == 200


def test_openapi_document_and_docs_page(api: Api) -> None:
    spec = api.client.get("/openapi.json").get_json()
    assert spec["components"]["securitySchemes"]["BearerAuth"]["scheme"] == "bearer"
    op = spec["paths"]["/api/v1/series/{service}/{metric}"]["patch"]
    assert op["x-required-scope"] == "write" and "401" in op["responses"] and "403" in op["responses"]
    assert "application/problem+json" in op["responses"]["422"]["content"]
    page = api.client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)  # the page loads Swagger UI from this server, never from a CDN
    assert "/docs/assets/swagger-ui-bundle.js" in html and "cdn." not in html
    with api.client.get("/docs/assets/swagger-ui-bundle.js") as asset:  # a file response: close it
        assert asset.status_code == 200 and len(asset.get_data()) > 100_000
    assert_problem(api.client.get("/docs/assets/index.html"), 404)


def test_settings_are_validated() -> None:
    from capacity.errors import InvalidConfig

    with pytest.raises(InvalidConfig, match="unknown API setting"):
        create_app({"no_such_setting": 1})
    with pytest.raises(InvalidConfig, match="forecast_budget_s"):
        create_app({"forecast_budget_s": "soon"})
