"""Server secrets in the database: a random value per name, created by whichever process needs it first.

The chart URL signing key lived in the server's runtime directory, so a restart made a new one and every signed
URL handed out before it answered 403. In the database every worker, every restart and every server on the same
database agree on it. The table is read by name only: no route or command lists or serves it.
"""

from __future__ import annotations

import secrets as random

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from capacity.store.db import Database, now, translate_errors
from capacity.store.tables import secrets


class SecretRepository:
    """Named random secrets, each created once (the first caller's value wins a race) and then only read."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get_or_create(self, name: str, nbytes: int = 32) -> bytes:
        """The secret ``name``, created with ``nbytes`` random bytes when there is none yet.

        Two processes creating it at once both insert "if absent" and then read back the one row that won, so they
        end up with the same value.
        """
        with translate_errors("read secret"), self.db.read() as conn:
            value = conn.execute(select(secrets.c.value).where(secrets.c.name == name)).scalar_one_or_none()
        if value is not None:
            return bytes.fromhex(value)
        with translate_errors("store secret"), self.db.write() as conn:
            insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            row = {"name": name, "value": random.token_hex(nbytes), "created_at": now()}
            conn.execute(insert(secrets).values(row).on_conflict_do_nothing(index_elements=["name"]))
            value = conn.execute(select(secrets.c.value).where(secrets.c.name == name)).scalar_one()
        return bytes.fromhex(value)
