"""The OpenAPI document: response schemas of each resource, and one pass that adds to every operation its security
requirement, required scope and the problem responses it can give (all ``application/problem+json``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask

F = TypeVar("F", bound=Callable[..., Any])

DESCRIPTION = """Forecasts, accuracy, breach risks, events, readiness reports and load-test results of
capacity-planner. Every `/api/v1` route needs `Authorization: Bearer TOKEN` (create one with
`capacity token create --scope read`); writes need the `write` scope, deletes and token management `admin`.
Every error is an RFC 9457 `application/problem+json` document."""

PROBLEM_JSON = "application/problem+json"


def _nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "nullable": True, **extra}


NUM = {"type": "number"}
STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
TS = {"type": "string", "format": "date-time"}
NTS = _nullable("string", format="date-time")
NNUM = _nullable("number")
NINT = _nullable("integer")
NSTR = _nullable("string")

PROBLEM: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": STR,
        "title": STR,
        "status": INT,
        "detail": STR,
        "instance": STR,
        "field": NSTR,
        "row": NINT,
    },
}

SERIES: dict[str, Any] = {
    "type": "object",
    "required": ["service", "metric", "unit", "agg", "samples", "data_version"],
    "properties": {
        "service": STR,
        "metric": STR,
        "unit": STR,
        "agg": STR,
        "threshold": NNUM,
        "instances": NINT,
        "instance_capacity": NNUM,
        "description": STR,
        "data_version": INT,
        "samples": INT,
        "first_ts": NTS,
        "last_ts": NTS,
        "last_value": NNUM,
        "step_seconds": NINT,
    },
}
SERIES_LIST = {
    "type": "object",
    "required": ["series"],
    "properties": {"series": {"type": "array", "items": SERIES}},
}
SERVICES = {
    "type": "object",
    "required": ["services"],
    "properties": {
        "services": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["service", "metrics", "series"],
                "properties": {"service": STR, "metrics": {"type": "array", "items": STR}, "series": INT},
            },
        }
    },
}
INGEST = {
    "type": "object",
    "required": ["service", "metric", "rows", "inserted", "updated", "samples", "data_version"],
    "properties": {
        "service": STR,
        "metric": STR,
        "rows": INT,
        "inserted": INT,
        "updated": INT,
        "samples": INT,
        "data_version": INT,
    },
}
_TS_OR_EPOCH = {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "number"}]}
SAMPLES_BODY = {
    "oneOf": [
        {
            "type": "object",
            "required": ["samples"],
            "properties": {
                "samples": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "oneOf": [
                            {
                                "type": "object",
                                "required": ["ts", "value"],
                                "properties": {"ts": _TS_OR_EPOCH, "value": NUM},
                            },
                            {"type": "array", "minItems": 2, "maxItems": 2, "items": {}},
                        ]
                    },
                }
            },
        },
        {
            "type": "object",
            "required": ["ts", "value"],
            "properties": {
                "ts": {"type": "array", "minItems": 1, "items": _TS_OR_EPOCH},
                "value": {"type": "array", "minItems": 1, "items": NUM},
            },
        },
    ]
}
POINT = {
    "type": "object",
    "required": ["ts", "mean"],
    "properties": {"ts": TS, "mean": NNUM, "lower": NNUM, "upper": NNUM, "threshold": NNUM},
    "additionalProperties": NNUM,
}
FORECAST = {
    "type": "object",
    "required": ["service", "metric", "run_id", "model", "horizon", "stale", "points"],
    "properties": {
        "service": STR,
        "metric": STR,
        "unit": STR,
        "run_id": INT,
        "created_at": TS,
        "model": STR,
        "freq": STR,
        "horizon": INT,
        "history_end": NTS,
        "data_version": INT,
        "stale": BOOL,
        "threshold": NNUM,
        "quantiles": {"type": "array", "items": NUM},
        "band": {"type": "array", "items": NUM, "nullable": True},
        "scores": {"type": "object", "additionalProperties": NNUM},
        "candidates": {
            "type": "object",
            "additionalProperties": {"type": "object", "additionalProperties": NNUM},
        },
        "diagnostics": {"type": "array", "items": STR},
        "points": {"type": "array", "items": POINT},
    },
}
COMPUTING = {
    "type": "object",
    "required": ["status", "retry_after"],
    "properties": {"status": {"type": "string", "enum": ["computing"]}, "retry_after": INT},
}
POINTS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["ts"],
        "properties": {
            "ts": TS,
            "actual": NNUM,
            "forecast": NNUM,
            "lower": NNUM,
            "upper": NNUM,
            "threshold": NNUM,
        },
    },
}
_SCORES = {"type": "object", "additionalProperties": NNUM}
ACCURACY = {
    "type": "object",
    "required": ["service", "metric", "backtest", "live", "drift"],
    "properties": {
        "service": STR,
        "metric": STR,
        "backtest": {
            "type": "object",
            "properties": {
                "run_id": NINT,
                "model": NSTR,
                "scores": _SCORES,
                "candidates": {"type": "object", "additionalProperties": _SCORES},
            },
        },
        "live": {
            "type": "object",
            "properties": {
                "mase": NNUM,
                "scored_steps": INT,
                "runs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "run_id": INT,
                            "created_at": NTS,
                            "history_end": NTS,
                            "model": STR,
                            "scored_steps": INT,
                            "mase": NNUM,
                            "coverage_80": NNUM,
                        },
                    },
                },
            },
        },
        "drift_ratio": NUM,
        "drift": BOOL,
    },
}
RISK_ROW = {
    "type": "object",
    "required": ["rank", "service", "metric", "status"],
    "properties": {
        "rank": INT,
        "service": STR,
        "metric": STR,
        "status": STR,
        "threshold": NNUM,
        "breach_probability": NNUM,
        "first_breach": NTS,
        "headroom_pct": NNUM,
        "instances_to_add": NINT,
    },
}
RISKS = {
    "type": "object",
    "required": ["window", "risks"],
    "properties": {
        "window": STR,
        "event": NSTR,
        "counts": {"type": "object", "additionalProperties": INT},
        "risks": {"type": "array", "items": RISK_ROW},
    },
}
OCCURRENCE = {
    "type": "object",
    "required": ["start", "end"],
    "properties": {
        "start": TS,
        "end": TS,
        "multiplier_low": NNUM,
        "multiplier_high": NNUM,
        "service": NSTR,
    },
}
EVENT = {
    "type": "object",
    "required": ["name", "occurrences"],
    "properties": {"name": STR, "occurrences": {"type": "array", "items": OCCURRENCE}},
}
EVENT_LIST = {
    "type": "object",
    "required": ["events"],
    "properties": {"events": {"type": "array", "items": EVENT}},
}
JOB = {
    "type": "object",
    "required": ["id", "kind", "status", "total", "done", "failed", "progress"],
    "properties": {
        "id": STR,
        "kind": STR,
        "status": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
        "total": INT,
        "done": INT,
        "failed": INT,
        "progress": NUM,
        "attempts": INT,
        "created_at": TS,
        "updated_at": TS,
        "heartbeat_at": NTS,
        "error": NSTR,
        "failures": {"type": "array", "items": {"type": "object"}},
        "horizon": NSTR,
    },
}
JOB_LIST = {"type": "object", "required": ["jobs"], "properties": {"jobs": {"type": "array", "items": JOB}}}
TOKEN: dict[str, Any] = {
    "type": "object",
    "required": ["id", "name", "prefix", "scopes"],
    "properties": {
        "id": INT,
        "name": STR,
        "prefix": STR,
        "scopes": {"type": "array", "items": STR},
        "created_at": TS,
        "revoked_at": NTS,
        "last_used_at": NTS,
    },
}
TOKEN_NEW: dict[str, Any] = {
    "type": "object",
    "required": ["id", "name", "prefix", "scopes", "token"],
    "properties": {**TOKEN["properties"], "token": STR},
}
TOKEN_LIST = {
    "type": "object",
    "required": ["tokens"],
    "properties": {"tokens": {"type": "array", "items": TOKEN}},
}
HEALTH = {
    "type": "object",
    "required": ["status", "checks"],
    "properties": {"status": STR, "version": STR, "checks": {"type": "object", "additionalProperties": STR}},
}
PLAN = {
    "type": "object",
    "required": ["target_rps", "steps", "slo", "requests"],
    "properties": {
        "target_rps": NUM,
        "steps": {"type": "array", "items": NUM},
        "step_seconds": NUM,
        "slo": {"type": "object"},
        "requests": {"type": "array", "items": {"type": "object"}},
    },
}
LOADTEST = {
    "type": "object",
    "required": ["id", "measured_capacity_rps", "applied"],
    "properties": {
        "id": INT,
        "service": STR,
        "metric": STR,
        "verdict": STR,
        "measured_capacity_rps": NNUM,
        "applied": BOOL,
        "threshold": NNUM,
    },
}
REPORT = {
    "type": "object",
    "required": ["event", "risks"],
    "properties": {"event": STR, "risks": {"type": "array"}},
}


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
