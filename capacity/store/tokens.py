"""API tokens: create, verify, revoke, list. Only a SHA-256 hash of each token is stored.

A token is ``cp_`` followed by 43 URL-safe characters (32 random bytes). Its first 11 characters are kept as a
prefix so a person can name a token (``capacity token revoke cp_AbCdEfGh``) without the secret. Scopes are
ordered: ``admin`` implies ``write``, which implies ``read``.

Servers cache verified tokens. :meth:`TokenRepository.revocation_generation` tells them, at the cost of one tiny query on
a connection each running thread keeps, whether any token was revoked since they cached one (by any process: another
worker, ``capacity token revoke``), so a revocation takes effect on the next request everywhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import threading
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Engine, and_, select, update

from capacity.errors import InvalidInput, StoreError, UnknownToken, describe_value
from capacity.schema import NAME_MAX
from capacity.store.db import Database, now, translate_errors
from capacity.store.tables import tokens

#: Scopes in increasing power; holding one grants every scope before it.
SCOPES: tuple[str, ...] = ("read", "write", "admin")
TOKEN_PREFIX = "cp_"
PREFIX_LEN = 11
#: The largest token id: ids are 32-bit integers on PostgreSQL (``serial``), so no token can have a larger one, and
#: a bigger number is "no such token", never an overflow in the driver. The API's path schema says the same.
MAX_TOKEN_ID = 2**31 - 1


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


#: Revocations only ever add revoked tokens (tokens are never deleted or un-revoked), so their count is a
#: generation number that grows with every revocation. Constant SQL: no user input reaches it.
_GENERATION_SQL = f"SELECT count(revoked_at) FROM {tokens.name}"


class _GenerationConnections:
    """Detached DBAPI connections for :meth:`TokenRepository.revocation_generation`: one per running thread.

    Each connection is filed under its thread's ident with a weak reference to the thread. When a thread needs a
    connection, those of threads that have ended (a thread-per-request server ends one per request) are reclaimed:
    one is handed to the new thread, the rest are closed. So the connections never outnumber the threads running at
    once, and :meth:`close` (from ``Store.close``) closes them all.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conns: dict[int, tuple[weakref.ref[threading.Thread], Any]] = {}
        self._lock = threading.Lock()
        weakref.finalize(self, _close_all, self._conns)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Driver errors, raised by the DBAPI connection itself or through the engine, as :class:`StoreError`."""
        with translate_errors("check token revocations"):
            try:
                yield
            except self.engine.dialect.loaded_dbapi.Error as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise StoreError(f"check token revocations failed: {first}") from None

    def _connect(self) -> Any:
        with self._errors():
            fairy = self.engine.raw_connection()  # runs the engine's connect hooks (SQLite: WAL, autocommit)
            conn: Any = fairy.driver_connection
            fairy.detach()  # ours from now on: the pool neither counts, resets nor closes it
            try:
                if self.engine.dialect.name != "sqlite":  # SQLite connections are in autocommit mode already
                    conn.rollback()  # the pool's pre-ping may have opened a transaction
                    conn.autocommit = True
            except BaseException:
                _close_quietly(conn)
                raise
        return conn

    def _mine(self) -> Any:
        """This thread's connection: its own, else one an ended thread left, else a new one."""
        me = threading.current_thread()
        ident = threading.get_ident()
        entry = self._conns.get(ident)
        if entry is not None and entry[0]() is me:
            return entry[1]
        conn = None
        with self._lock:
            for other in [i for i, (ref, _) in self._conns.items() if not _running(ref())]:
                spare = self._conns.pop(other)[1]
                if conn is None:
                    conn = spare
                else:
                    _close_quietly(spare)
        if conn is None:
            conn = self._connect()
        with self._lock:
            self._conns[ident] = (weakref.ref(me), conn)
        return conn

    def _forget(self, conn: Any) -> None:
        """Drop and close a connection that failed (the next call opens a new one)."""
        with self._lock:
            for ident, (_, mine) in list(self._conns.items()):
                if mine is conn:
                    del self._conns[ident]
        _close_quietly(conn)

    def query(self) -> int:
        """The revocation generation, read on this thread's connection.

        Raises:
            StoreError: when the database cannot be reached.
        """
        conn = self._mine()
        try:
            with self._errors():
                cursor = conn.cursor()
                try:
                    cursor.execute(_GENERATION_SQL)
                    return int(cursor.fetchone()[0])
                finally:
                    cursor.close()
        except StoreError:
            self._forget(conn)
            raise

    def close(self) -> None:
        """Close every connection (a later call opens new ones)."""
        with self._lock:
            _close_all(self._conns)


