"""The first schema: series, samples, events, forecast runs and points, load tests, tokens, jobs.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "series",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("service", sa.String(128), nullable=False),
        sa.Column("metric", sa.String(128), nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("agg", sa.String(8), nullable=False, server_default="mean"),
        sa.Column("threshold", sa.Float),
        sa.Column("instances", sa.Integer),
        sa.Column("instance_capacity", sa.Float),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("data_version", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("service", "metric", name="uq_series_service_metric"),
    )
    op.create_table(
        "samples",
        sa.Column("series_id", sa.Integer, sa.ForeignKey("series.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("ts", sa.BigInteger, primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("start", sa.BigInteger, nullable=False),
        sa.Column("end", sa.BigInteger, nullable=False),
        sa.Column("multiplier_low", sa.Float),
        sa.Column("multiplier_high", sa.Float),
        sa.Column("scope", sa.String(128), nullable=False, server_default="*"),
        sa.Column("source", sa.String(16), nullable=False, server_default="api"),
        sa.UniqueConstraint("name", "start", "scope", name="uq_events_name_start_scope"),
    )
    op.create_table(
        "forecast_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("series_id", sa.Integer, sa.ForeignKey("series.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("model", sa.String(64), nullable=False, server_default=""),
        sa.Column("freq", sa.String(16), nullable=False),
        sa.Column("horizon", sa.Integer, nullable=False),
        sa.Column("history_end", sa.BigInteger),
        sa.Column("data_version", sa.BigInteger, nullable=False),
        sa.Column("spec", sa.Text, nullable=False, server_default="{}"),
        sa.Column("scores", sa.Text, nullable=False, server_default="{}"),
        sa.Column("diagnostics", sa.Text, nullable=False, server_default="[]"),
        sa.Column("error", sa.Text),
        sa.Column("paths", sa.LargeBinary),
    )
    op.create_index("ix_forecast_runs_series_id", "forecast_runs", ["series_id"])
    op.create_table(
        "forecast_points",
        sa.Column(
            "run_id", sa.Integer, sa.ForeignKey("forecast_runs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("ts", sa.BigInteger, primary_key=True),
        sa.Column("mean", sa.Float, nullable=False),
        sa.Column("quantiles", sa.Text, nullable=False),
    )
    op.create_table(
        "loadtests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("series_id", sa.Integer, sa.ForeignKey("series.id", ondelete="SET NULL")),
        sa.Column("service", sa.String(128), nullable=False),
        sa.Column("metric", sa.String(128), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("target_rps", sa.Float, nullable=False),
        sa.Column("measured_capacity_rps", sa.Float),
        sa.Column("applied", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("result", sa.Text, nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("token_hash", sa.String(128), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("scopes", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger),
        sa.Column("last_used_at", sa.BigInteger),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("heartbeat_at", sa.BigInteger),
        sa.Column("total", sa.Integer, nullable=False, server_default="0"),
        sa.Column("done", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("params", sa.Text, nullable=False, server_default="{}"),
        sa.Column("error", sa.Text),
        sa.Column("worker", sa.String(64)),
    )


def downgrade() -> None:
    for name in (
        "jobs",
        "tokens",
        "loadtests",
        "forecast_points",
        "forecast_runs",
        "events",
        "samples",
        "series",
    ):
        op.drop_table(name)
