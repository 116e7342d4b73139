"""PostgreSQL: concurrent calendar writes (and a series created during one) leave every series' calendar digest equal
to the digest of the calendar actually stored, so no forecast stays stale for ever.

Real PostgreSQL (READ COMMITTED), two stores (two connection pools) and a thread. One calendar write is held open
on a connection after it has written its event and synced the digests; the other write starts meanwhile. Before the
advisory lock the second read the calendar without the first's event and overwrote the first's digests (or, for a
new series, never saw the first's event at all).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pandas as pd
import pytest
import sqlalchemy as sa

from capacity.events.calendar import EventOccurrence
from capacity.forecast.types import ForecastSpec
from capacity.services.forecasting import forecast_stored
from capacity.services.staleness import stale_keys
from capacity.store import Store
from capacity.store.events import _row, digests_by_service, sync_digests
from capacity.store.tables import events
from tests.support.data import hourly_history

A = EventOccurrence("A", pd.Timestamp("2024-02-01", tz="UTC"), pd.Timestamp("2024-02-02", tz="UTC"))
B = EventOccurrence("B", pd.Timestamp("2024-03-01", tz="UTC"), pd.Timestamp("2024-03-02", tz="UTC"))


@pytest.fixture
def other(pg_store: Store) -> Iterator[Store]:
    """A second store (its own connection pool) on the same PostgreSQL database."""
    second = Store.open(pg_store.engine.url.render_as_string(hide_password=False))
    try:
        yield second
    finally:
        second.close()


def _blocked_backends(store: Store) -> int:
    """How many other sessions of this database are waiting for a lock."""
    with store.read() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
        )


def _while_a_calendar_write_is_open(store: Store, concurrent: Callable[[], object]) -> None:
    """Run what ``add_events([A])`` does on ``store``, and ``concurrent`` in a thread while it is not committed.

    The open write commits once the thread has finished or is seen waiting for a lock.
    """
    errors: list[BaseException] = []

    def run() -> None:
        try:
            concurrent()
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run)
    with store.write() as conn:
        conn.execute(events.insert(), [_row(A, "api")])
        sync_digests(conn)
        thread.start()
        deadline = time.monotonic() + 30
        while thread.is_alive() and _blocked_backends(store) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # the waiting statement is the concurrent one's, not a passing read
    thread.join(timeout=60)
    assert not thread.is_alive(), "the concurrent write never finished"
    if errors:
        raise errors[0]


def _truth(store: Store) -> dict[tuple[str, str], str]:
    infos = store.series.list_series()
    digests = digests_by_service(store.events.list_events(), {s.service for s in infos})
    return {(s.service, s.metric): digests[s.service] for s in infos}


def _stored(store: Store) -> dict[tuple[str, str], str | None]:
    return {(s.service, s.metric): s.events_digest for s in store.series.list_series()}


def test_concurrent_calendar_writes_keep_every_digest_right(pg_store: Store, other: Store) -> None:
    pg_store.series.ingest(hourly_history("svc", "cpu", days=3))
    _while_a_calendar_write_is_open(pg_store, lambda: other.events.add_events([B]))
    assert sorted(e.name for e in pg_store.events.list_events()) == ["A", "B"]
    assert _stored(pg_store) == _truth(pg_store)
    # A refresh makes the series fresh (before the fix it stayed stale after every refresh).
    out = forecast_stored(pg_store, [("svc", "cpu")], ForecastSpec(horizon=24), resume=True)
    assert [o.ok for o in out] == [True]
    assert stale_keys(pg_store, [("svc", "cpu")]) == []


def test_a_series_created_during_a_calendar_write_gets_the_written_calendar(
    pg_store: Store, other: Store
) -> None:
    pg_store.series.ingest(hourly_history("svc", "cpu", days=3))
    _while_a_calendar_write_is_open(
        pg_store, lambda: other.series.ingest(hourly_history("new", "cpu", days=3))
    )
    assert _stored(pg_store) == _truth(pg_store)
    assert set(_stored(pg_store)) == {("svc", "cpu"), ("new", "cpu")}


def test_concurrent_deletes_and_replaces_keep_every_digest_right(pg_store: Store, other: Store) -> None:
    pg_store.series.ingest(hourly_history("svc", "cpu", days=3))
    pg_store.events.add_events([B])
    _while_a_calendar_write_is_open(pg_store, lambda: other.events.delete_event("B"))
    assert [e.name for e in pg_store.events.list_events()] == ["A"]
    assert _stored(pg_store) == _truth(pg_store)
    pg_store.events.delete_event("A")
    _while_a_calendar_write_is_open(pg_store, lambda: other.events.replace_event("B", [B]))
    assert sorted(e.name for e in pg_store.events.list_events()) == ["A", "B"]
    assert _stored(pg_store) == _truth(pg_store)
