"""Every request gunicorn refuses while reading it gets a problem document with the status gunicorn itself gives.

The expected status of each of gunicorn's parser exceptions is read from gunicorn's own ``Worker.handle_error``
(the HTML answer it writes to a socket), so a gunicorn upgrade that adds a class or changes a code fails here.
The same answers over real HTTP are in ``tests/api/test_workers.py``.
"""

from __future__ import annotations

import inspect
import logging
import socket
from typing import Any, cast

import pytest
from gunicorn.http import errors as http_errors
from gunicorn.workers.base import Worker

from api.serving.server import _http_response, refused_request_problem

#: gunicorn's size-limit errors have their own tests (414/431 naming the limit); the response-header errors are the
#: application's (gunicorn answers 500 with its own page, and so do we: they are not mapped).
SIZE_ERRORS = (http_errors.LimitRequestLine, http_errors.LimitRequestHeaders)
RESPONSE_ERRORS = (http_errors.InvalidResponseHeader, http_errors.InvalidResponseHeaderName)


def parser_errors() -> list[type[Exception]]:
    """Every exception class gunicorn's HTTP parser raises for a bad request."""
    found: list[type[Exception]] = []
    for _, cls in inspect.getmembers(http_errors, inspect.isclass):
        if not issubclass(cls, http_errors.ParseException):
            continue
        if cls is not http_errors.ParseException and not issubclass(cls, RESPONSE_ERRORS):
            found.append(cast("type[Exception]", cls))
    return found


def make(cls: type[Exception]) -> Exception:
    try:
        return cls("x\r\nInjected: 1")
    except TypeError:
        return cls()


def gunicorns_status(exc: Exception) -> int:
    """The status gunicorn's own worker answers ``exc`` with (read from what it writes to a socket)."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        fake_worker: Any = type("W", (), {"log": logging.getLogger("test.gunicorn"), "cfg": None})()
        Worker.handle_error(fake_worker, None, ours, ("127.0.0.1", 1), exc)
        ours.shutdown(socket.SHUT_WR)
        head = theirs.recv(65536).split(b"\r\n", 1)[0]
    return int(head.split()[1])


def test_the_list_of_parser_errors_is_gunicorns() -> None:
    names = {cls.__name__ for cls in parser_errors()}
    assert {
        "UnsupportedTransferCoding",
        "ExpectationFailed",
        "InvalidSchemeHeaders",
        "ForbiddenProxyRequest",
    } <= names


@pytest.mark.parametrize("cls", parser_errors(), ids=lambda c: c.__name__)
def test_each_parser_error_gets_gunicorns_status_as_a_problem(cls: type[Exception]) -> None:
    exc = make(cls)
    body = refused_request_problem(exc)
    assert body is not None, f"{cls.__name__} is not mapped"
    want = gunicorns_status(exc)
    if cls is http_errors.InvalidProxyHeader:
        # gunicorn leaves this one out of its client-error list (a 500 page) although the class says code 400.
        assert want == 500 and exc.code == 400  # type: ignore[attr-defined]
        want = 400
    assert body["status"] == want
    assert {"type", "title", "status", "detail"} <= set(body)
    if cls not in SIZE_ERRORS:
        assert body["detail"].startswith("the ")
    # The written answer: gunicorn's status line, problem+json, and no header injected from the reason.
    raw = _http_response(body)
    head, _, payload = raw.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].startswith(f"HTTP/1.1 {want} ".encode())
    assert b"Content-Type: application/problem+json" in head
    assert b"Injected" not in head
    assert b"<html" not in payload.lower()


@pytest.mark.parametrize("cls", RESPONSE_ERRORS, ids=lambda c: c.__name__)
def test_response_header_errors_stay_gunicorns(cls: type[Exception]) -> None:
    assert refused_request_problem(make(cls)) is None
    assert refused_request_problem(ValueError("not a parser error")) is None
