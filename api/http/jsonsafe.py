"""JSON bodies nested too deeply are malformed bodies (400 problem documents), not crashes.

Python's ``json`` decoder recurses once per nesting level and raises ``RecursionError`` past the interpreter's
limit (about 1,000 levels). Flask and webargs only turn ``ValueError``/``JSONDecodeError`` into a 400, so
``[[[[...`` reached the 500 handler. :func:`register` installs a JSON provider whose ``loads`` reports the
nesting as malformed JSON (Flask's ``get_json``), and a handler that answers a ``RecursionError`` raised while a
JSON body was being parsed (webargs, which parses with the standard library) with the same 400.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, request
from flask.json.provider import DefaultJSONProvider

from api.http.problems import problem_response

log = logging.getLogger("capacity.api")

DETAIL = "body is not valid JSON: nested too deeply to parse"


class SafeJSONProvider(DefaultJSONProvider):
    """``DefaultJSONProvider`` whose ``loads`` reports too-deep nesting as malformed JSON."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse JSON text.

        Raises:
            ValueError: for malformed JSON, including nesting too deep to parse.
        """
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError(DETAIL) from None


def register(app: Flask) -> None:
    """Install the provider and the ``RecursionError`` handler on ``app``."""
    app.json = SafeJSONProvider(app)

    @app.errorhandler(RecursionError)
    def _too_deep(exc: RecursionError) -> Response:
        if request.is_json and "JSON" in str(exc):  # "... while decoding a JSON array from a unicode string"
            return problem_response(400, "Bad request", DETAIL, field="body")
        log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
        return problem_response(
            500, "Internal server error", "the server failed to handle this request; the error was logged"
        )
