"""The OpenAPI document says what the server does: one test per class of mismatch that schemathesis found (ids past
the store's range, bodies the server needs, empty PATCH bodies, 429 on authenticated operations, OPTIONS and GET
agreeing, titles that name what was wrong, 409 for requests the series' state does not allow)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from capacity.cli import cli
from capacity.errors import UnknownToken
from capacity.store import Store
from capacity.store.tokens import MAX_TOKEN_ID
from tests.support.api import Api, assert_problem, make_api
from tests.support.data import hourly_history

BASE = "/api/v1/series/web/rps"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    a = make_api(tmp_path)
    yield a
    a.store.close()


@pytest.fixture
def spec(api: Api) -> dict[str, Any]:
    return dict(api.client.get("/openapi.json").get_json())


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method, op


@pytest.mark.parametrize("ident", ["9223372036854775808", "2147483648", "9" * 5000, "0", "00"])
def test_token_ids_past_the_store_range_are_unknown_not_an_overflow(api: Api, ident: str) -> None:
    assert_problem(api.client.delete(f"/api/v1/tokens/{ident}", headers=api.admin), 404)
    with pytest.raises(UnknownToken):
        api.store.tokens.revoke_token(ident)


def test_token_revoke_command_refuses_an_overflowed_id_cleanly(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    Store.open(db).close()  # the CLI refuses a database that does not exist (before it reads the id)
    result = CliRunner().invoke(cli, ["token", "revoke", "9223372036854775808", "--db", db])
    assert result.exit_code != 0
    assert "Traceback" not in result.output and "9223372036854775808" in result.output
    assert not isinstance(result.exception, OverflowError)


def test_token_id_parameter_is_bounded_in_the_document(spec: dict[str, Any]) -> None:
    (param,) = spec["paths"]["/api/v1/tokens/{token_id}"]["delete"]["parameters"]
    assert param["schema"] == {"type": "integer", "minimum": 1, "maximum": MAX_TOKEN_ID}


def test_bodies_are_required_where_the_server_needs_them(api: Api, spec: dict[str, Any]) -> None:
    required = {(p, m) for p, m, op in _operations(spec) if op.get("requestBody", {}).get("required")}
    assert required >= {
        ("/api/v1/events", "post"),
        ("/api/v1/series/{service}/{metric}", "patch"),
        ("/api/v1/tokens", "post"),
        ("/api/v1/loadtests", "post"),
    }
    # And the server refuses a request without one (a problem, never a 2xx or a 500) ...
    for path in ("/api/v1/events", "/api/v1/tokens", "/api/v1/loadtests"):
        response = api.client.post(path, headers=api.admin)
        assert response.status_code in (400, 415, 422), (path, response.status_code)
        assert_problem(response, response.status_code)
    # ... while a refresh job, whose every field has a default, takes no body and the document says so.
    assert ("/api/v1/jobs/forecasts", "post") not in required
    assert api.client.post("/api/v1/jobs/forecasts", headers=api.write).status_code == 202


def test_an_empty_patch_is_refused_and_the_document_says_so(api: Api, spec: dict[str, Any]) -> None:
    api.store.series.ingest(hourly_history("web", "rps", days=2))
    response = api.client.patch(BASE, json={}, headers=api.write)
    assert_problem(response, 422)
    ref = spec["paths"]["/api/v1/series/{service}/{metric}"]["patch"]["requestBody"]["content"]
    schema = ref["application/json"]["schema"]
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    assert schema["minProperties"] == 1


def test_every_authenticated_operation_declares_429_with_retry_after(spec: dict[str, Any]) -> None:
    authenticated = [(p, m, op) for p, m, op in _operations(spec) if op.get("security")]
    assert len(authenticated) > 20
    for path, method, op in authenticated:
        too_many = op["responses"].get("429")
        assert too_many is not None, (method, path)
        assert "Retry-After" in too_many["headers"], (method, path)


def test_a_rate_limited_client_is_refused_even_with_a_valid_token(tmp_path: Path) -> None:
    limited = make_api(tmp_path, auth_fail_limit=2, auth_fail_window_s=60.0)
    for _ in range(2):
        assert_problem(limited.client.get(BASE, headers={"Authorization": "Bearer cp_nope"}), 401)
    response = limited.client.get("/api/v1/series", headers=limited.read)
    assert_problem(response, 429)
    assert int(response.headers["Retry-After"]) > 0
    limited.store.close()


def test_options_advertises_only_methods_that_answer(api: Api) -> None:
    response = api.client.open("/api/v1/jobs/forecasts", method="OPTIONS", headers=api.read)
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert "GET" not in allowed and "POST" in allowed
    assert_problem(api.client.get("/api/v1/jobs/forecasts", headers=api.read), 405)


def test_validation_titles_name_what_was_wrong(api: Api) -> None:
    api.store.series.ingest(hourly_history("web", "rps", days=2))
    bad_quantile = assert_problem(api.client.get(f"{BASE}/forecast?quantiles=1.5", headers=api.read), 422)
    assert bad_quantile["title"] == "Invalid query parameter" and bad_quantile["field"] == "quantiles"
    bad_horizon = assert_problem(api.client.get(f"{BASE}/forecast?horizon=9999d", headers=api.read), 422)
    assert bad_horizon["title"] == "Invalid query parameter"
    bad_body = assert_problem(api.client.patch(BASE, json={"instances": 0}, headers=api.write), 422)
    assert bad_body["title"] == "Invalid request body"


def test_requests_the_series_state_does_not_allow_are_declared_409(spec: dict[str, Any]) -> None:
    for path in ("forecast", "forecast.png", "loadtest-plan"):
        op = spec["paths"][f"/api/v1/series/{{service}}/{{metric}}/{path}"]["get"]
        assert "409" in op["responses"] and "202" in op["responses"], path
        assert "Retry-After" in op["responses"]["202"]["headers"], path


def test_every_operation_summary_is_a_whole_sentence_in_plain_text(spec: dict[str, Any]) -> None:
    # Swagger UI shows the summary on the operation's line: a docstring's first line cut mid-sentence ("by default
    # the last") or reST markup ("``<img>``") showed as such in the /docs page.
    bad = [
        (method.upper(), path, op["summary"])
        for path, method, op in _operations(spec)
        if not op["summary"].rstrip().endswith((".", ")"))
        or "``" in op["summary"] + op.get("description", "")
    ]
    assert bad == []
