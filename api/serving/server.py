"""gunicorn for ``capacity serve``: the options, the worker class and the server hooks.

- The worker class is gunicorn's threaded worker, except that a request gunicorn refuses before the application
  sees it (a request line over :data:`LIMIT_REQUEST_LINE` bytes, more than :data:`LIMIT_REQUEST_FIELDS` header
  fields or one over :data:`LIMIT_REQUEST_FIELD_SIZE` bytes, malformed HTTP, an unsupported Transfer-Encoding
  or Expect, contradictory scheme headers, a bad PROXY line) is answered with the same RFC 9457 problem document
  as every other error (:func:`api.problems.problem_document`), with gunicorn's status code and naming what was
  wrong, instead of gunicorn's HTML page. gunicorn's limits stay the limits: they bound what a worker buffers.
- ``child_exit`` (in the master) tells prometheus_client that a worker is gone (:mod:`api.serving.metrics`).
- ``worker_exit`` (in a worker leaving gracefully) interrupts its job worker: the running job goes back in the
  queue instead of failing, and its pool processes end now, within :data:`GRACEFUL_TIMEOUT` (:mod:`api.worker`).
- The access log names the worker process of each request (``pid=<N>``).
"""

from __future__ import annotations

import json
import logging
import os
from http import HTTPStatus
from typing import Any

from gunicorn.http import errors as http_errors
from gunicorn.util import write_nonblock
from gunicorn.workers.gthread import ThreadWorker

from api import shared_dir as runtime
from api.http.problems import PROBLEM_JSON, problem_document
from api.serving.worker import started_count, stop_all

#: Longest request line (method, URL, version) in bytes; gunicorn's default, its own maximum is 8190.
LIMIT_REQUEST_LINE = 4094
#: Most header fields in one request.
LIMIT_REQUEST_FIELDS = 100
#: Longest header field (name and value) in bytes.
LIMIT_REQUEST_FIELD_SIZE = 8190

#: Seconds the master gives a worker to finish on a graceful stop (SIGTERM, HUP) before it kills it.
GRACEFUL_TIMEOUT = 10
#: Seconds an exiting worker waits for its job worker to put the running job back in the queue.
JOB_STOP_S = 5.0

ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" pid=%(p)s'

#: The other requests gunicorn refuses while reading them: (its exception classes, the status gunicorn gives them
#: in ``Worker.handle_error``, the problem title, what the detail says before gunicorn's own reason). First match
#: wins. The response-header errors are the application's (a 500), not the client's: never matched here.
_REFUSED: tuple[tuple[tuple[type[Exception], ...], int, str, str], ...] = (
    (
        (http_errors.UnsupportedTransferCoding,),
        501,
        "Not implemented",
        "the request's Transfer-Encoding is not supported (send the body with chunked or Content-Length)",
    ),
    (
        (http_errors.ExpectationFailed,),
        417,
        "Expectation failed",
        "the request's Expect header cannot be met (only 100-continue is understood)",
    ),
    (
        (http_errors.ForbiddenProxyRequest,),
        403,
        "Forbidden",
        "the server does not accept PROXY protocol headers from this address",
    ),
    (
        (http_errors.ConfigurationProblem,),
        500,
        "Internal server error",
        "the server's configuration cannot serve this request",
    ),
    (
        (http_errors.InvalidSchemeHeaders,),
        400,
        "Bad request",
        "the request's scheme headers (X-Forwarded-Proto, X-Forwarded-Ssl, ...) contradict each other",
    ),
    (
        (http_errors.InvalidProxyLine, http_errors.InvalidProxyHeader),
        400,
        "Bad request",
        "the request's PROXY protocol header is not valid",
    ),
    (
        (
            http_errors.InvalidRequestLine,
            http_errors.InvalidRequestMethod,
            http_errors.InvalidHTTPVersion,
            http_errors.InvalidHeader,
            http_errors.InvalidHeaderName,
            http_errors.ObsoleteFolding,
            http_errors.InvalidChunkSize,
            http_errors.ChunkMissingTerminator,
            http_errors.InvalidChunkExtension,
            http_errors.InvalidH2CPreface,
        ),
        400,
        "Bad request",
        "the request is not valid HTTP/1.1",
    ),
)
_RESPONSE_ERRORS = (http_errors.InvalidResponseHeader, http_errors.InvalidResponseHeaderName)


