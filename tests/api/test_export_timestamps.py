"""The samples route reads timestamps as ``capacity ingest`` does: epoch seconds or milliseconds (by size), ISO 8601
text, a semicolon-separated CSV body; day-first and month-first text is a 422 naming the row, nothing stored."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from api import create_app
from capacity.store import Store

ROUTE = "/api/v1/series/web/rps/samples"


def client_and_auth(tmp_path: Path) -> tuple[FlaskClient, dict[str, str]]:
    db = tmp_path / "c.db"
    Store.open(db).close()
    app = create_app({"db": str(db), "worker": False})
    _, secret = app.extensions["capacity"].store.tokens.create_token(["write", "read"], "test")
    return app.test_client(), {"Authorization": f"Bearer {secret}"}


def test_epoch_milliseconds_seconds_as_text_and_semicolons_store_the_same_samples(tmp_path: Path) -> None:
    client, auth = client_and_auth(tmp_path)
    first = client.post(ROUTE, json={"ts": [1404172800000, 1404174600000], "value": [1, 2]}, headers=auth)
    assert first.status_code == 201 and first.get_json()["inserted"] == 2
    again = client.post(ROUTE, json={"ts": ["1404172800", "1404174600"], "value": [1, 2]}, headers=auth)
    assert again.status_code == 200 and again.get_json()["inserted"] == 0
    text = "timestamp;value\n2014-07-01T02:00:00+02:00;1\n"
    csv = client.post(ROUTE, data=text, headers={**auth, "Content-Type": "text/csv"})
    assert csv.status_code == 200 and csv.get_json()["inserted"] == 0 and csv.get_json()["samples"] == 2


def test_day_first_text_is_a_422_naming_the_row_and_stores_nothing(tmp_path: Path) -> None:
    client, auth = client_and_auth(tmp_path)
    body = {"samples": [["13.05.2014 00:00", 1], ["01.05.2014 00:00", 2]]}
    answer = client.post(ROUTE, json=body, headers=auth)
    problem = answer.get_json()
    assert answer.status_code == 422 and "row 1: ts is not an ISO 8601 timestamp" in problem["detail"]
    assert "got '13.05.2014 00:00'" in problem["detail"]
    assert client.get("/api/v1/series/web/rps", headers=auth).status_code == 404
