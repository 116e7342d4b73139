"""Every error the API returns, as one RFC 9457 ``application/problem+json`` document, produced here and only here.

Sources of errors and how they map:

- :class:`capacity.errors.CapacityError` (bad input, unknown series, store down): its ``status``, ``title`` and
  ``field``;
- :class:`Problem`: raised by views for HTTP-level conditions (401, 403, 406, 304 is not an error);
- ``apiflask.HTTPError`` (request validation by schemas, ``abort``) and werkzeug's HTTP exceptions (404 for an
  unknown route, 405, 413 for a body over the size limit);
- anything else: logged server-side with its traceback, answered with a generic 500 that reveals nothing;
- requests gunicorn refuses before Flask sees them (414 request line too long, 431 too many or too large header
  fields, 400 malformed HTTP, 501 an unsupported Transfer-Encoding, 417 an unmet Expect, ...: gunicorn's status
  codes): :mod:`api.serving.server` writes :func:`problem_document` itself.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Mapping
from typing import Any

from apiflask import HTTPError
from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException

from capacity import errors
from capacity.errors import CapacityError

log = logging.getLogger("capacity.api")

PROBLEM_JSON = "application/problem+json"

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Request body too large",
    414: "URI too long",
    415: "Unsupported media type",
    417: "Expectation failed",
    422: "Unprocessable content",
    429: "Too many requests",
    431: "Request header fields too large",
    500: "Internal server error",
    501: "Not implemented",
    503: "Service unavailable",
}


#: The HTTP status of each error of the tree (:mod:`capacity.errors`); a class not listed takes its nearest listed
#: ancestor's. The one place where an error becomes an HTTP status.
STATUS: dict[type[CapacityError], int] = {
    errors.CapacityError: 400,
    errors.InvalidInput: 422,
    errors.UnknownToken: 404,
    # Well-formed requests the series' state does not allow: 409, so that 422 always means "breaks the document".
    errors.NotEnoughHistory: 409,
    errors.UnknownSeries: 404,
    errors.UnknownEvent: 404,
    errors.UnknownJob: 404,
    errors.ForecastFailed: 409,
    errors.SourceError: 502,
    errors.StoreError: 503,
    errors.HeadroomRunError: 502,
}


def status_of(exc: CapacityError) -> int:
    """The HTTP status of an error: its class's entry in :data:`STATUS`, else its nearest ancestor's."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


class Problem(Exception):
    """An HTTP-level error raised by a view: status, title, detail, the offending field and extra headers."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
        slug: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or _TITLES.get(status, "Error")
        self.field = field
        self.headers = dict(headers or {})
        self.slug = slug


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def problem_document(
    status: int,
    title: str,
    detail: str,
    *,
    field: str | None = None,
    row: int | None = None,
    slug: str | None = None,
    instance: str | None = None,
) -> dict[str, Any]:
    """The RFC 9457 document itself (also written by the gunicorn worker for requests Flask never sees).

    Args:
        status: the HTTP status.
        title: a short summary of the problem type (the standard reason phrase gives ``about:blank``).
        detail: one line for this occurrence, naming what was wrong.
        field: the offending field, when there is one.
        row: the offending row of an uploaded table, when there is one.
        slug: the problem type's name in ``urn:capacity:problem:<slug>`` (default: from the title).
        instance: the request path.

    Returns:
        The document as a dict.
    """
    plain = slug is None and title == _TITLES.get(status)
    body: dict[str, Any] = {
        "type": "about:blank" if plain else f"urn:capacity:problem:{slug or _slug(title)}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if field is not None:
        body["field"] = field
    if row is not None:
        body["row"] = row
    if instance is not None:
        body["instance"] = instance
    return body


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    field: str | None = None,
    row: int | None = None,
    headers: Mapping[str, str] | None = None,
    slug: str | None = None,
) -> Response:
    """Build the problem document response; every error Flask handles goes through here."""
    instance = None
    with contextlib.suppress(RuntimeError):  # outside a request (documents built by hand)
        instance = request.path
    body = problem_document(status, title, detail, field=field, row=row, slug=slug, instance=instance)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    for key, value in (headers or {}).items():
        if key.lower() != "content-type":
            response.headers[key] = value
    return response


#: The problem title of a validation error, by where the bad value was: the title names what was wrong.
_LOCATION_TITLES = {
    "query": "Invalid query parameter",
    "path": "Invalid path parameter",
    "view_args": "Invalid path parameter",
    "json": "Invalid request body",
    "form": "Invalid request body",
    "headers": "Invalid header",
}


def _located_title(exc: CapacityError) -> str:
    """The title of a 422 raised by the code behind a route: the parameter's location when the field is a query
    or path parameter of this request (a bad quantile is an invalid query parameter, not invalid history), else the
    error's own title (invalid history, invalid configuration)."""
    if exc.field is not None:
        if exc.field in (request.view_args or {}):
            return _LOCATION_TITLES["path"]
        if exc.field in request.args:
            return _LOCATION_TITLES["query"]
    return exc.title


