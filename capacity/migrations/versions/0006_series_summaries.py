"""Per-series sample summaries on the series row: sample_count, first_ts, last_ts, last_value.

Listing series (``GET /series``, ``/services``, ``capacity series``) used to count every sample of every series
(a scan of the whole samples table, seconds on a large store); the summaries are kept by each ingest in the same
transaction as the samples, so a list reads one row per series. The upgrade fills them with that scan once.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("series", sa.Column("sample_count", sa.BigInteger, nullable=False, server_default="0"))
    op.add_column("series", sa.Column("first_ts", sa.BigInteger))
    op.add_column("series", sa.Column("last_ts", sa.BigInteger))
    op.add_column("series", sa.Column("last_value", sa.Float))
    # Portable correlated subqueries (SQLite and PostgreSQL): min/max/count use the (series_id, ts) primary key.
    op.execute(
        "UPDATE series SET "
        "sample_count = (SELECT count(*) FROM samples WHERE samples.series_id = series.id), "
        "first_ts = (SELECT min(ts) FROM samples WHERE samples.series_id = series.id), "
        "last_ts = (SELECT max(ts) FROM samples WHERE samples.series_id = series.id)"
    )
    op.execute(
        "UPDATE series SET last_value = (SELECT value FROM samples "
        "WHERE samples.series_id = series.id AND samples.ts = series.last_ts)"
    )


def downgrade() -> None:
    for name in ("last_value", "last_ts", "first_ts", "sample_count"):
        op.drop_column("series", name)
