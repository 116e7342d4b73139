"""Server secrets: one row per named secret (the chart URL signing key), created on first use.

A secret kept in the database is the same for every worker process and every server on the database, and outlives
a restart: a signed chart URL handed out before a restart still opens its chart until it expires. No route or
command serves this table.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "secrets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(128), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("secrets")
