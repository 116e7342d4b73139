"""Insert-or-update by primary key in one statement, on SQLite and PostgreSQL alike (``ON CONFLICT DO UPDATE``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def upsert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], key: Sequence[str]) -> None:
    """Insert ``rows`` into ``table``; a row whose ``key`` columns exist updates the columns it names (only those).

    Every row must name the same columns. Two writers doing this at once both succeed, the later one's values
    win (no unique-key error, unlike a read-then-insert).
    """
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table)
    changed = [c for c in rows[0] if c not in key]
    stmt = (
        stmt.on_conflict_do_update(index_elements=list(key), set_={c: stmt.excluded[c] for c in changed})
        if changed
        else stmt.on_conflict_do_nothing(index_elements=list(key))
    )
    conn.execute(stmt, list(rows))
