"""The only module that talks to the database (SQLAlchemy Core).

``Store.open(db)`` opens SQLite (WAL; a file path, or the default file under the user's data directory) or
PostgreSQL (a ``postgresql://`` URL), migrates it to the newest schema, and returns a store whose methods each
run in one transaction: a bad batch stores nothing.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from capacity.store.db import (
    Database,
    default_db_path,
    make_engine,
    migrate,
    redact,
    to_url,
    translate_errors,
)
from capacity.store.events import EventRepository
from capacity.store.fleet import FleetRepository
from capacity.store.forecasts import ForecastRepository, StoredForecast
from capacity.store.gauges import GaugeRepository
from capacity.store.jobs import JobRepository
from capacity.store.ledger import LedgerRepository
from capacity.store.loadtests import LoadTestRepository
from capacity.store.plans import PlanRepository
from capacity.store.secrets import SecretRepository
from capacity.store.series import IngestReport, SeriesInfo, SeriesRepository
from capacity.store.tokens import TokenRepository

__all__ = ["IngestReport", "SeriesInfo", "Store", "StoredForecast", "default_db_path"]


class Store:
    """A handle on the database: one repository per kind of record, sharing one :class:`Database`.

    ``store.series`` (series and samples), ``store.forecasts`` (forecast runs), ``store.events`` (the calendar),
    ``store.tokens`` (API tokens), ``store.jobs`` (background jobs), ``store.loadtests`` (load-test results),
    ``store.plans`` (capacity plans and their scores),
    ``store.ledger`` (each forecast's live accuracy), ``store.gauges`` (the per-series gauges of ``/metrics``),
    ``store.fleet`` (one version of everything fleet-wide answers rest on).
    Thread-safe: each call checks a connection out of the engine's pool.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.db = Database(engine)
        self.series = SeriesRepository(self.db)
        self.forecasts = ForecastRepository(self.db)
        self.events = EventRepository(self.db)
        self.tokens = TokenRepository(self.db)
        self.jobs = JobRepository(self.db)
        self.loadtests = LoadTestRepository(self.db)
        self.plans = PlanRepository(self.db)
        self.ledger = LedgerRepository(self.db)
        self.gauges = GaugeRepository(self.db)
        self.fleet = FleetRepository(self.db)
        self.secrets = SecretRepository(self.db)

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

    def write(self) -> AbstractContextManager[Connection]:
        """A write transaction (SQLite: ``BEGIN IMMEDIATE``); commits on success, rolls back on any error."""
        return self.db.write()

    def read(self) -> AbstractContextManager[Connection]:
        """A read transaction."""
        return self.db.read()

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
        self.tokens.close_revocation_connections()
        self.engine.dispose()


def describe_db(db: str | Path | None) -> str:
    """A human description of where ``db`` points (password hidden)."""
    return redact(to_url(db))