def _validation_detail(detail: Any) -> tuple[str, str | None, str | None]:
    """Flatten apiflask/marshmallow validation detail ``{location: {field: [msg]}}`` to one line, the field and the
    location (query, json, ...)."""
    if isinstance(detail, Mapping):
        for location, errors in detail.items():
            if isinstance(errors, Mapping):
                for field, messages in errors.items():
                    text, path = messages, str(field)
                    while isinstance(text, Mapping):  # nested: {index or key: [msg]}
                        key, text = next(iter(text.items()))
                        path += f"[{key}]" if isinstance(key, int) else f".{key}"
                    if isinstance(text, list | tuple):
                        text = "; ".join(str(m) for m in text)
                    where = "query parameter" if location == "query" else "body field"
                    return f"{where} {path}: {text}", str(field), str(location)
            return f"{location}: {errors}", None, str(location)
    return str(detail or "invalid request"), None, None


def register(app: Flask) -> None:
    """Install the error handlers and the unknown-route 404 on ``app``."""

    @app.errorhandler(CapacityError)
    def _capacity(exc: CapacityError) -> Response:
        status = status_of(exc)
        if status >= 500:
            log.warning("%s on %s %s: %s", type(exc).__name__, request.method, request.path, exc)
        title = _located_title(exc) if status == 422 else exc.title
        return problem_response(status, title, str(exc), field=exc.field, row=exc.row, slug=_slug(title))

    @app.errorhandler(Problem)
    def _problem(exc: Problem) -> Response:
        return problem_response(
            exc.status, exc.title, exc.detail, field=exc.field, headers=exc.headers, slug=exc.slug
        )

    def _http_error(error: HTTPError) -> Response:
        status = int(error.status_code)
        if status == 422 or (status == 400 and isinstance(error.detail, Mapping) and error.detail):
            detail, field, location = _validation_detail(error.detail)
            title = _LOCATION_TITLES.get(location or "", "Invalid request")
            return problem_response(status, title, detail, field=field, headers=_str_headers(error.headers))
        title = _TITLES.get(status, error.message or "Error")
        return problem_response(
            status, title, _http_detail(status, error.message), headers=_str_headers(error.headers)
        )

    app.error_processor(_http_error)  # type: ignore[attr-defined]

    @app.errorhandler(HTTPException)
    def _werkzeug(exc: HTTPException) -> Response:
        status = int(exc.code or 500)
        headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
        return problem_response(
            status, _TITLES.get(status, exc.name), _http_detail(status, exc.name), headers=headers
        )

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        if isinstance(exc, HTTPException):  # pragma: no cover - routed above
            return _werkzeug(exc)
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem_response(
            500, "Internal server error", "the server failed to handle this request; the error was logged"
        )


def _http_detail(status: int, message: str | None) -> str:
    if status == 404:
        return f"no resource at {request.path}"
    if status == 405:
        return f"{request.method} is not allowed on {request.path}"
    if status == 413:
        limit = request.max_content_length
        return f"request body is over the {limit} byte limit" if limit else "request body too large"
    return message or _TITLES.get(status, "error")


def _str_headers(headers: Any) -> dict[str, str]:
    if not headers:
        return {}
    items = headers.items() if hasattr(headers, "items") else headers
    return {str(k): str(v) for k, v in items}
