"""The OpenAPI document: response schemas of each resource, and one pass that adds to every operation its security
requirement, required scope and the problem responses it can give (all ``application/problem+json``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask

from api.http import params
from api.http.schemas import COMPUTING, FORECAST, PROBLEM, STR
from capacity.store.tokens import MAX_TOKEN_ID

F = TypeVar("F", bound=Callable[..., Any])

DESCRIPTION = """Forecasts, accuracy, breach risks, events, readiness reports and load-test results of
capacity-planner. Every `/api/v1` route needs `Authorization: Bearer TOKEN` (create one with
`capacity token create --scope read`); writes need the `write` scope, deletes and token management `admin`.
Every error is an RFC 9457 `application/problem+json` document, including the requests `capacity serve` refuses
before any route runs: 414 for a request line over 4,094 bytes, 431 for more than 100 header fields or one over
8,190 bytes, 501 for an unsupported Transfer-Encoding, 417 for an unmet Expect, 400 for malformed HTTP.

A request the document describes is accepted, or answered 404 (no such series, event, job or token), 409 (well
formed, but the series' history or the calendar does not allow it: no samples yet, a forecast that failed or does
not reach the event) or 401/403/429; 422 means the request breaks a rule of this document. The few rules JSON Schema
cannot state (they compare two fields, or depend on the series' unit) are listed in each operation's description
and in its `x-capacity-rules`.

A client that sent `auth_fail_limit` invalid tokens within the window (10 per 60 s by default) gets 429 with
`Retry-After` on every authenticated operation, even with a valid token, until the window passes: a guesser must not
be able to test tokens while limited."""

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


def computing() -> dict[int, Any]:
    """202 with Retry-After: the forecast is being computed and nothing stored can be served yet."""
    return {
        202: {
            "description": "Being computed; retry after Retry-After seconds",
            "content": {"application/json": {"schema": COMPUTING}},
            "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
        }
    }


def conflict(
    description: str = "The series' history does not allow it (no samples yet, forecasting failed)",
) -> dict[int, Any]:
    """409: the request is well formed, but the state of what it names does not allow it."""
    return {409: _problem(description)}


def forecast_responses() -> dict[int, Any]:
    """The forecast route's responses: 200 with an ETag, 202 while computing, 304 when unchanged, 409."""
    return {
        **ok(FORECAST, "The forecast (ETag header; X-Forecast-Stale true when served past the time budget)"),
        **computing(),
        304: {"description": "Not modified (If-None-Match matched the ETag)"},
        **conflict(),
    }


def png_responses() -> dict[int, Any]:
    """A PNG chart, 202 while computing, 304 when unchanged, 409."""
    return {
        200: {
            "description": "The chart",
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
        },
        **computing(),
        304: {"description": "Not modified"},
        **conflict(),
    }


def path_param(name: str, pattern: str, example: str) -> Callable[[F], F]:
    """Give one operation's path parameter a narrower pattern than :data:`PATH_PARAMS` (what this route accepts)."""

    def decorator(view: F) -> F:
        overrides = dict(getattr(view, "_path_params", {}))
        overrides[name] = ({**PATH_PARAMS[name], "pattern": pattern}, example)
        view._path_params = overrides  # type: ignore[attr-defined]
        return view

    return decorator


def rules(*lines: str) -> Callable[[F], F]:
    """Declare the rules of an operation that JSON Schema cannot state (they compare fields, or depend on the
    series' unit): listed in its description and, machine-readable, in ``x-capacity-rules``."""

    def decorator(view: F) -> F:
        view._rules = lines  # type: ignore[attr-defined]
        return view

    return decorator


def request_body(schema: dict[str, Any], *, csv: bool = False) -> Callable[[F], F]:
    """Declare a view's request body (JSON, and text/csv when ``csv``) for the document."""

    def decorator(view: F) -> F:
        content: dict[str, Any] = {"application/json": {"schema": schema}}
        if csv:
            content["text/csv"] = {
                "schema": {"type": "string", "minLength": 1},  # an empty file is refused
                # Without an offset: read as UTC, or in the zone of the tz example (schemathesis' example phase
                # sends the two together, and an offset that disagrees with the zone is refused).
                "example": "timestamp,value\n2026-01-01 00:00:00,41.5\n",
            }
        view._request_body = {"required": True, "content": content}  # type: ignore[attr-defined]
        return view

    return decorator


_NAME = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": params.NAME}
#: Path parameter schemas: what the routes accept (anything else is a 422 naming the parameter, or a 404).
PATH_PARAMS: dict[str, dict[str, Any]] = {
    "service": _NAME,
    "metric": _NAME,
    "name": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": params.EVENT_NAME},
    "job_id": {"type": "string", "format": "uuid", "pattern": params.UUID},
    "token_id": {"type": "integer", "minimum": 1, "maximum": MAX_TOKEN_ID},
}
PATH_EXAMPLES = {"service": "checkout", "metric": "cpu", "name": "Black Friday"}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-zA-Z_][a-zA-Z0-9_]*)>", r"{\1}", rule)


