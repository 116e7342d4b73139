"""Capacity plans and their scores: plans (one row per plan made, its weeks as JSON) and plan_scores (one row per
plan, replaced when it is scored again with more weeks of actuals).

Revision ID: 0005
Revises: 0003 (the lead sets 0004 when the forecast ledger migration of api-live is merged first)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("series_id", sa.Integer, sa.ForeignKey("series.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("history_end", sa.BigInteger, nullable=False),
        sa.Column("first_day", sa.BigInteger, nullable=False),
        sa.Column("weeks", sa.Integer, nullable=False),
        sa.Column("quarter", sa.String(8)),
        sa.Column("agg", sa.String(8), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("threshold", sa.Float),
        sa.Column("margin", sa.Float, nullable=False),
        sa.Column("growth_pct", sa.Float, nullable=False),
        sa.Column("growth_basis", sa.String(32), nullable=False),
        sa.Column("first_crossing", sa.BigInteger),
        sa.Column("first_crossing_probability", sa.Float),
        sa.Column("payload", sa.Text, nullable=False),
    )
    op.create_index("ix_plans_series_created", "plans", ["series_id", "created_at"])
    op.create_table(
        "plan_scores",
        sa.Column("plan_id", sa.Integer, sa.ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("scored_at", sa.BigInteger, nullable=False),
        sa.Column("weeks_planned", sa.Integer, nullable=False),
        sa.Column("weeks_scored", sa.Integer, nullable=False),
        sa.Column("mape", sa.Float, nullable=False),
        sa.Column("within_10", sa.Float, nullable=False),
        sa.Column("within_20", sa.Float, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("plan_scores")
    op.drop_index("ix_plans_series_created", table_name="plans")
    op.drop_table("plans")
