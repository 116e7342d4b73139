"""Bearer-token authentication with scopes (read < write < admin).

Missing or unknown tokens give 401 with a ``WWW-Authenticate: Bearer`` challenge; a valid token without the
needed scope gives 403. The check runs before a view looks anything up, so a caller without ``read`` learns
nothing about which services exist.

Verified tokens are cached per worker process, each entry stamped with the store's revocation generation
(:meth:`capacity.store.tokens.TokenRepository.revocation_generation`, one tiny query per request). A revocation by any
process (another worker, ``capacity token revoke``) bumps it, so every worker re-checks its cached tokens on the
next request: a revoked token stops working everywhere at once.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request

from api.http import ratelimit, signing
from api.http.problems import Problem
from api.state import state
from capacity.store.tokens import SCOPES, TokenInfo

F = TypeVar("F", bound=Callable[..., Any])

REALM = 'Bearer realm="capacity"'


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def current_token() -> TokenInfo:
    """Authenticate the request; returns the token.

    Raises:
        Problem: 401 when the token is missing, unknown or revoked; 429 when this client sent too many
            invalid tokens lately (:mod:`api.http.ratelimit`).
    """
    if "token" in g:
        return g.token
    secret = _bearer()
    if secret is None:
        raise Problem(
            401,
            "this endpoint needs a token: send Authorization: Bearer TOKEN (create one with capacity token create)",
            headers={"WWW-Authenticate": REALM},
        )
    st = state()
    ratelimit.check(st)  # 429 for a client over its failed-authentication limit, before any check
    key = hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()
    # Read the generation before verifying: a revocation that lands in between then shows as a new generation
    # on the next request, never as a cached token stamped with the newer number.
    generation = st.store.tokens.revocation_generation()
    cached = st.tokens.get(key)
    if cached is not None and cached[0] == generation:
        token = cached[1]
    else:
        # Counted as a failure before it is verified, in one step with the limit check (429 at the limit), so
        # concurrent guesses on any worker cannot all pass one check; a valid token gives it back.
        reservation = ratelimit.reserve(st)
        try:
            found = st.store.tokens.verify_token(secret)
        except BaseException:
            ratelimit.release(st, reservation)
            raise
        if found is None:
            raise Problem(
                401,
                "the token is not valid (unknown, malformed or revoked)",
                headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"'},
            )
        ratelimit.release(st, reservation)
        token = found
        st.tokens.put(key, (generation, token))
    _touch(token)
    g.token = token
    return token


def _touch(token: TokenInfo) -> None:
    st = state()
    touched: dict[int, float] = st.extras.setdefault("touched", {})
    now = time.monotonic()
    if now - touched.get(token.id, -1e9) >= st.settings.token_touch_s:
        touched[token.id] = now
        st.store.tokens.touch_token(token.id)


def check_scope(scope: str) -> TokenInfo:
    """Authenticate and require ``scope``.

    Raises:
        Problem: 401 (no valid token) or 403 (the token lacks ``scope``).
    """
    token = current_token()
    if not token.allows(scope):
        raise Problem(
            403,
            f"this needs a token with the {scope!r} scope; this token has {', '.join(token.scopes)}",
            headers={"WWW-Authenticate": f'{REALM}, error="insufficient_scope", scope="{scope}"'},
        )
    return token


def require(scope: str, *, signed: bool = False) -> Callable[[F], F]:
    """Decorator: the view needs a token with ``scope`` (recorded for the OpenAPI document).

    With ``signed`` (read-only charts), a request carrying signed-URL parameters is judged on its signature instead
    (:mod:`api.http.signing`): an ``<img>`` tag cannot send a bearer header.
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if signed and signing.is_signed():
                signing.check_signed(state())
            else:
                check_scope(scope)
            return view(*args, **kwargs)

        wrapper._required_scope = scope  # type: ignore[attr-defined]
        wrapper._signed_url = signed  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator
