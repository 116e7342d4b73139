"""Signed, short-lived chart URLs: what lets an ``<img>`` tag or a Grafana panel fetch a PNG without a bearer header.

A caller with the ``read`` scope asks for a URL (``GET …/chart-url``); the server answers the chart's path with
``?expires=<epoch seconds>&signature=<hex>``, where the signature is HMAC-SHA256 over ``METHOD\\nPATH\\nEXPIRES``
with a secret only the server knows. Whoever holds the URL may fetch that one chart until it expires; the other
query parameters (``horizon``, ``quantiles``) are not signed, since they only change how the same series is drawn.

The secret must be the same in every gunicorn worker, or a URL signed by one worker would fail on the next: under
``capacity serve`` it is a file in the server's shared directory (:mod:`api.shared_dir`), created by whichever worker
needs it first (an atomic link, so two workers racing agree on one). It lives as long as the server: a restart
invalidates the URLs handed out before, which at ≤ 1 hour of validity costs a page reload. Outside ``capacity serve``
(the Flask test client) it is kept in the app.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

from flask import request

from api import shared_dir as runtime
from api.http.problems import Problem
from api.state import AppState

#: The signing secret's file in the server's shared directory.
KEY_FILE = "url-signing-key"
#: Seconds a signed URL is valid when the caller names no ``ttl``, and the most it may ask for.
DEFAULT_TTL_S, MAX_TTL_S = 900, 3600
#: The query parameters a signed URL carries.
EXPIRES, SIGNATURE = "expires", "signature"


def _shared_key(path: Path) -> bytes:
    """The key stored at ``path``, created there first when missing (every worker ends up with the same one)."""
    with contextlib.suppress(FileNotFoundError):
        return path.read_bytes()
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(secrets.token_bytes(32))
    try:
        os.link(tmp, path)  # fails when another worker linked its key first: then that one is the key
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_bytes()


def signing_key(st: AppState) -> bytes:
    """This server's URL-signing secret (see the module docstring for where it lives)."""
    key: bytes | None = st.extras.get("signing_key")
    if key is None:
        shared = runtime.shared_dir()
        key = _shared_key(shared / KEY_FILE) if shared is not None else secrets.token_bytes(32)
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
