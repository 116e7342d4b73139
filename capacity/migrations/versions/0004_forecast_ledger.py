"""The forecast ledger and the stored per-series gauges: forecast_scores and series_gauges.

``forecast_scores`` holds each successful run's live accuracy against the actuals that arrived after it (steps
scored so far, MASE with its scale, sMAPE, WAPE, 80%/95% coverage, complete or partial); ``series_gauges`` what
``/metrics`` shows per series. Both start empty: the forecasts already stored are scored lazily, when their
series' accuracy is first read (``capacity accuracy``, ``GET .../accuracy``) or by a running server's job worker in
the background, and the gauges are filled by the same worker (a migration that scored every run would hold the
upgrade for as long as that takes).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "forecast_scores",
        sa.Column(
            "run_id", sa.Integer, sa.ForeignKey("forecast_runs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("series_id", sa.Integer, sa.ForeignKey("series.id", ondelete="CASCADE"), nullable=False),
        sa.Column("scored_at", sa.BigInteger, nullable=False),
        sa.Column("data_version", sa.BigInteger, nullable=False),
        sa.Column("window_end", sa.BigInteger, nullable=False),
        sa.Column("horizon", sa.Integer, nullable=False),
        sa.Column("steps", sa.Integer, nullable=False),
        sa.Column("complete", sa.Boolean, nullable=False),
        sa.Column("mase", sa.Float),
        sa.Column("mase_scale", sa.Float),
        sa.Column("smape", sa.Float),
        sa.Column("wape", sa.Float),
        sa.Column("abs_error", sa.Float),
        sa.Column("abs_actual", sa.Float),
        sa.Column("coverage_80", sa.Float),
        sa.Column("coverage_95", sa.Float),
        sa.Column("backtest_mase", sa.Float),
    )
    op.create_index("ix_forecast_scores_series_id", "forecast_scores", ["series_id"])
    op.create_table(
        "series_gauges",
        sa.Column("series_id", sa.Integer, sa.ForeignKey("series.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("forecast_runs.id", ondelete="SET NULL")),
        sa.Column("risk_at", sa.BigInteger),
        sa.Column("threshold", sa.Float),
        sa.Column("instances", sa.Integer),
        sa.Column("instance_capacity", sa.Float),
        sa.Column("agg", sa.String(8)),
        sa.Column("breach_probability", sa.Float),
        sa.Column("first_breach", sa.BigInteger),
        sa.Column("headroom_ratio", sa.Float),
        sa.Column("live_at", sa.BigInteger),
        sa.Column("live_runs", sa.Integer),
        sa.Column("live_complete", sa.Integer),
        sa.Column("live_steps", sa.Integer),
        sa.Column("live_mase", sa.Float),
        sa.Column("live_backtest_mase", sa.Float),
        sa.Column("live_smape", sa.Float),
        sa.Column("live_wape", sa.Float),
        sa.Column("live_coverage_80", sa.Float),
        sa.Column("live_coverage_95", sa.Float),
    )


def downgrade() -> None:
    op.drop_table("series_gauges")
    op.drop_index("ix_forecast_scores_series_id", table_name="forecast_scores")
    op.drop_table("forecast_scores")
