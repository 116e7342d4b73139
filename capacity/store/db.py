"""Opening the database: SQLite (WAL) by default, PostgreSQL by URL, migrated to the newest schema on open."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import NullPool

from capacity.errors import InvalidInput, StoreError

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
_MIGRATE_LOCK = threading.Lock()


def default_db_path() -> Path:
    """Where the database lives when no ``--db`` or ``CAPACITY_DB`` is given: the user's data directory."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "capacity-planner" / "capacity.db"


def to_url(db: str | Path | None) -> str:
    """Turn ``--db`` (a URL, a file path, or None for the default file) into a SQLAlchemy URL (creates nothing)."""
    if db is None or str(db) == "":
        db = default_db_path()
    text = str(db)
    if "://" in text:
        if text.startswith("postgres://"):
            text = "postgresql://" + text[len("postgres://") :]
        if text.startswith("postgresql://"):
            text = "postgresql+psycopg://" + text[len("postgresql://") :]
        return text
    return f"sqlite:///{Path(text).expanduser()}"


def sqlite_file(db: str | Path | None) -> Path | None:
    """The SQLite file ``db`` names (the default file for None), or None for a server database (a URL).

    Only a file can be "missing": a server database exists once its server's admin created it, and its schema is
    migrated on first use.
    """
    url = to_url(db)
    if not url.startswith("sqlite:///"):
        return None
    name = url[len("sqlite:///") :]
    return None if name in ("", ":memory:") else Path(name)


def require_database(db: str | Path | None, *, create: bool) -> Path | None:
    """Check that the SQLite file ``db`` names exists, unless ``create`` allows making it.

    A mistyped ``--db`` must not quietly create an empty database (and its folders) and report success on it.

    Returns:
        The SQLite file when it was missing and will be created, else None.

    Raises:
        InvalidInput: naming the path, when the file does not exist and ``create`` is False.
    """
    path = sqlite_file(db)
    if path is None or path.exists():
        return None
    if not create:
        folder = "" if path.parent.is_dir() else f"; its folder {path.parent} does not exist either"
        raise InvalidInput(
            f"database {path} does not exist{folder}. Is --db (or CAPACITY_DB) mistyped? To start a new one: "
            f"capacity init --db {path} (or add --create)",
            field="db",
        )
    return path


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False}, poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN so writers can take the lock up front (IMMEDIATE):
        # a deferred transaction that upgrades to a write lock can fail with "database is locked".
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get("write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def make_engine(db: str | Path | None) -> Engine:
    """Create the engine for ``db`` (see :func:`to_url`); a SQLite file's folder is created when missing (the CLI
    asks :func:`require_database` first).

    Raises:
        StoreError: when the URL names a driver that is not installed.
    """
    url = to_url(db)
    path = sqlite_file(db)
    try:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        if url.startswith("sqlite"):
            return _sqlite_engine(url)
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    except (ImportError, ModuleNotFoundError) as exc:
        raise StoreError(
            f"cannot open {redact(url)}: driver missing ({exc}); install the extra: pip install 'capacity-planner[postgres]'"
        ) from None
    except Exception as exc:  # ArgumentError for a malformed URL
        raise StoreError(f"cannot open database {redact(url)}: {exc}") from None


def redact(url: str) -> str:
    """A URL with its password replaced by ``***``, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to the newest migration (Alembic), creating it on an empty database; ``revision`` stops at
    an older one (tests that build a database as an earlier release left it).

    Raises:
        StoreError: when the database cannot be reached or migrated.
    """

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    try:
        # Alembic's environment is module-global state: two threads migrating at once crash (KeyError 'script').
        with _MIGRATE_LOCK, engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except (OperationalError, DBAPIError) as exc:
        raise StoreError(
            f"cannot reach or migrate the database {redact(str(engine.url))}: {_first_line(exc)}"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", exc)) or type(exc).__name__
    return text.strip().splitlines()[0]


def now() -> int:
    """The current time in epoch seconds; the store's only reading of the clock."""
    return int(time.time())


@contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """Turn driver errors (unreachable server, locked file, full disk) into :class:`StoreError`."""
    try:
        yield
    except (OperationalError, DBAPIError) as exc:
        raise StoreError(f"{what} failed: {_first_line(exc)}") from None


class Database:
    """The engine and the two kinds of transaction every repository of the store runs in.

    Each call checks a connection out of the engine's pool, so one ``Database`` serves every thread.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (SQLite: ``BEGIN IMMEDIATE``); commits on success, rolls back on any error."""
        with self.engine.connect().execution_options(write=True) as conn, conn.begin():
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction."""
        with self.engine.connect() as conn, conn.begin():
            yield conn
