"""The events calendar in the database: replace, add, list, delete occurrences.

A forecast with events depends on the calendar (learned uplifts, planner multipliers), so every calendar write
also brings each series' ``events_digest`` up to date in the same transaction: a digest of the occurrences that
apply to the series (fleet-wide ones and its service's). A forecast run records the digest of the occurrences its
spec used; when the two differ the run is stale, exactly as when the series' ``data_version`` moved on. The digest
depends only on the occurrences' content, so re-sending an identical calendar changes no digest and stales nothing.

On PostgreSQL (READ COMMITTED) two transactions could each read the calendar before the other committed and write
digests of a calendar that never existed (or a series created during a calendar write could miss the write): every
calendar write and every digest sync first takes one transaction-scoped advisory lock (:func:`lock_calendar`), so
they run one after the other and each reads the events the previous one committed. SQLite needs no lock: a write
transaction already holds the database (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Connection, and_, bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from capacity.errors import UnknownEvent
from capacity.events.calendar import EventOccurrence, check_distinct
from capacity.store.db import Database, now, translate_errors
from capacity.store.staleness import staleness_by_series
from capacity.store.tables import events, series

FLEET = "*"
#: The PostgreSQL advisory lock key that serializes calendar writes and digest syncs (any constant 64-bit integer
#: unused elsewhere: "capacity-calendar" as ASCII, truncated).
CALENDAR_LOCK = 0x6361_6C65_6E64_6172
#: Hex characters kept of the SHA-256 (64 bits: a collision between two calendars of one series is not a concern).
DIGEST_CHARS = 16


def calendar_digest(occurrences: Iterable[EventOccurrence]) -> str:
    """A short digest of a set of occurrences, independent of their order.

    Every field the engine reads counts (name, window, multiplier band, scope); where an occurrence came from does
    not. Times are whole seconds, as the store keeps them, so a spec's events and the stored rows they were read
    from give the same digest.
    """
    items = sorted(
        json.dumps(
            [
                o.name,
                int(o.start.timestamp()),
                int(o.end.timestamp()),
                None if o.multiplier_low is None else float(o.multiplier_low),
                None if o.multiplier_high is None else float(o.multiplier_high),
                o.service or FLEET,
            ]
        )
        for o in occurrences
    )
    return hashlib.sha256("\n".join(items).encode()).hexdigest()[:DIGEST_CHARS]


def digests_by_service(occurrences: Sequence[EventOccurrence], services: Iterable[str]) -> dict[str, str]:
    """The calendar digest of each service: the fleet-wide occurrences plus the service's own."""
    fleet = [o for o in occurrences if o.service is None]
    own: dict[str, list[EventOccurrence]] = {}
    for o in occurrences:
        if o.service is not None:
            own.setdefault(o.service, []).append(o)
    fleet_only = calendar_digest(fleet)  # most services have no events of their own
    return {s: calendar_digest([*fleet, *own[s]]) if s in own else fleet_only for s in set(services)}


