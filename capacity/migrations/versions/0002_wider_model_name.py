"""Widen forecast_runs.model to 255 characters: ensemble names ("ensemble(a+b+c+d+e)") run past 64.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("forecast_runs") as batch:
        batch.alter_column(
            "model", type_=sa.String(255), existing_type=sa.String(64), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("forecast_runs") as batch:
        batch.alter_column(
            "model", type_=sa.String(64), existing_type=sa.String(255), existing_nullable=False
        )