#: The problem every authenticated operation can answer when its client sent too many invalid tokens.
TOO_MANY = {
    "description": "Too many invalid tokens from this client lately: every token is refused until Retry-After",
    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
    "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


SIGNED_NOTE = (
    " Or no token, with `expires` and `signature` from the series' `chart-url` operation (a signed URL, valid up to"
    " an hour): an expired one is answered 401, one whose signature does not match this path and expiry 403."
)


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
            for method in rule.methods or ():
                op = item.get(method.lower())
                if op is not None:
                    _operation(
                        spec, op, method, view, scope, bool(rule.arguments or rule.rule.startswith("/api/"))
                    )
        return spec


def _operation(
    spec: dict[str, Any], op: dict[str, Any], method: str, view: Any, scope: str | None, api: bool
) -> None:
    """Complete one operation: its problem responses, security, request body and parameter schemas."""
    responses = op.setdefault("responses", {})
    for status, text in (
        (400, "Bad request (malformed JSON, a body where none is taken)"),
        (422, "The request breaks a rule of this document; the problem names the field"),
        (500, "Internal error"),
        (503, "Database unavailable"),
    ):
        responses.setdefault(str(status), _problem(text))
    if api:
        responses.setdefault("404", _problem("Not found"))
    if scope:
        op["security"] = [{"BearerAuth": []}]
        op["x-required-scope"] = scope
        note = f"Needs a token with the `{scope}` scope."
        if getattr(view, "_signed_url", False):
            op["security"].append({"SignedUrl": []})
            note += SIGNED_NOTE
        op["description"] = f"{op.get('description', '')}\n\n{note}".strip()
        responses.setdefault("401", _problem("Missing or invalid token (or an expired signed URL)"))
        responses.setdefault(
            "403", _problem(f"The token lacks the {scope} scope (or the URL signature does not match)")
        )
        responses.setdefault("429", TOO_MANY)
    else:
        op["security"] = []
    rules = getattr(view, "_rules", ())
    if rules:
        op["x-capacity-rules"] = list(rules)
        listed = "\n".join(f"- {line}" for line in rules)
        op["description"] = (
            f"{op.get('description', '')}\n\nAlso checked (422 when broken):\n{listed}".strip()
        )
    if method in ("POST", "PUT", "PATCH"):
        responses.setdefault("413", _problem("Request body too large"))
        responses.setdefault("415", _problem("Unsupported media type"))
    body = getattr(view, "_request_body", None)
    if body is not None and method == "POST":
        op["requestBody"] = body
    if "requestBody" in op:
        # A body is required when the route refuses a request without one: it reads the body itself (samples), its
        # schema has a required field, or it is a PATCH (a change must change something: {} is refused). A POST
        # whose fields all have defaults (a refresh job) takes no body as {}.
        schemas = [_schema(spec, m.get("schema", {})) for m in op["requestBody"].get("content", {}).values()]
        if method == "PATCH":
            for schema in schemas:
                schema["minProperties"] = 1
        op["requestBody"]["required"] = (
            method == "PATCH" or body is not None or any(s.get("required") for s in schemas)
        )
    overrides = getattr(view, "_path_params", {})
    for param in op.get("parameters", []):
        if param.get("in") != "path":
            continue
        name = param["name"]
        if name in overrides:
            param["schema"], param["example"] = overrides[name]
            continue
        param["schema"] = dict(PATH_PARAMS.get(name, {"type": "string", "minLength": 1}))
        if name in PATH_EXAMPLES:
            param["example"] = PATH_EXAMPLES[name]


def _schema(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` itself, or the component its ``$ref`` names."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        return spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return schema
