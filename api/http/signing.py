"""Signed, short-lived chart URLs: what lets an ``<img>`` tag or a Grafana panel fetch a PNG without a bearer header.

A caller with the ``read`` scope asks for a URL (``GET …/chart-url``); the server answers the chart's path with
``?expires=<epoch seconds>&signature=<hex>``, where the signature is HMAC-SHA256 over ``METHOD\\nPATH\\nEXPIRES``
with a secret only the server knows. Whoever holds the URL may fetch that one chart until it expires; the other
query parameters (``horizon``, ``quantiles``) are not signed, since they only change how the same series is drawn.

The secret must be the same in every gunicorn worker, or a URL signed by one worker would fail on the next, and it
must outlive a restart, or every URL handed out before it would answer 403 (a Grafana panel's image broken until
someone reloads): it is a row of the database's ``secrets`` table (:mod:`capacity.store.secrets`), created by
whichever process needs it first and never served. Each process reads it once and keeps it.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from flask import request

from api.http.problems import Problem
from api.state import AppState

#: The signing secret's name in the database's ``secrets`` table.
KEY_NAME = "url-signing-key"
#: Seconds a signed URL is valid when the caller names no ``ttl``, and the most it may ask for.
DEFAULT_TTL_S, MAX_TTL_S = 900, 3600
#: The query parameters a signed URL carries.
EXPIRES, SIGNATURE = "expires", "signature"


def signing_key(st: AppState) -> bytes:
    """This server's URL-signing secret (see the module docstring for where it lives)."""
    key: bytes | None = st.extras.get("signing_key")
    if key is None:
        key = st.store.secrets.get_or_create(KEY_NAME)
        st.extras["signing_key"] = key
    return key


def signature(key: bytes, method: str, path: str, expires: int) -> str:
    """The hex HMAC-SHA256 of one request line and its expiry."""
    message = f"{method.upper()}\n{path}\n{int(expires)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign(st: AppState, path: str, ttl_s: int, now: float | None = None) -> tuple[str, int]:
    """A signed URL for ``GET path`` valid ``ttl_s`` seconds; returns the URL (path and query) and its expiry."""
    expires = int(time.time() if now is None else now) + int(ttl_s)
    sig = signature(signing_key(st), "GET", path, expires)
    return f"{path}?{EXPIRES}={expires}&{SIGNATURE}={sig}", expires


def is_signed() -> bool:
    """Whether the request carries signed-URL parameters (then the signature, not a token, decides)."""
    return SIGNATURE in request.args or EXPIRES in request.args


def check_signed(st: AppState, now: float | None = None) -> None:
    """Accept the request on its URL signature.

    Raises:
        Problem: 403 when the signature is missing, malformed or does not match the method, path and expiry (a
            tampered URL, or one signed for another chart); 401 when it matched but has expired (ask for a new one).
    """
    expires_text, sig = request.args.get(EXPIRES, ""), request.args.get(SIGNATURE, "")
    if not expires_text.isdigit() or len(expires_text) > 12 or len(sig) != 64:
        raise Problem(
            403,
            f"a signed URL needs both {EXPIRES} (epoch seconds) and {SIGNATURE} (64 hex digits), as the "
            "chart-url operation gives them",
        )
    expires = int(expires_text)
    method = "GET" if request.method == "HEAD" else request.method  # HEAD is the GET without its body
    expected = signature(signing_key(st), method, request.path, expires)
    if not hmac.compare_digest(expected, sig.lower()):
        raise Problem(
            403, "the URL signature does not match this chart and expiry (altered, or signed for another)"
        )
    if expires < int(time.time() if now is None else now):
        raise Problem(
            401,
            f"this signed URL expired at {expires} (epoch seconds): ask the chart-url operation for a new one",
        )
