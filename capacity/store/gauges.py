"""The stored per-series gauges ``/metrics`` shows: written when what they rest on changes, read by a scrape.

The risk part (breach probability, first likely breach, headroom) is written for a series' newest successful run
and the settings (threshold, instances, per-instance capacity, aggregation) it was assessed with; the live part is
the ledger's summary (:mod:`capacity.store.ledger` writes it). A scrape reads every row in one query and computes
nothing; :meth:`GaugeRepository.behind` finds the series whose risk part no longer matches their newest run or
settings, for a background pass to refresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import and_, func, or_, select

from capacity.store.db import Database, now, translate_errors
from capacity.store.tables import forecast_runs, series, series_gauges
from capacity.store.upsert import upsert


@dataclass(frozen=True)
class RiskGauge:
    """The risk part of one series' gauges.

    Attributes:
        service, metric: the series.
        run_id: the forecast run it was assessed from.
        threshold, instances, instance_capacity, agg: the series' settings it was assessed with.
        breach_probability: probability of crossing the threshold within the forecast horizon.
        first_breach: the first likely breach (None when none is likely).
        headroom_ratio: threshold over the forecast p95 peak.
    """

    service: str
    metric: str
    run_id: int
    threshold: float | None
    instances: int | None
    instance_capacity: float | None
    agg: str
    breach_probability: float | None
    first_breach: pd.Timestamp | None
    headroom_ratio: float | None


def _newest_ok() -> Any:
    return (
        select(forecast_runs.c.series_id, func.max(forecast_runs.c.id).label("run_id"))
        .where(forecast_runs.c.status == "ok")
        .group_by(forecast_runs.c.series_id)
        .subquery()
    )


def _differs(a: Any, b: Any) -> Any:
    """SQL for "a and b differ", NULLs included (NULL vs NULL is no difference)."""
    return or_(and_(a.is_(None), b.is_not(None)), and_(a.is_not(None), b.is_(None)), a != b)


class GaugeRepository:
    """Per-series gauges: save the risk part, find the series whose gauges are behind, read them all."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def save_risk(self, gauges: list[RiskGauge]) -> int:
        """Store the risk part of these series' gauges in one transaction; a series deleted meanwhile is skipped.

        Returns:
            How many series were stored.
        """
        if not gauges:
            return 0
        t = now()
        with translate_errors("save gauges"), self.db.write() as conn:
            ids = {
                (r.service, r.metric): int(r.id)
                for r in conn.execute(
                    select(series.c.id, series.c.service, series.c.metric).where(
                        series.c.service.in_({g.service for g in gauges})
                    )
                )
            }
            rows = [
                {
                    "series_id": ids[(g.service, g.metric)],
                    "run_id": g.run_id,
                    "risk_at": t,
                    "threshold": g.threshold,
                    "instances": g.instances,
                    "instance_capacity": g.instance_capacity,
                    "agg": g.agg,
                    "breach_probability": g.breach_probability,
                    "first_breach": int(g.first_breach.timestamp()) if g.first_breach is not None else None,
                    "headroom_ratio": g.headroom_ratio,
                }
                for g in gauges
                if (g.service, g.metric) in ids
            ]
            upsert(conn, series_gauges, rows, ["series_id"])
        return len(rows)

    def behind(self, limit: int) -> list[tuple[str, str]]:
        """Up to ``limit`` series whose risk gauges do not rest on their newest successful run, or were assessed
        with other settings than the series has now."""
        newest = _newest_ok()
        g = series_gauges.c
        query = (
            select(series.c.service, series.c.metric)
            .select_from(
                series.join(newest, newest.c.series_id == series.c.id).outerjoin(
                    series_gauges, g.series_id == series.c.id
                )
            )
            .where(
                or_(
                    g.run_id.is_(None),
                    g.run_id != newest.c.run_id,
                    _differs(g.threshold, series.c.threshold),
                    _differs(g.instances, series.c.instances),
                    _differs(g.instance_capacity, series.c.instance_capacity),
                    _differs(g.agg, series.c.agg),
                )
            )
            .order_by(series.c.service, series.c.metric)
            .limit(limit)
        )
        with translate_errors("read gauges"), self.db.read() as conn:
            return [(str(r[0]), str(r[1])) for r in conn.execute(query)]

    def scrape(self) -> list[dict[str, Any]]:
        """Every series that has gauges: its gauge row, its data version and calendar digest now, and the data
        version, calendar digest and creation time of the run the risk part rests on. One query."""
        g = series_gauges.c
        query = (
            select(
                series.c.service,
                series.c.metric,
                series.c.data_version,
                series.c.events_digest,
                *(c for c in series_gauges.c if c.name != "series_id"),
                forecast_runs.c.created_at.label("run_created_at"),
                forecast_runs.c.data_version.label("run_data_version"),
                forecast_runs.c.events_digest.label("run_events_digest"),
            )
            .select_from(
                series.join(series_gauges, g.series_id == series.c.id).outerjoin(
                    forecast_runs, forecast_runs.c.id == g.run_id
                )
            )
            .order_by(series.c.service, series.c.metric)
        )
        with translate_errors("read gauges"), self.db.read() as conn:
            result = conn.execute(query)
            keys = tuple(result.keys())
            return [
                dict(zip(keys, r, strict=True)) for r in result.all()
            ]  # plain tuples: no Row mapping each
