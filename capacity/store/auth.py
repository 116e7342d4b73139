"""API tokens: create, verify, revoke, list. Only a SHA-256 hash of each token is stored.

A token is ``cp_`` followed by 43 URL-safe characters (32 random bytes). Its first 11 characters are kept as a
prefix so a person can name a token (``capacity token revoke cp_AbCdEfGh``) without the secret. Scopes are
ordered: ``admin`` implies ``write``, which implies ``read``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Engine, and_, select, update

from capacity.errors import InvalidInput, describe_value
from capacity.schema import NAME_MAX
from capacity.store.db import now, translate_errors
from capacity.store.tables import tokens

#: Scopes in increasing power; holding one grants every scope before it.
SCOPES: tuple[str, ...] = ("read", "write", "admin")
TOKEN_PREFIX = "cp_"
PREFIX_LEN = 11


class UnknownToken(InvalidInput):
    """A token id or prefix that names no token (or more than one)."""

    title = "Unknown token"
    status = 404


@dataclass(frozen=True)
class TokenInfo:
    """A stored token, without its secret."""

    id: int
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: pd.Timestamp
    revoked_at: pd.Timestamp | None
    last_used_at: pd.Timestamp | None

    @property
    def active(self) -> bool:
        """True while the token is not revoked."""
        return self.revoked_at is None

    def allows(self, scope: str) -> bool:
        """True when the token's scopes grant ``scope`` (admin > write > read)."""
        need = SCOPES.index(scope)
        return any(SCOPES.index(s) >= need for s in self.scopes if s in SCOPES)


def hash_token(secret: str) -> str:
    """The stored form of a token: hex SHA-256 (the token holds 256 random bits, so no salt is needed)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def validate_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """Check scope names (``read``, ``write``, ``admin``; comma-separated items allowed); returns them sorted.

    Raises:
        InvalidInput: naming the unknown scope.
    """
    out: set[str] = set()
    for item in scopes:
        for scope in str(item).split(","):
            scope = scope.strip().lower()
            if scope not in SCOPES:
                raise InvalidInput(
                    f"scope must be one of {', '.join(SCOPES)}, got {describe_value(scope)}", field="scope"
                )
            out.add(scope)
    if not out:
        raise InvalidInput(f"give at least one scope ({', '.join(SCOPES)})", field="scope")
    return tuple(s for s in SCOPES if s in out)


def _ts(value: int | None) -> pd.Timestamp | None:
    return pd.Timestamp(value, unit="s", tz="UTC") if value is not None else None


def _info(row: Any) -> TokenInfo:
    return TokenInfo(
        id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        scopes=tuple(s for s in row["scopes"].split(",") if s),
        created_at=pd.Timestamp(row["created_at"], unit="s", tz="UTC"),
        revoked_at=_ts(row["revoked_at"]),
        last_used_at=_ts(row["last_used_at"]),
    )


class TokenStore:
    """Mixin: API tokens. Needs ``self.write()``/``self.read()``."""

    engine: Engine

    def write(self) -> Any:  # pragma: no cover - provided by Store
        raise NotImplementedError

    def read(self) -> Any:  # pragma: no cover - provided by Store
        raise NotImplementedError

    def create_token(self, scopes: Iterable[str], name: str = "") -> tuple[TokenInfo, str]:
        """Create a token with ``scopes``; returns its record and the secret (shown once, never stored).

        Raises:
            InvalidInput: on an unknown scope or a name over 128 characters.
        """
        granted = validate_scopes(scopes)
        if len(name) > NAME_MAX or any(ord(c) < 32 for c in name):
            raise InvalidInput(
                f"token name must be at most {NAME_MAX} printable characters, got {describe_value(name)}",
                field="name",
            )
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with translate_errors("create token"), self.write() as conn:
            token_id = conn.execute(
                tokens.insert().values(
                    name=name,
                    token_hash=hash_token(secret),
                    prefix=secret[:PREFIX_LEN],
                    scopes=",".join(granted),
                    created_at=now(),
                )
            ).inserted_primary_key[0]
            row = conn.execute(select(tokens).where(tokens.c.id == token_id)).mappings().one()
        return _info(row), secret

    def verify_token(self, secret: str) -> TokenInfo | None:
        """The active token whose secret is ``secret``, or None (unknown, malformed or revoked)."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            return None
        with translate_errors("verify token"), self.read() as conn:
            row = (
                conn.execute(
                    select(tokens).where(
                        and_(tokens.c.token_hash == hash_token(secret), tokens.c.revoked_at.is_(None))
                    )
                )
                .mappings()
                .first()
            )
        return _info(row) if row is not None else None

    def touch_token(self, token_id: int) -> None:
        """Record that a token was just used."""
        with translate_errors("touch token"), self.write() as conn:
            conn.execute(update(tokens).where(tokens.c.id == token_id).values(last_used_at=now()))

    def list_tokens(self, *, include_revoked: bool = True) -> list[TokenInfo]:
        """Every token (without secrets), oldest first."""
        query = select(tokens).order_by(tokens.c.id)
        if not include_revoked:
            query = query.where(tokens.c.revoked_at.is_(None))
        with translate_errors("list tokens"), self.read() as conn:
            return [_info(r) for r in conn.execute(query).mappings()]

    def revoke_token(self, ident: str | int) -> TokenInfo:
        """Revoke the token with this id (a number) or prefix (``cp_...``, at least 6 characters).

        Revoking an already revoked token keeps its first revocation time.

        Raises:
            UnknownToken: when nothing matches, or a prefix matches more than one token.
        """
        text = str(ident).strip()
        with translate_errors("revoke token"), self.write() as conn:
            if text.isdigit():
                rows = conn.execute(select(tokens).where(tokens.c.id == int(text))).mappings().all()
            elif len(text) >= 6:
                # Prefix match done in Python: the prefix column is short and LIKE would need escaping.
                candidates = conn.execute(select(tokens)).mappings().all()
                rows = [r for r in candidates if r["prefix"].startswith(text[:PREFIX_LEN])]
            else:
                rows = []
            if len(rows) != 1:
                what = "no token" if not rows else f"{len(rows)} tokens"
                raise UnknownToken(
                    f"{what} match {describe_value(text)}; give an id or a longer prefix", field="token"
                )
            row = rows[0]
            if row["revoked_at"] is None:
                conn.execute(update(tokens).where(tokens.c.id == row["id"]).values(revoked_at=now()))
            row = conn.execute(select(tokens).where(tokens.c.id == row["id"])).mappings().one()
        return _info(row)
