"""Event names and occurrences through a real ``capacity serve`` on loopback: a name the API accepts is read back
through ``/api/v1/events/{name}`` exactly as it was stored (any case, outside the BMP, combining marks), a name a URL
path cannot address is refused at creation with a 422 the document states, and a PUT whose occurrences repeat a
start is a 422 naming the field and the value, with nothing stored (it was a 503 from the store's unique key)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from tests.support.live import LiveServer, seed_fleet, start_server

OCC = {"start": "2030-01-01", "end": "2030-01-02"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    work = tmp_path_factory.mktemp("event-names")
    token = seed_fleet(work / "ev.db", n=1)
    server = start_server(work / "ev.db", work / "server.log", workers=1)
    try:
        yield server, {"Authorization": f"Bearer {token}"}
    finally:
        server.stop()
    assert "Traceback" not in server.text()


def call(
    live: tuple[LiveServer, dict[str, str]], method: str, path: str, body: Any = None
) -> requests.Response:
    server, auth = live
    data = None if body is None else json.dumps(body)  # json.dumps writes a lone surrogate as \ud800
    headers = {**auth, "Content-Type": "application/json"}
    return requests.request(method, server.url + path, data=data, headers=headers, timeout=120)


def event_path(name: str) -> str:
    return "/api/v1/events/" + quote(name, safe="")


def problem(response: requests.Response, status: int, field: str) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["field"] == field, body
    return body


@pytest.mark.parametrize(
    "name",
    [
        "Ĉafé",  # an upper-case letter outside ASCII: SQLite's lower() left it, so GET found nothing (ST302)
        "ĒÍ0\U000e9e48-",  # the name schemathesis found: outside the BMP, and upper-case Latin letters
        "😀 sale",
        "e\u0301te\u0301",  # combining marks, kept as sent (not normalised)
        "İstanbul",  # lower() makes it longer
        "a\x85b",  # a C1 control (NEL) inside a name, not at its ends
        "%41 a?b#c",
    ],
)
def test_a_created_name_is_read_replaced_and_deleted_by_that_name(
    live: tuple[LiveServer, dict[str, str]], name: str
) -> None:
    created = call(live, "POST", "/api/v1/events", {"name": name, **OCC})
    assert created.status_code == 201, created.text
    assert created.json()["name"] == name
    got = call(live, "GET", event_path(name))
    assert got.status_code == 200 and got.json()["name"] == name
    assert call(live, "GET", created.headers["Location"].split(live[0].url)[-1]).status_code == 200
    # any case finds it (what --event promises), and a PUT replaces its rows instead of colliding with them (503)
    assert call(live, "GET", event_path(name.upper())).status_code == 200
    put = call(
        live, "PUT", event_path(name), {"occurrences": [OCC, {"start": "2031-01-01", "end": "2031-01-02"}]}
    )
    assert put.status_code == 200, put.text
    assert [o["start"] for o in put.json()["occurrences"]] == ["2030-01-01T00:00:00Z", "2031-01-01T00:00:00Z"]
    assert call(live, "DELETE", event_path(name)).status_code == 204
    problem(call(live, "GET", event_path(name)), 404, "event")


def test_a_post_in_another_case_updates_the_stored_event(live: tuple[LiveServer, dict[str, str]]) -> None:
    assert call(live, "POST", "/api/v1/events", {"name": "Été sale", **OCC}).status_code == 201
    again = call(live, "POST", "/api/v1/events", {"name": "ÉTÉ SALE", **OCC, "multiplier_low": 2.0})
    assert again.status_code == 201, again.text
    assert again.json()["name"] == "Été sale"
    assert [o["multiplier_low"] for o in again.json()["occurrences"]] == [2.0]
    assert call(live, "DELETE", event_path("été sale")).status_code == 204


@pytest.mark.parametrize("name", ["a/b", ".", " .. ", "\u3000", "tab\there", "<b>"])
def test_a_name_a_url_cannot_address_is_refused_where_the_document_says(
    live: tuple[LiveServer, dict[str, str]], name: str
) -> None:
    pattern = call(live, "GET", "/openapi.json").json()["components"]["schemas"]
    refused = call(live, "POST", "/api/v1/events", {"name": name, **OCC})
    body = problem(refused, 422, "name")
    assert "is not an event name" in body["detail"]
    assert call(live, "GET", "/api/v1/events").json()["events"] == []  # nothing stored
    # the document states it: the name's pattern refuses what the server refuses, and accepts an emoji
    (stated,) = {
        s["properties"]["name"]["pattern"]
        for s in pattern.values()
        if "name" in s.get("properties", {}) and "start" in s.get("properties", {})
    }
    assert re.fullmatch(stated, name) is None
    assert re.fullmatch(stated, "😀 sale") is not None


def test_a_lone_surrogate_is_a_422_not_a_500(live: tuple[LiveServer, dict[str, str]]) -> None:
    """JSON can spell one (``"\\ud800"``) though it is not text: it could be neither stored nor put in a URL."""
    for path, body in [
        ("/api/v1/events", {"name": "x\ud800", **OCC}),
        ("/api/v1/tokens", {"scopes": ["read"], "name": "x\udc00"}),
    ]:
        assert "surrogate" in problem(call(live, "POST", path, body), 422, "name")["detail"]
    assert call(live, "GET", "/api/v1/events").json()["events"] == []


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"start": "1990-01-30T00:44:20Z"}, {"start": "1990-01-30T00:44:20.9Z"}),  # one stored second
        ({"start": "2030-01-01"}, {"start": "2030-01-01T01:00:00+01:00"}),  # a date is its midnight
    ],
)
def test_a_put_repeating_a_start_is_a_422_naming_the_value_and_stores_nothing(
    live: tuple[LiveServer, dict[str, str]], first: dict[str, str], second: dict[str, str]
) -> None:
    path = event_path("Ĉyber Monday")
    kept = {"start": "2029-01-01", "end": "2029-01-02", "service": None}
    assert call(live, "PUT", path, {"occurrences": [kept]}).status_code == 200
    occurrences = [
        {**first, "end": "2031-01-01"},
        {"start": "2030-06-01", "end": "2030-06-02"},
        {**second, "end": "2031-02-01", "multiplier_low": 2.0},
    ]
    body = problem(call(live, "PUT", path, {"occurrences": occurrences}), 422, "start")
    repeated = re.sub(r"\.\d+|T00:00:00Z$", "", first["start"])
    assert "occurrences[2]" in body["detail"] and "occurrences[0]" in body["detail"], body
    assert repeated.split("T")[0] in body["detail"]
    stored = call(live, "GET", path).json()["occurrences"]
    assert [o["start"] for o in stored] == ["2029-01-01T00:00:00Z"]  # the old calendar, untouched
    # the same start for two scopes is two occurrences, not a repeat
    scoped = [{**OCC, "service": "svc0"}, OCC]
    assert call(live, "PUT", path, {"occurrences": scoped}).status_code == 200
    assert call(live, "DELETE", path).status_code == 204


def test_the_fleet_plan_declares_its_409(live: tuple[LiveServer, dict[str, str]]) -> None:
    """The one undocumented status schemathesis found (ST103): a quarter before the history ends."""
    answer = call(live, "GET", "/api/v1/plan?quarter=1998Q3")
    problem(answer, 409, "quarter")
    operation = call(live, "GET", "/openapi.json").json()["paths"]["/api/v1/plan"]["get"]
    assert "409" in operation["responses"]


def test_the_put_document_states_unique_occurrences(live: tuple[LiveServer, dict[str, str]]) -> None:
    operation = call(live, "GET", "/openapi.json").json()["paths"]["/api/v1/events/{name}"]["put"]
    assert "no two occurrences share a start" in operation["description"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    ref = schema["$ref"].rsplit("/", 1)[-1]
    components = call(live, "GET", "/openapi.json").json()["components"]["schemas"]
    assert components[ref]["properties"]["occurrences"]["uniqueItems"] is True


def test_cli_import_refuses_a_file_repeating_a_start(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from capacity.cli import cli
    from capacity.store import Store

    csv = tmp_path / "events.csv"
    csv.write_text(
        "event,start,end\nSale,2030-01-01,2030-01-02\nOther,2030-02-01,2030-02-02\nsale,2030-01-01,2030-01-03\n"
    )
    db = tmp_path / "ev.db"
    Store.open(db).close()
    result = CliRunner().invoke(cli, ["events", "import", str(csv), "--db", str(db)])
    assert result.exit_code != 0
    assert "events.csv row 4" in result.output and "events.csv row 2" in result.output
    assert "2030-01-01T00:00:00Z" in result.output
    assert "Traceback" not in result.output
    store = Store.open(db)
    assert store.events.list_events() == []
    store.close()
