"""The OpenAPI document: response schemas of each resource, and one pass that adds to every operation its security
requirement, required scope and the problem responses it can give (all ``application/problem+json``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask

from api.http.schemas import COMPUTING, FORECAST, PROBLEM, STR

F = TypeVar("F", bound=Callable[..., Any])

DESCRIPTION = """Forecasts, accuracy, breach risks, events, readiness reports and load-test results of
capacity-planner. Every `/api/v1` route needs `Authorization: Bearer TOKEN` (create one with
`capacity token create --scope read`); writes need the `write` scope, deletes and token management `admin`.
Every error is an RFC 9457 `application/problem+json` document, including the requests `capacity serve` refuses
before any route runs: 414 for a request line over 4,094 bytes, 431 for more than 100 header fields or one over
8,190 bytes, 501 for an unsupported Transfer-Encoding, 417 for an unmet Expect, 400 for malformed HTTP."""

PROBLEM_JSON = "application/problem+json"


def ok(schema: dict[str, Any], description: str = "Success", status: int = 200) -> dict[int, Any]:
    """A JSON success response for ``@bp.doc(responses=...)``."""
    return {status: {"description": description, "content": {"application/json": {"schema": schema}}}}


def accepted(schema: dict[str, Any]) -> dict[int, Any]:
    """A 202 with a Location header to poll."""
    return {
        202: {
            "description": "Accepted; poll the Location",
            "content": {"application/json": {"schema": schema}},
            "headers": {"Location": {"schema": STR, "description": "Where to poll the job"}},
        }
    }


def no_content() -> dict[int, Any]:
    """A 204."""
    return {204: {"description": "Done; no content"}}


def text_ok(description: str) -> dict[int, Any]:
    """A text/plain success response."""
    return {200: {"description": description, "content": {"text/plain": {"schema": STR}}}}


def forecast_responses() -> dict[int, Any]:
    """The forecast route's responses: 200 with an ETag, 202 while computing, 304 when unchanged."""
    return {
        **ok(FORECAST, "The forecast (ETag header; X-Forecast-Stale true when served past the time budget)"),
        202: {
            "description": "Being computed; retry after Retry-After seconds",
            "content": {"application/json": {"schema": COMPUTING}},
        },
        304: {"description": "Not modified (If-None-Match matched the ETag)"},
    }


def png_responses() -> dict[int, Any]:
    """A PNG chart, 202 while computing, 304 when unchanged."""
    return {
        200: {
            "description": "The chart",
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
        },
        202: {"description": "Being computed", "content": {"application/json": {"schema": COMPUTING}}},
        304: {"description": "Not modified"},
    }


def request_body(schema: dict[str, Any], *, csv: bool = False) -> Callable[[F], F]:
    """Declare a view's request body (JSON, and text/csv when ``csv``) for the document."""

    def decorator(view: F) -> F:
        content: dict[str, Any] = {"application/json": {"schema": schema}}
        if csv:
            content["text/csv"] = {
                "schema": {"type": "string"},
                "example": "timestamp,value\n2026-01-01T00:00:00Z,41.5\n",
            }
        view._request_body = {"required": True, "content": content}  # type: ignore[attr-defined]
        return view

    return decorator


_NAME = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$"}
#: Path parameter schemas: what the routes accept (anything else is a 422 naming the parameter).
PATH_PARAMS: dict[str, dict[str, Any]] = {
    "service": _NAME,
    "metric": _NAME,
    "name": {"type": "string", "minLength": 1, "maxLength": 128},
    "job_id": {"type": "string", "format": "uuid"},
}
PATH_EXAMPLES = {"service": "checkout", "metric": "cpu", "name": "Black Friday"}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-zA-Z_][a-zA-Z0-9_]*)>", r"{\1}", rule)


def register(app: Flask) -> None:
    """Add security, scopes, request bodies and problem responses to every operation of the document."""

    @app.spec_processor  # type: ignore[attr-defined]
    def _process(spec: dict[str, Any]) -> dict[str, Any]:
        spec.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM
        for rule in app.url_map.iter_rules():
            path = _openapi_path(rule.rule)
            item = spec.get("paths", {}).get(path)
            if item is None:
                continue
            view = app.view_functions[rule.endpoint]
            scope = getattr(view, "_required_scope", None)
            if rule.rule == "/metrics" and not app.extensions["capacity"].settings.metrics_public:
                scope = "read"
            body = getattr(view, "_request_body", None)
            for method in rule.methods or ():
                op = item.get(method.lower())
                if op is None:
                    continue
                responses = op.setdefault("responses", {})
                for status, text in (
                    (400, "Bad request"),
                    (422, "Invalid input"),
                    (500, "Internal error"),
                    (503, "Database unavailable"),
                ):
                    responses.setdefault(str(status), _problem(text))
                if rule.arguments or rule.rule.startswith("/api/"):
                    responses.setdefault("404", _problem("Not found"))
                if scope:
                    op["security"] = [{"BearerAuth": []}]
                    op["x-required-scope"] = scope
                    note = f"Needs a token with the `{scope}` scope."
                    op["description"] = f"{op.get('description', '')}\n\n{note}".strip()
                    responses.setdefault("401", _problem("Missing or invalid token"))
                    responses.setdefault("403", _problem(f"The token lacks the {scope} scope"))
                else:
                    op["security"] = []
                if method in ("POST", "PUT", "PATCH"):
                    responses.setdefault("413", _problem("Request body too large"))
                    responses.setdefault("415", _problem("Unsupported media type"))
                if body is not None and method == "POST":
                    op["requestBody"] = body
                for params in op.get("parameters", []):
                    if params.get("in") == "path" and params.get("schema", {}).get("type") == "string":
                        params["schema"] = dict(
                            PATH_PARAMS.get(params["name"], {"type": "string", "minLength": 1})
                        )
                        if params["name"] in PATH_EXAMPLES:
                            params["example"] = PATH_EXAMPLES[params["name"]]
        return spec