def _running(thread: threading.Thread | None) -> bool:
    return thread is not None and thread.is_alive()


def _close_quietly(conn: Any) -> None:
    with contextlib.suppress(Exception):
        conn.close()


def _close_all(conns: dict[int, tuple[Any, Any]]) -> None:
    for _, conn in conns.values():
        _close_quietly(conn)
    conns.clear()


class TokenRepository:
    """API tokens: create, verify, revoke, list (only a hash of each secret is stored).

    Every method runs in one transaction of the shared :class:`~capacity.store.db.Database`.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

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
        with translate_errors("create token"), self.db.write() as conn:
            token_id = conn.execute(
                tokens.insert().values(
                    name=name,
                    token_hash=hash_token(secret),
                    prefix=secret[:PREFIX_LEN],
                    scopes=",".join(granted),
                    created_at=now(),
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            row = conn.execute(select(tokens).where(tokens.c.id == token_id)).mappings().one()
        return _info(row), secret

    def verify_token(self, secret: str) -> TokenInfo | None:
        """The active token whose secret is ``secret``, or None (unknown, malformed or revoked)."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            return None
        with translate_errors("verify token"), self.db.read() as conn:
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

    def revocation_generation(self) -> int:
        """A number that grows with every token revocation; cheap enough to ask on every request.

        Each calling thread keeps one database connection of its own for this query, outside the engine's pool
        (so it never holds a pooled connection that requests need, and skips the pool's per-checkout work), in
        autocommit mode so every call sees the latest committed revocations. A thread that ends leaves its
        connection to the next new thread (or it is closed then), so there are never more of these connections
        than threads running at once. A connection that fails is closed and the next call opens a new one;
        :meth:`close_revocation_connections` (``Store.close``) closes them all.

        Raises:
            StoreError: when the database cannot be reached.
        """
        generation = self.__dict__.get("_generation")
        if generation is None:
            generation = self.__dict__.setdefault("_generation", _GenerationConnections(self.db.engine))
        return generation.query()

    def close_revocation_connections(self) -> None:
        """Close the connections :meth:`revocation_generation` keeps (the next call opens a new one)."""
        generation = self.__dict__.get("_generation")
        if generation is not None:
            generation.close()

    def touch_token(self, token_id: int) -> None:
        """Record that a token was just used."""
        with translate_errors("touch token"), self.db.write() as conn:
            conn.execute(update(tokens).where(tokens.c.id == token_id).values(last_used_at=now()))

    def list_tokens(self, *, include_revoked: bool = True) -> list[TokenInfo]:
        """Every token (without secrets), oldest first."""
        query = select(tokens).order_by(tokens.c.id)
        if not include_revoked:
            query = query.where(tokens.c.revoked_at.is_(None))
        with translate_errors("list tokens"), self.db.read() as conn:
            return [_info(r) for r in conn.execute(query).mappings()]

    def revoke_token(self, ident: str | int) -> TokenInfo:
        """Revoke the token with this id (a number) or prefix (``cp_...``, at least 6 characters).

        Revoking an already revoked token keeps its first revocation time.

        Raises:
            UnknownToken: when nothing matches, or a prefix matches more than one token.
        """
        text = str(ident).strip()
        with translate_errors("revoke token"), self.db.write() as conn:
            if text.isascii() and text.isdigit():
                # An id out of range names no token and is not looked up: SQLite and the drivers overflow on
                # numbers past 64 bits, and int() refuses very long digit strings.
                digits = text.lstrip("0")
                token_id = int(digits) if 0 < len(digits) <= len(str(MAX_TOKEN_ID)) else 0
                rows = []
                if 1 <= token_id <= MAX_TOKEN_ID:
                    query = select(tokens).where(tokens.c.id == token_id)
                    rows = list(conn.execute(query).mappings().all())
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
