"""The fleet's data version: one digest that changes whenever anything a fleet-wide answer rests on changes.

A ranked risk table or a readiness report depends on every series' samples (its data version), settings
(threshold, instances, per-instance capacity, aggregation, description), calendar (its events digest) and newest
forecast run (of any status), on the calendar itself, and on the forecast ledger. :meth:`FleetRepository.version`
reads all of that in three small queries (two without the ledger) and hashes it, so a cache keyed by it is exact: equal digests, equal
inputs.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select

from capacity.store.db import Database, translate_errors
from capacity.store.tables import events, forecast_runs, forecast_scores, series


class FleetRepository:
    """The fleet-wide data version."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def version(self, *, ledger: bool = True) -> str:
        """A digest of everything fleet-wide answers rest on (see the module docstring); ``ledger=False`` leaves the
        ledger out, for answers that do not show live accuracy (the ranked risks), so that scoring does not
        invalidate them."""
        newest = (
            select(func.max(forecast_runs.c.id))
            .where(forecast_runs.c.series_id == series.c.id)
            .correlate(series)
            .scalar_subquery()
        )
        with translate_errors("read the fleet version"), self.db.read() as conn:
            rows = conn.execute(
                select(
                    series.c.id,
                    series.c.data_version,
                    series.c.threshold,
                    series.c.instances,
                    series.c.instance_capacity,
                    series.c.agg,
                    series.c.description,
                    series.c.events_digest,
                    newest,
                ).order_by(series.c.id)
            ).all()
            calendar = conn.execute(
                select(func.count(), func.max(events.c.id), func.sum(events.c.start), func.sum(events.c.end))
            ).one()
            scored = (
                conn.execute(
                    select(  # a rescore moves a row to its series' newer data version, within the second too
                        func.count(),
                        func.sum(forecast_scores.c.data_version),
                        func.sum(forecast_scores.c.steps),
                        func.max(forecast_scores.c.scored_at),
                    )
                ).one()
                if ledger
                else ()
            )
        digest = hashlib.sha256()
        for row in (*rows, calendar, scored):
            digest.update(repr(tuple(row)).encode())
        return digest.hexdigest()[:32]
