"""Shared fixtures: a temporary SQLite store, and a real PostgreSQL server started for the session."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from capacity.store import Store

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hourly_history(service: str = "svc", metric: str = "cpu", days: int = 21, seed: int = 0) -> pd.DataFrame:
    """A seeded hourly history with daily and weekly cycles (canonical columns)."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-01-01", periods=days * 24, freq="h", tz="UTC")
    hour = ts.hour.to_numpy()
    dow = ts.dayofweek.to_numpy()
    value = 40 + 15 * np.sin(2 * np.pi * (hour - 6) / 24) - 5 * (dow >= 5) + rng.normal(0, 1.5, len(ts))
    return pd.DataFrame({"service": service, "metric": metric, "ts": ts, "value": np.clip(value, 0, 100)})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A migrated SQLite store in a temporary file."""
    s = Store.open(tmp_path / "test.db")
    yield s
    s.close()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL: CAPACITY_TEST_PG_URL when set, else a throwaway server started on loopback.

    Skips (saying why) only when no server can be had: no PostgreSQL binaries, or running as root without a
    ``postgres`` user to run them as.
    """
    url = os.environ.get("CAPACITY_TEST_PG_URL")
    if url:
        yield url
        return
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (pip install '.[postgres]'), so PostgreSQL tests cannot run")
    from capacity.errors import BenchSetupError
    from capacity.testing.postgres import Postgres

    try:
        server = Postgres.start()
    except BenchSetupError as exc:
        pytest.skip(f"no PostgreSQL server for the tests: {exc}")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def pg_database(pg_url: str) -> Iterator[str]:
    """The URL of a fresh, empty (not migrated) PostgreSQL database on the test server; dropped afterwards."""
    import uuid

    import sqlalchemy as sa

    name = "t_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(
        pg_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield pg_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_store(pg_database: str) -> Iterator[Store]:
    """A migrated store on a fresh PostgreSQL database (dropped afterwards)."""
    s = Store.open(pg_database)
    try:
        yield s
    finally:
        s.close()
