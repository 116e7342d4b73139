"""The only module that talks to the database (SQLAlchemy Core).

``Store.open(db)`` opens SQLite (WAL; a file path, or the default file under the user's data directory) or
PostgreSQL (a ``postgresql://`` URL), migrates it to the newest schema, and returns a store whose methods each
run in one transaction: a bad batch stores nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from capacity.store.auth import TokenStore
from capacity.store.calendar import EventStore
from capacity.store.db import default_db_path, make_engine, migrate, redact, to_url, translate_errors
from capacity.store.forecasts import ForecastStore, StoredForecast
from capacity.store.jobs import JobStore
from capacity.store.loadtests import LoadTestStore
from capacity.store.series import IngestReport, SeriesInfo, SeriesStore

__all__ = ["IngestReport", "SeriesInfo", "Store", "StoredForecast", "default_db_path"]


class Store(SeriesStore, ForecastStore, EventStore, TokenStore, JobStore, LoadTestStore):
    """A handle on the database. Thread-safe: each call checks a connection out of the engine's pool."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, db: str | Path | None = None, *, migrate_schema: bool = True) -> Store:
        """Open (and by default migrate) the database named by ``db``: a URL, a file path, or None for the default.

        Raises:
            StoreError: when it cannot be reached or migrated.
        """
        engine = make_engine(db)
        if migrate_schema:
            migrate(engine)
        return cls(engine)

    @property
    def url(self) -> str:
        """The database URL with any password hidden."""
        return redact(self.engine.url.render_as_string(hide_password=False))

    @property
    def path(self) -> Path | None:
        """The SQLite file, or None for a server database."""
        if self.engine.dialect.name == "sqlite" and self.engine.url.database:
            return Path(self.engine.url.database)
        return None

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

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with translate_errors("ping"), self.read() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` result (``ok`` when sound); ``ok`` on other databases."""
        if self.engine.dialect.name != "sqlite":
            return "ok"
        with self.read() as conn:
            return str(conn.exec_driver_sql("PRAGMA integrity_check").scalar_one())

    def close(self) -> None:
        """Release the engine's connections and those kept for token revocation checks."""
        self.close_revocation_connections()
        self.engine.dispose()


def describe_db(db: str | Path | None) -> str:
    """A human description of where ``db`` points (password hidden)."""
    return redact(to_url(db))
