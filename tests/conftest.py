"""Shared fixtures: a temporary SQLite store, a real PostgreSQL server started for the session, a fresh database on
it, and a store on either backend. Helper functions the tests share live in :mod:`tests.support`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from capacity.store import Store


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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest) -> Store:
    """The SQLite store, then the PostgreSQL one."""
    name = "store" if request.param == "sqlite" else "pg_store"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]
