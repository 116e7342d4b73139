"""Track the events calendar each forecast was made with: series.events_digest / events_changed_at and
forecast_runs.events_digest.

A forecast with events depends on the calendar; a run whose digest differs from its series' current one is stale.
On an existing database every series gets the digest of the calendar stored now, and every existing run is taken
to have been made with that calendar (which calendar an old run used was not recorded), so upgrading stales
nothing; the next calendar change does.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from alembic import op

from capacity.events.calendar import EventOccurrence
from capacity.store.events import FLEET, digests_by_service

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The tables as this revision knows them (not capacity.store.tables, which follows the newest schema).
_series = sa.table(
    "series",
    sa.column("id", sa.Integer),
    sa.column("service", sa.String),
    sa.column("events_digest", sa.String),
)
_events = sa.table(
    "events",
    sa.column("name", sa.String),
    sa.column("start", sa.BigInteger),
    sa.column("end", sa.BigInteger),
    sa.column("multiplier_low", sa.Float),
    sa.column("multiplier_high", sa.Float),
    sa.column("scope", sa.String),
)
_runs = sa.table("forecast_runs", sa.column("series_id", sa.Integer), sa.column("events_digest", sa.String))


def upgrade() -> None:
    with op.batch_alter_table("series") as batch:
        batch.add_column(sa.Column("events_digest", sa.String(64)))
        batch.add_column(sa.Column("events_changed_at", sa.BigInteger))
    with op.batch_alter_table("forecast_runs") as batch:
        batch.add_column(sa.Column("events_digest", sa.String(64)))
    conn = op.get_bind()
    calendar = [
        EventOccurrence(
            name=r.name,
            start=pd.Timestamp(r.start, unit="s", tz="UTC"),
            end=pd.Timestamp(r.end, unit="s", tz="UTC"),
            multiplier_low=r.multiplier_low,
            multiplier_high=r.multiplier_high,
            service=None if r.scope == FLEET else r.scope,
        )
        for r in conn.execute(sa.select(_events))
    ]
    rows = conn.execute(sa.select(_series.c.id, _series.c.service)).all()
    digests = digests_by_service(calendar, (r.service for r in rows))
    for r in rows:
        digest = digests[r.service]
        conn.execute(_series.update().where(_series.c.id == r.id).values(events_digest=digest))
        conn.execute(_runs.update().where(_runs.c.series_id == r.id).values(events_digest=digest))


def downgrade() -> None:
    with op.batch_alter_table("forecast_runs") as batch:
        batch.drop_column("events_digest")
    with op.batch_alter_table("series") as batch:
        batch.drop_column("events_changed_at")
        batch.drop_column("events_digest")
