"""The connections behind ``Store.revocation_generation``: one per running thread, reclaimed from ended threads,
all closed by ``Store.close``; a database error while opening one is a StoreError (a 503), never a traceback."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from api import create_app
from capacity.errors import StoreError
from capacity.store import Store
from tests.support.api import assert_problem


def open_fds(db: Path) -> int:
    """This process's file descriptors on the SQLite file ``db`` and its WAL files."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor is gone by now
            count += os.readlink(f"/proc/self/fd/{fd}").startswith(str(db))
    return count


def in_threads(fn: Callable[[], Any], n: int, *, together: bool) -> list[Any]:
    """Run ``fn`` on ``n`` threads, one after another or all alive at once; returns their results."""
    results: list[Any] = [None] * n
    barrier = threading.Barrier(n) if together else None

    def run(i: int) -> None:
        results[i] = fn()
        if barrier is not None:
            barrier.wait(timeout=30)  # every thread holds its connection until all have one

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
        if not together:
            t.join()
    for t in threads:
        t.join()
    return results


def test_sqlite_short_lived_threads_do_not_accumulate_connections(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    store = Store.open(db)
    store.tokens.revocation_generation()  # this thread's connection: the database, its WAL and the WAL index
    base = open_fds(db)
    in_threads(store.tokens.revocation_generation, 1, together=False)
    one = open_fds(db) - base  # what one more thread's connection costs
    assert one > 0
    assert in_threads(store.tokens.revocation_generation, 60, together=False) == [0] * 60
    assert open_fds(db) - base <= one  # 60 threads that ended leave at most one connection behind
    store.close()
    assert open_fds(db) == 0  # even the main thread's connection is gone


def test_sqlite_descriptors_follow_concurrency_not_thread_count(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    store = Store.open(db)
    store.tokens.revocation_generation()
    base = open_fds(db)
    in_threads(store.tokens.revocation_generation, 1, together=False)
    one = open_fds(db) - base
    in_threads(store.tokens.revocation_generation, 8, together=True)
    peak = open_fds(db)
    assert peak - base >= 8 * one - 1  # eight threads alive at once: eight connections (one was reused)
    store.tokens.create_token(["read"])
    store.tokens.revoke_token(1)
    for _ in range(5):
        # A reclaimed connection sees the latest revocation like a new one.
        assert in_threads(store.tokens.revocation_generation, 8, together=True) == [1] * 8
        assert in_threads(store.tokens.revocation_generation, 10, together=False) == [1] * 10
        # SQLite may keep a closed connection's descriptor open (its POSIX-lock rule) to reuse it for the next
        # one, so the count is not the connection count; it must not grow with the threads started.
        assert open_fds(db) <= peak
    store.close()
    assert open_fds(db) == 0


def test_store_close_then_reuse(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "t.db")
    assert store.tokens.revocation_generation() == 0
    store.close()
    store.tokens.create_token(["read"])
    store.tokens.revoke_token(1)
    assert store.tokens.revocation_generation() == 1  # a closed store's engine reconnects; so does this
    store.close()


def raised(fn: Callable[[], Any]) -> BaseException | None:
    """What ``fn`` raised, or None."""
    try:
        fn()
    except BaseException as exc:
        return exc
    return None


def backends(admin: sa.Engine, database: str) -> int:
    with admin.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"
                ),
                {"d": database},
            ).scalar_one()
        )


def settled(admin: sa.Engine, database: str, want: Callable[[int], bool]) -> int:
    """The backend count once it satisfies ``want`` (a closed connection's backend exits a moment later)."""
    count = backends(admin, database)
    deadline = time.monotonic() + 10
    while not want(count) and time.monotonic() < deadline:
        time.sleep(0.05)
        count = backends(admin, database)
    return count


@pytest.fixture
def pg_admin(pg_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"), poolclass=sa.NullPool)
    yield engine
    engine.dispose()


def test_postgres_short_lived_threads_and_close(pg_store: Store, pg_admin: sa.Engine) -> None:
    database = str(pg_store.engine.url.database)
    pg_store.tokens.revocation_generation()
    base = settled(pg_admin, database, lambda n: n > 0)
    assert in_threads(pg_store.tokens.revocation_generation, 40, together=False) == [0] * 40
    assert settled(pg_admin, database, lambda n: n <= base + 1) <= base + 1  # not base + 40
    in_threads(pg_store.tokens.revocation_generation, 5, together=True)
    assert settled(pg_admin, database, lambda n: n >= base + 5) == base + 5
    in_threads(pg_store.tokens.revocation_generation, 1, together=False)
    assert settled(pg_admin, database, lambda n: n <= base + 1) == base + 1
    pg_store.close()
    assert settled(pg_admin, database, lambda n: n == 0) == 0  # pool and revocation connections all closed


def kill_next_checkout(store: Store, pg_admin: sa.Engine) -> dict[str, Any]:
    """On the next pool checkout, leave a transaction open (as a generic pre-ping does), then kill the backend.

    The revocation connection must then roll that transaction back on a dead server: a real driver error.
    """
    seen: dict[str, Any] = {}

    def on_checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        if seen:
            return  # once only
        dbapi_conn.execute("SELECT 1")  # not in autocommit mode: this opens a transaction
        seen["status"] = dbapi_conn.info.transaction_status.name
        with pg_admin.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": dbapi_conn.info.backend_pid})
        time.sleep(0.2)  # let the backend exit before the connection is used

    event.listen(store.engine, "checkout", on_checkout)
    return seen


def test_postgres_error_while_preparing_the_connection_is_a_503(pg_store: Store, pg_admin: sa.Engine) -> None:
    app = create_app({"worker": False}, store=pg_store)
    _, secret = pg_store.tokens.create_token(["read"])
    headers = {"Authorization": f"Bearer {secret}"}
    client = app.test_client()
    assert client.get("/api/v1/services", headers=headers).status_code == 200
    seen = kill_next_checkout(pg_store, pg_admin)
    errors = in_threads(lambda: raised(pg_store.tokens.revocation_generation), 1, together=False)
    assert isinstance(errors[0], StoreError) and "check token revocations failed" in str(errors[0])
    assert seen["status"] == "INTRANS"
    seen = kill_next_checkout(pg_store, pg_admin)
    body = in_threads(lambda: client.get("/api/v1/services", headers=headers), 1, together=False)[0]
    assert seen["status"] == "INTRANS"
    problem = assert_problem(body, 503)
    assert "check token revocations failed" in problem["detail"]
    assert client.get("/api/v1/services", headers=headers).status_code == 200  # the next request reconnects
