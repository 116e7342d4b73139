"""The API in-process: an app on a temporary SQLite database with tokens of each scope, and the one assertion on
the problem-document error shape."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from flask import Flask
from flask.testing import FlaskClient

from api import create_app
from capacity.store import Store


def assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    """The one check of the error shape: RFC 9457 problem+json with type/title/status/detail (and the field)."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"]
    assert "Traceback" not in body["detail"]
    if field is not None:
        assert body.get("field") == field, body
    return dict(body)


@dataclass
class Api:
    """An app on a temporary database, its client and one token per scope."""

    app: Flask
    client: FlaskClient
    store: Store
    read: dict[str, str]
    write: dict[str, str]
    admin: dict[str, str]


def make_api(tmp: Path, **settings: Any) -> Api:
    """Build an app with tokens of each scope (the job worker off unless asked)."""
    config = {"db": str(tmp / "api.db"), "worker": False, "forecast_budget_s": 120.0, **settings}
    app = create_app(config)
    store = app.extensions["capacity"].store
    headers = {}
    for scope in ("read", "write", "admin"):
        _, secret = store.tokens.create_token([scope], f"test-{scope}")
        headers[scope] = {"Authorization": f"Bearer {secret}"}
    return Api(app, app.test_client(), store, headers["read"], headers["write"], headers["admin"])


def columns_body(history: pd.DataFrame) -> dict[str, list[Any]]:
    """A history frame as the columnar JSON body of the samples route."""
    return {"ts": [int(t.timestamp()) for t in history["ts"]], "value": history["value"].round(4).tolist()}
