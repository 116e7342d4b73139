"""Table definitions (SQLAlchemy Core). Timestamps are integer epoch seconds (UTC).

The schema is created and changed only by the Alembic migrations in ``capacity/migrations``; these objects
describe it for queries.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

series = Table(
    "series",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service", String(128), nullable=False),
    Column("metric", String(128), nullable=False),
    Column("unit", String(16), nullable=False),
    Column("agg", String(8), nullable=False, server_default="mean"),
    Column("threshold", Float),
    Column("instances", Integer),
    Column("instance_capacity", Float),
    Column("description", Text, nullable=False, server_default=""),
    Column("data_version", BigInteger, nullable=False, server_default="0"),
    # Digest of the calendar occurrences that apply to this series (fleet-wide and its service's), kept current by
    # every calendar write; a forecast run made with another digest is stale. NULL: not computed yet (since 0003).
    Column("events_digest", String(64)),
    Column("events_changed_at", BigInteger),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    # A summary of the series' samples (since 0006), kept by every ingest in its transaction: listing series reads
    # these instead of counting every sample.
    Column("sample_count", BigInteger, nullable=False, server_default="0"),
    Column("first_ts", BigInteger),
    Column("last_ts", BigInteger),
    Column("last_value", Float),
    UniqueConstraint("service", "metric", name="uq_series_service_metric"),
)

samples = Table(
    "samples",
    metadata,
    Column("series_id", Integer, ForeignKey("series.id", ondelete="CASCADE"), primary_key=True),
    Column("ts", BigInteger, primary_key=True),
    Column("value", Float, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("start", BigInteger, nullable=False),
    Column("end", BigInteger, nullable=False),
    Column("multiplier_low", Float),
    Column("multiplier_high", Float),
    # "*" is the whole fleet; NULL would defeat the unique constraint.
    Column("scope", String(128), nullable=False, server_default="*"),
    Column("source", String(16), nullable=False, server_default="api"),
    UniqueConstraint("name", "start", "scope", name="uq_events_name_start_scope"),
)

forecast_runs = Table(
    "forecast_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("series_id", Integer, ForeignKey("series.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("model", String(255), nullable=False, server_default=""),
    Column("freq", String(16), nullable=False),
    Column("horizon", Integer, nullable=False),
    Column("history_end", BigInteger),
    Column("data_version", BigInteger, nullable=False),
    # Digest of the occurrences in the run's spec (see series.events_digest).
    Column("events_digest", String(64)),
    Column("spec", Text, nullable=False, server_default="{}"),
    Column("scores", Text, nullable=False, server_default="{}"),
    Column("diagnostics", Text, nullable=False, server_default="[]"),
    Column("error", Text),
    Column("paths", LargeBinary),
)

forecast_points = Table(
    "forecast_points",
    metadata,
    Column("run_id", Integer, ForeignKey("forecast_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("ts", BigInteger, primary_key=True),
    Column("mean", Float, nullable=False),
    Column("quantiles", Text, nullable=False),
)

# The ledger (since 0004): each successful forecast run scored against the actuals that arrived after it, kept up to
# date as more arrive (capacity.services.accuracy writes it). One row per run.
forecast_scores = Table(
    "forecast_scores",
    metadata,
    Column("run_id", Integer, ForeignKey("forecast_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("series_id", Integer, ForeignKey("series.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("scored_at", BigInteger, nullable=False),
    # The series' data version the scores reflect: a later ingest that reaches the run's window rescores it.
    Column("data_version", BigInteger, nullable=False),
    Column("window_end", BigInteger, nullable=False),  # end of the run's last step (epoch seconds)
    Column("horizon", Integer, nullable=False),  # steps forecast
    Column("steps", Integer, nullable=False),  # steps scored so far (closed steps with actuals)
    Column("complete", Boolean, nullable=False),  # every step of the horizon has closed
    Column("mase", Float),
    Column("mase_scale", Float),  # the seasonal-naive error of the history the run saw
    Column("smape", Float),
    Column("wape", Float),
    Column("abs_error", Float),  # sum of absolute errors: WAPE adds up over runs
    Column("abs_actual", Float),  # sum of absolute actuals
    Column("coverage_80", Float),
    Column("coverage_95", Float),
    Column("backtest_mase", Float),  # what the run's backtest promised
)

# Per-series gauges for /metrics (since 0004), written when they change, read by a scrape: the risk part from the
# newest successful run and the settings it was assessed with, the live part from the ledger.
series_gauges = Table(
    "series_gauges",
    metadata,
    Column("series_id", Integer, ForeignKey("series.id", ondelete="CASCADE"), primary_key=True),
    Column("run_id", Integer, ForeignKey("forecast_runs.id", ondelete="SET NULL")),
    Column("risk_at", BigInteger),
    Column("threshold", Float),
    Column("instances", Integer),
    Column("instance_capacity", Float),
    Column("agg", String(8)),
    Column("breach_probability", Float),
    Column("first_breach", BigInteger),
    Column("headroom_ratio", Float),
    Column("live_at", BigInteger),
    Column("live_runs", Integer),
    Column("live_complete", Integer),
    Column("live_steps", Integer),
    Column("live_mase", Float),
    Column("live_backtest_mase", Float),
    Column("live_smape", Float),
    Column("live_wape", Float),
    Column("live_coverage_80", Float),
    Column("live_coverage_95", Float),
)

loadtests = Table(
    "loadtests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("series_id", Integer, ForeignKey("series.id", ondelete="SET NULL")),
    Column("service", String(128), nullable=False),
    Column("metric", String(128), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("target_rps", Float, nullable=False),
    Column("measured_capacity_rps", Float),
    Column("applied", Boolean, nullable=False, server_default="0"),
    Column("result", Text, nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("token_hash", String(128), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("scopes", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger),
    Column("last_used_at", BigInteger),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("heartbeat_at", BigInteger),
    Column("total", Integer, nullable=False, server_default="0"),
    Column("done", Integer, nullable=False, server_default="0"),
    Column("failed", Integer, nullable=False, server_default="0"),
    Column("params", Text, nullable=False, server_default="{}"),
    Column("error", Text),
    Column("worker", String(64)),
)

plans = Table(
    "plans",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("series_id", Integer, ForeignKey("series.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("history_end", BigInteger, nullable=False),
    Column("first_day", BigInteger, nullable=False),
    Column("weeks", Integer, nullable=False),
    Column("quarter", String(8)),
    Column("agg", String(8), nullable=False),
    Column("model", String(255), nullable=False),
    Column("threshold", Float),
    Column("margin", Float, nullable=False),
    Column("growth_pct", Float, nullable=False),
    Column("growth_basis", String(32), nullable=False),
    Column("first_crossing", BigInteger),
    Column("first_crossing_probability", Float),
    # The plan's weeks as made (JSON list): start, days, p50, p90, headroom_pct, instances_needed,
    # crossing_probability, cumulative_probability. A plan is what a planner committed to: it is never rewritten.
    Column("payload", Text, nullable=False),
)

Index("ix_plans_series_created", plans.c.series_id, plans.c.created_at)

plan_scores = Table(
    "plan_scores",
    metadata,
    Column("plan_id", Integer, ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True),
    Column("scored_at", BigInteger, nullable=False),
    Column("weeks_planned", Integer, nullable=False),
    Column("weeks_scored", Integer, nullable=False),
    Column("mape", Float, nullable=False),
    Column("within_10", Float, nullable=False),
    Column("within_20", Float, nullable=False),
    Column("payload", Text, nullable=False),
)

#: Server secrets by name (hex text), created on first use and never served (:mod:`capacity.store.secrets`).
secrets = Table(
    "secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(128), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)