def refused_request_problem(exc: BaseException) -> dict[str, Any] | None:
    """The problem document for a request gunicorn refused while reading it, or None for other errors.

    Args:
        exc: what gunicorn's parser raised.

    Returns:
        The document (``status``, ``title``, ``detail``, ``field``), or None when ``exc`` is not a refused request.
    """
    if isinstance(exc, http_errors.LimitRequestLine):
        seen = f"at least {exc.size} bytes" if isinstance(exc.size, int) else "longer"
        return problem_document(
            414,
            "URI too long",
            f"the request line (method, URL and HTTP version) is {seen}, over the limit of "
            f"{LIMIT_REQUEST_LINE} bytes; shorten the URL",
            field="request_line",
        )
    if isinstance(exc, http_errors.LimitRequestHeaders):
        message = str(exc)
        if message == "limit request headers fields":
            detail, field = f"the request has more than {LIMIT_REQUEST_FIELDS} header fields", "headers"
        elif message.startswith("limit request headers fields size"):
            detail, field = f"a header field is over the limit of {LIMIT_REQUEST_FIELD_SIZE} bytes", "headers"
        elif "trailer" in message:
            detail, field = "the request's trailer section is too large", "trailers"
        else:
            detail = (
                f"the request's header section is too large (at most {LIMIT_REQUEST_FIELDS} fields "
                f"of {LIMIT_REQUEST_FIELD_SIZE} bytes each)"
            )
            field = "headers"
        return problem_document(431, "Request header fields too large", detail, field=field)
    if isinstance(exc, _RESPONSE_ERRORS):
        return None
    for classes, status, title, what in _REFUSED:
        if isinstance(exc, classes):
            reason = str(exc).replace("\r", " ").replace("\n", " ")
            if len(reason) > 200:
                reason = reason[:200] + "..."
            return problem_document(status, title, f"{what}: {reason}")
    return None


def _http_response(body: dict[str, Any]) -> bytes:
    status = int(body["status"])
    payload = json.dumps(body).encode("utf-8")
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "Connection: close\r\n"
        f"Content-Type: {PROBLEM_JSON}\r\n"
        f"Content-Length: {len(payload)}\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + payload


class ProblemThreadWorker(ThreadWorker):
    """gunicorn's threaded worker, answering requests it refuses with a problem document instead of HTML."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """Write a problem document for a refused request; leave every other error to gunicorn."""
        body = refused_request_problem(exc)
        if body is None:
            super().handle_error(req, client, addr, exc)
            return
        ip = addr[0] if addr else ""
        self.log.warning("Invalid request from ip=%s: %s (answered %s)", ip, exc, body["status"])
        try:
            write_nonblock(client, _http_response(body))
        except Exception:
            self.log.debug("Failed to send error message.")


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn hook in the master: a worker exited; drop its live prometheus_client files.

    Its counters and histograms stay: they are part of the server's totals.
    """
    path = runtime.metrics_dir()
    if path is not None:
        # deferred: prometheus_client picks its mode from PROMETHEUS_MULTIPROC_DIR at import, set just before
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, str(path))


def worker_exit(server: Any, worker: Any) -> None:
    """gunicorn hook in a worker that is exiting: interrupt its job worker and put the running job back in the queue."""

    if not getattr(worker, "booted", False) or not started_count():
        return  # the app never booted here: gunicorn's own exit keeps its exit code (a boot error stops the master)
    if not stop_all(JOB_STOP_S):
        worker.log.warning("the job worker did not stop within %s s; its job resumes once stale", JOB_STOP_S)
    # Leave now: everything worth keeping is committed and the job is back in the queue. The interpreter's own exit
    # would join concurrent.futures' pool threads, and a pool process caught mid-start (not yet in the pool's list,
    # so neither terminated nor sent a sentinel) kept it waiting past the graceful timeout, until the master killed
    # the worker (1 run in 10 of the graceful-stop test).
    logging.shutdown()
    os._exit(0)


def gunicorn_options(
    *, bind: str, workers: int, threads: int, access_log: bool, timeout: int = 120
) -> dict[str, Any]:
    """The gunicorn settings ``capacity serve`` runs with.

    Args:
        bind: ``HOST:PORT``.
        workers: worker processes.
        threads: threads per worker.
        access_log: log each request to stderr.
        timeout: seconds a silent worker is given before the master restarts it.

    Returns:
        Setting names to values, for ``cfg.set``.
    """
    return {
        "bind": bind,
        "workers": workers,
        "threads": threads,
        "worker_class": ProblemThreadWorker,
        "timeout": timeout,
        "graceful_timeout": GRACEFUL_TIMEOUT,
        "accesslog": "-" if access_log else None,
        "access_log_format": ACCESS_LOG_FORMAT,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "capacity-api",
        "control_socket_disable": True,
        "limit_request_line": LIMIT_REQUEST_LINE,
        "limit_request_fields": LIMIT_REQUEST_FIELDS,
        "limit_request_field_size": LIMIT_REQUEST_FIELD_SIZE,
        "child_exit": child_exit,
        "worker_exit": worker_exit,
    }
