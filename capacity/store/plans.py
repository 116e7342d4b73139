"""Capacity plans as made, and their scores once the quarter's actuals arrive.

A plan is stored when it is made (``capacity plan``), with its weeks as JSON: what a planner committed to cannot
change afterwards. Scoring it later (:mod:`capacity.services.plans`) stores one score row per plan, replaced when
more of its weeks have actuals. Each method runs in one transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import and_, delete, desc, select

from capacity.errors import UnknownSeries
from capacity.plan.plan import SeriesPlan
from capacity.plan.score import PlanScore
from capacity.store.db import Database, now, translate_errors
from capacity.store.series import series_id
from capacity.store.tables import plan_scores, plans, series


@dataclass(frozen=True)
class StoredPlanScore:
    """A stored plan's score: weeks planned and scored, MAPE (percent), shares within 10% and 20%, per week."""

    scored_at: pd.Timestamp
    weeks_planned: int
    weeks_scored: int
    mape: float
    within_10: float
    within_20: float
    weeks: list[dict[str, Any]]


@dataclass(frozen=True)
class StoredPlan:
    """A plan as stored (its weeks as plain dicts: ``start, days, p50, p90, headroom_pct, instances_needed,
    crossing_probability, cumulative_probability``)."""

    id: int
    service: str
    metric: str
    created_at: pd.Timestamp
    history_end: pd.Timestamp
    first_day: pd.Timestamp
    quarter: str | None
    agg: str
    model: str
    threshold: float | None
    margin: float
    growth_pct: float
    growth_basis: str
    first_crossing: pd.Timestamp | None
    first_crossing_probability: float | None
    weeks: list[dict[str, Any]]
    score: StoredPlanScore | None = None

    @property
    def end(self) -> pd.Timestamp:
        """The end of its last week (exclusive)."""
        last = self.weeks[-1]
        return pd.Timestamp(last["start"]) + pd.Timedelta(days=int(last["days"]))


def _ts(value: int | None) -> pd.Timestamp | None:
    return None if value is None else pd.Timestamp(int(value), unit="s", tz="UTC")


def _epoch(ts: pd.Timestamp) -> int:
    return int(pd.Timestamp(ts).timestamp())


def iso_utc(ts: pd.Timestamp) -> str:
    """UTC ISO 8601 with a Z: stored plan weeks read like a fresh plan's JSON (and the rest of the API)."""
    return pd.Timestamp(ts).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def week_records(plan: SeriesPlan) -> list[dict[str, Any]]:
    """The plan's weeks as stored and as served (the JSON of ``capacity plan`` and the API): one shape for both."""
    return [
        {
            "start": iso_utc(w.start),
            "days": w.days,
            "p50": w.p50,
            "p90": w.p90,
            "headroom_pct": w.headroom_pct,
            "instances_needed": w.instances_needed,
            "crossing_probability": w.crossing,
            "cumulative_probability": w.cumulative,
        }
        for w in plan.weeks
    ]


def _weeks_json(plan: SeriesPlan) -> str:
    return json.dumps(week_records(plan))


