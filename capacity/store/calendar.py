"""The events calendar in the database: replace, add, list, delete occurrences."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
from sqlalchemy import Engine, and_, delete, func, select

from capacity.errors import UnknownEvent
from capacity.events import EventOccurrence
from capacity.store.db import translate_errors
from capacity.store.tables import events

FLEET = "*"


def _row(occ: EventOccurrence, source: str) -> dict[str, Any]:
    return {
        "name": occ.name,
        "start": int(occ.start.timestamp()),
        "end": int(occ.end.timestamp()),
        "multiplier_low": occ.multiplier_low,
        "multiplier_high": occ.multiplier_high,
        "scope": occ.service or FLEET,
        "source": source,
    }


def _occurrence(row: Any) -> EventOccurrence:
    return EventOccurrence(
        name=row["name"],
        start=pd.Timestamp(row["start"], unit="s", tz="UTC"),
        end=pd.Timestamp(row["end"], unit="s", tz="UTC"),
        multiplier_low=row["multiplier_low"],
        multiplier_high=row["multiplier_high"],
        service=None if row["scope"] == FLEET else row["scope"],
    )


class EventStore:
    """Mixin: the events calendar."""

    engine: Engine

    def write(self) -> Any:  # pragma: no cover - provided by Store
        raise NotImplementedError

    def read(self) -> Any:  # pragma: no cover - provided by Store
        raise NotImplementedError

    def add_events(self, occurrences: Iterable[EventOccurrence], source: str = "api") -> int:
        """Add (or update the multipliers/end of) occurrences in one transaction; returns how many were given."""
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        rows = [_row(o, source) for o in occurrences]
        if not rows:
            return 0
        with translate_errors("store events"), self.write() as conn:
            insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            stmt = insert(events)
            stmt = stmt.on_conflict_do_update(
                index_elements=["name", "start", "scope"],
                set_={c: stmt.excluded[c] for c in ("end", "multiplier_low", "multiplier_high", "source")},
            )
            conn.execute(stmt, rows)
        return len(rows)

    def replace_event(self, name: str, occurrences: Iterable[EventOccurrence], source: str = "api") -> int:
        """Replace every occurrence of ``name`` by ``occurrences`` in one transaction."""
        rows = [_row(o, source) for o in occurrences]
        with translate_errors("store events"), self.write() as conn:
            conn.execute(delete(events).where(func.lower(events.c.name) == name.lower()))
            if rows:
                conn.execute(events.insert(), rows)
        return len(rows)

    def list_events(self, name: str | None = None) -> list[EventOccurrence]:
        """Every stored occurrence (of ``name`` when given), sorted by start."""
        query = select(events).order_by(events.c.start, events.c.name)
        if name is not None:
            query = query.where(func.lower(events.c.name) == name.lower())
        with translate_errors("list events"), self.read() as conn:
            return [_occurrence(r) for r in conn.execute(query).mappings()]

    def delete_event(self, name: str) -> int:
        """Delete every occurrence of ``name``; returns how many were deleted.

        Raises:
            UnknownEvent: when there is no such event.
        """
        with translate_errors("delete event"), self.write() as conn:
            n = conn.execute(delete(events).where(func.lower(events.c.name) == name.lower())).rowcount
        if not n:
            raise UnknownEvent(f"unknown event {name!r}", field="event")
        return int(n)

    def event_exists(self, name: str) -> bool:
        """True when some occurrence of ``name`` is stored."""
        with translate_errors("read events"), self.read() as conn:
            return bool(
                conn.execute(
                    select(func.count())
                    .select_from(events)
                    .where(and_(func.lower(events.c.name) == name.lower()))
                ).scalar_one()
            )