def lock_calendar(conn: Connection) -> None:
    """Serialize this transaction's calendar reads and writes with every other calendar write (PostgreSQL only).

    Call it first thing in a transaction that writes events, and before reading the events a digest is computed
    from. The lock is released when the transaction ends; taking it again in the same transaction is harmless.
    SQLite's write transactions are already serialized, so this does nothing there.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(CALENDAR_LOCK)))


def sync_digests(conn: Connection, *, only_missing: bool = False) -> int:
    """Bring every series' ``events_digest`` up to date with the stored calendar (inside the caller's transaction).

    A series whose digest changes gets ``events_changed_at`` set to now (unless it had none: that is its first
    digest, not a change).

    Args:
        conn: a connection inside a write transaction.
        only_missing: only series without a digest yet (just created).

    Returns:
        How many series' calendars changed (their forecasts are now stale).
    """
    lock_calendar(conn)  # before reading series and events: see the module docstring
    query = select(series.c.id, series.c.service, series.c.events_digest)
    if only_missing:
        query = query.where(series.c.events_digest.is_(None))
    rows = conn.execute(query).all()
    if not rows:
        return 0
    calendar = [_occurrence(r) for r in conn.execute(select(events)).mappings()]
    digests = digests_by_service(calendar, (r[1] for r in rows))
    t = now()
    changes = [
        {"sid": r[0], "digest": digests[r[1]], "changed": t if r[2] is not None else None}
        for r in rows
        if digests[r[1]] != r[2]
    ]
    if changes:
        conn.execute(
            update(series)
            .where(series.c.id == bindparam("sid"))
            .values(events_digest=bindparam("digest"), events_changed_at=bindparam("changed")),
            changes,
        )
    return sum(1 for c in changes if c["changed"] is not None)


def _row(occ: EventOccurrence, source: str, name: str | None = None) -> dict[str, Any]:
    return {
        "name": occ.name if name is None else name,
        "start": int(occ.start.timestamp()),
        "end": int(occ.end.timestamp()),
        "multiplier_low": occ.multiplier_low,
        "multiplier_high": occ.multiplier_high,
        "scope": occ.service or FLEET,
        "source": source,
    }


def _spellings(conn: Connection, name: str) -> list[str]:
    """The stored names that are ``name`` in any case.

    Compared in Python, not with SQL ``lower()``: SQLite's folds ASCII letters only (and PostgreSQL's depends on the
    database's locale), so an event named "Été" or "İstanbul" would be found by no other spelling, and a PUT would
    delete nothing before inserting its rows again. A calendar holds few distinct names, so reading them is cheap.
    """
    key = name.lower()
    return [n for (n,) in conn.execute(select(events.c.name).distinct()) if n.lower() == key]


def _matching(
    conn: Connection, name: str, service: str | None, start_day: dt.date | None
) -> ColumnElement[bool]:
    """The rows of event ``name`` (any case), scoped to ``service`` and starting on UTC day ``start_day`` if given."""
    clauses: list[ColumnElement[bool]] = [events.c.name.in_(_spellings(conn, name))]
    if service is not None:
        clauses.append(events.c.scope == service)
    if start_day is not None:
        day = int(pd.Timestamp(start_day, tz="UTC").timestamp())
        clauses += [events.c.start >= day, events.c.start < day + 86_400]
    return and_(*clauses)


def _occurrence(row: Any) -> EventOccurrence:
    return EventOccurrence(
        name=row["name"],
        start=pd.Timestamp(row["start"], unit="s", tz="UTC"),
        end=pd.Timestamp(row["end"], unit="s", tz="UTC"),
        multiplier_low=row["multiplier_low"],
        multiplier_high=row["multiplier_high"],
        service=None if row["scope"] == FLEET else row["scope"],
    )


class EventRepository:
    """The events calendar: add, replace, list, delete occurrences; each write brings the series' calendar digests up to date.

    Every method runs in one transaction of the shared :class:`~capacity.store.db.Database`.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def add_events(self, occurrences: Iterable[EventOccurrence], source: str = "api") -> int:
        """Add (or update the multipliers/end of) occurrences in one transaction; returns how many were given."""

        given = list(occurrences)
        check_distinct(given)
        if not given:
            return 0
        with translate_errors("store events"), self.db.write() as conn:
            lock_calendar(conn)
            # an event already stored keeps its spelling, so that "black friday" updates "Black Friday"'s rows
            stored = {n.lower(): n for (n,) in conn.execute(select(events.c.name).distinct())}
            rows = [_row(o, source, stored.get(o.name.lower(), o.name)) for o in given]
            insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            stmt = insert(events)
            stmt = stmt.on_conflict_do_update(
                index_elements=["name", "start", "scope"],
                set_={c: stmt.excluded[c] for c in ("end", "multiplier_low", "multiplier_high", "source")},
            )
            conn.execute(stmt, rows)
            sync_digests(conn)
        return len(rows)

    def replace_event(self, name: str, occurrences: Iterable[EventOccurrence], source: str = "api") -> int:
        """Replace every occurrence of ``name`` by ``occurrences`` in one transaction."""
        given = list(occurrences)
        check_distinct(given)
        rows = [_row(o, source) for o in given]
        with translate_errors("store events"), self.db.write() as conn:
            lock_calendar(conn)
            conn.execute(delete(events).where(events.c.name.in_(_spellings(conn, name))))
            if rows:
                conn.execute(events.insert(), rows)
            sync_digests(conn)
        return len(rows)

    def list_events(
        self, name: str | None = None, *, service: str | None = None, start_day: dt.date | None = None
    ) -> list[EventOccurrence]:
        """Every stored occurrence (of ``name`` when given), sorted by start.

        Args:
            name: only this event (any case).
            service: with ``name``, only its occurrences scoped to this service (not the fleet-wide ones).
            start_day: with ``name``, only its occurrences starting on this UTC day.
        """
        query = select(events).order_by(events.c.start, events.c.name)
        with translate_errors("list events"), self.db.read() as conn:
            if name is not None:
                query = query.where(_matching(conn, name, service, start_day))
            return [_occurrence(r) for r in conn.execute(query).mappings()]

    def delete_event(self, name: str, *, service: str | None = None, start_day: dt.date | None = None) -> int:
        """Delete the occurrences of ``name`` (all of them, or only those matching the filters) in one transaction.

        The series' calendar digests are brought up to date in the same transaction, so the forecasts made with
        the deleted occurrences become stale.

        Args:
            name: the event (any case).
            service: only its occurrences scoped to this service (not the fleet-wide ones).
            start_day: only its occurrences starting on this UTC day.

        Returns:
            How many occurrences were deleted (at least one).

        Raises:
            UnknownEvent: when no occurrence matches.
        """
        with translate_errors("delete event"), self.db.write() as conn:
            lock_calendar(conn)
            n = conn.execute(delete(events).where(_matching(conn, name, service, start_day))).rowcount
            sync_digests(conn)
        if not n:
            if service is None and start_day is None:
                raise UnknownEvent(f"unknown event {name!r}", field="event")
            only = (f" for service {service!r}" if service else "") + (
                f" starting on {start_day.isoformat()}" if start_day else ""
            )
            raise UnknownEvent(f"no occurrence of event {name!r}{only}", field="event")
        return int(n)

    def event_exists(self, name: str) -> bool:
        """True when some occurrence of ``name`` is stored."""
        with translate_errors("read events"), self.db.read() as conn:
            return bool(_spellings(conn, name))

    def calendar_digests(self) -> dict[tuple[str, str], str | None]:
        """Each series' current calendar digest (one small query: for telling what a calendar write changed)."""
        with translate_errors("read series"), self.db.read() as conn:
            rows = conn.execute(select(series.c.service, series.c.metric, series.c.events_digest)).all()
        return {(r[0], r[1]): r[2] for r in rows}

    def calendar_stale_series(self) -> list[tuple[str, str]]:
        """The series that need a new forecast, sorted: exactly what ``capacity forecast --stale`` forecasts.

        After a calendar write these are the forecasts it made stale (with any that were stale already); the rule
        is :mod:`capacity.store.staleness`'s, the one every caller uses.
        """
        with translate_errors("read events"), self.db.read() as conn:
            return [key for key, why in staleness_by_series(conn).items() if why]