class PlanRepository:
    """Plans and plan scores. Every method runs in one transaction of the shared
    :class:`~capacity.store.db.Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def save_plan(self, plan: SeriesPlan, agg: str, created_at: int | None = None) -> int:
        """Store a plan just made; returns its id.

        Raises:
            UnknownSeries: when the store has no such series.
        """
        target = plan.target
        with translate_errors("saving a plan"), self.db.write() as conn:
            sid = series_id(conn, target.service, target.metric, create=False)
            if sid is None:
                raise UnknownSeries(f"unknown series {target.service}/{target.metric}", field="service")
            result = conn.execute(
                plans.insert().values(
                    series_id=sid,
                    created_at=now() if created_at is None else created_at,
                    history_end=_epoch(plan.history_end),
                    first_day=_epoch(plan.weeks[0].start),
                    weeks=len(plan.weeks),
                    quarter=plan.quarter,
                    agg=agg,
                    model=plan.model[:255],
                    threshold=target.threshold,
                    margin=plan.margin,
                    growth_pct=plan.growth.pct_per_year,
                    growth_basis=plan.growth.basis,
                    first_crossing=None if plan.first_crossing is None else _epoch(plan.first_crossing),
                    first_crossing_probability=plan.first_crossing_probability,
                    payload=_weeks_json(plan),
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def list_plans(
        self, service: str | None = None, metric: str | None = None, limit: int = 100
    ) -> list[StoredPlan]:
        """Stored plans, newest first, with their scores; filtered by service and metric when given."""
        query = (
            select(
                plans,
                series.c.service,
                series.c.metric,
                plan_scores.c.scored_at,
                plan_scores.c.weeks_planned,
                plan_scores.c.weeks_scored,
                plan_scores.c.mape,
                plan_scores.c.within_10,
                plan_scores.c.within_20,
                plan_scores.c.payload.label("score_payload"),
            )
            .join(series, series.c.id == plans.c.series_id)
            .outerjoin(plan_scores, plan_scores.c.plan_id == plans.c.id)
        )
        conditions = []
        if service is not None:
            conditions.append(series.c.service == service)
        if metric is not None:
            conditions.append(series.c.metric == metric)
        if conditions:
            query = query.where(and_(*conditions))
        query = query.order_by(desc(plans.c.created_at), desc(plans.c.id)).limit(limit)
        with translate_errors("reading plans"), self.db.read() as conn:
            rows = conn.execute(query).mappings().all()
        return [self._row(r) for r in rows]

    def save_score(self, plan_id: int, score: PlanScore, scored_at: int | None = None) -> None:
        """Store (or replace) the score of plan ``plan_id``."""
        weeks = [
            {"start": iso_utc(w.start), "planned": w.planned, "actual": w.actual, "ape": w.ape}
            for w in score.weeks
        ]
        with translate_errors("saving a plan score"), self.db.write() as conn:
            conn.execute(delete(plan_scores).where(plan_scores.c.plan_id == plan_id))
            conn.execute(
                plan_scores.insert().values(
                    plan_id=plan_id,
                    scored_at=now() if scored_at is None else scored_at,
                    weeks_planned=score.weeks_planned,
                    weeks_scored=len(score.weeks),
                    mape=score.mape,
                    within_10=score.within_10,
                    within_20=score.within_20,
                    payload=json.dumps(weeks),
                )
            )

    @staticmethod
    def _row(r: Any) -> StoredPlan:
        score = None
        if r["scored_at"] is not None:
            score = StoredPlanScore(
                scored_at=pd.Timestamp(int(r["scored_at"]), unit="s", tz="UTC"),
                weeks_planned=int(r["weeks_planned"]),
                weeks_scored=int(r["weeks_scored"]),
                mape=float(r["mape"]),
                within_10=float(r["within_10"]),
                within_20=float(r["within_20"]),
                weeks=json.loads(r["score_payload"]),
            )
        return StoredPlan(
            id=int(r["id"]),
            service=r["service"],
            metric=r["metric"],
            created_at=pd.Timestamp(int(r["created_at"]), unit="s", tz="UTC"),
            history_end=pd.Timestamp(int(r["history_end"]), unit="s", tz="UTC"),
            first_day=pd.Timestamp(int(r["first_day"]), unit="s", tz="UTC"),
            quarter=r["quarter"],
            agg=r["agg"],
            model=r["model"],
            threshold=r["threshold"],
            margin=float(r["margin"]),
            growth_pct=float(r["growth_pct"]),
            growth_basis=r["growth_basis"],
            first_crossing=_ts(r["first_crossing"]),
            first_crossing_probability=r["first_crossing_probability"],
            weeks=json.loads(r["payload"]),
            score=score,
        )
