"""Load-test results: store a headroom run's result and, when asked, feed its measured capacity back.

Applying a result sets the series' scaling threshold to the measured capacity (in requests/s), and its
per-instance capacity: measured / ``staging_instances`` when the plan said how many instances served the test,
else measured / the series' instance count when known. The result row and the series update are one transaction.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import and_, desc, select, update

from capacity.errors import InvalidInput, UnknownSeries, describe_value
from capacity.schema import RATE, unit_for
from capacity.store.db import Database, now, translate_errors
from capacity.store.series import series_id
from capacity.store.tables import loadtests, series

VERDICTS = ("pass", "fail", "unreachable")


@dataclass(frozen=True)
class StoredLoadTest:
    """A load-test result as stored."""

    id: int
    service: str
    metric: str
    created_at: pd.Timestamp
    verdict: str
    target_rps: float
    measured_capacity_rps: float | None
    applied: bool
    result: dict[str, Any]


def _positive(value: object, field: str, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InvalidInput(f"{field} must be a positive number, got {describe_value(value)}", field=field)
    return float(value)


def capacity_update(
    measured: float, staging_instances: object, instances: int | None
) -> tuple[float, float | None]:
    """The new (threshold, instance_capacity) of a rate series from a measured capacity.

    Args:
        measured: the measured capacity of the tested deployment, requests/s.
        staging_instances: how many instances served the test (from the plan), or None.
        instances: the series' production instance count, or None.
    """
    if (
        isinstance(staging_instances, int)
        and not isinstance(staging_instances, bool)
        and staging_instances >= 1
    ):
        per_instance = measured / staging_instances
        return (per_instance * instances if instances else measured), per_instance
    return measured, (measured / instances if instances else None)


class LoadTestRepository:
    """Load-test results, and applying a measured capacity as the series' threshold.

    Every method runs in one transaction of the shared :class:`~capacity.store.db.Database`.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def save_loadtest(self, service: str, metric: str, result: Mapping[str, Any], apply: bool) -> int:
        """Store a headroom result; with ``apply``, make its measured capacity the series' threshold (one transaction).

        Args:
            service: the service tested.
            metric: its request-rate series (must exist; must be a rate to apply).
            result: the ``result.json`` document (validated in full by ``loadtests.verdict.validate_result``;
                here the fields the row needs are checked).
            apply: update the series' threshold and instance capacity from ``measured_capacity_rps``.

        Returns:
            The id of the stored result.

        Raises:
            UnknownSeries: when the series does not exist.
            InvalidInput: when the result lacks a verdict/target, or ``apply`` is asked of a non-rate series or
                of a result without a measured capacity. Nothing is stored then.
        """
        verdict = result.get("verdict")
        if verdict not in VERDICTS:
            raise InvalidInput(
                f"result.verdict must be one of {', '.join(VERDICTS)}, got {describe_value(verdict)}",
                field="result.verdict",
            )
        target = _positive(result.get("target_rps"), "result.target_rps")
        measured = _positive(
            result.get("measured_capacity_rps"), "result.measured_capacity_rps", optional=True
        )
        if apply and unit_for(metric) != RATE:
            raise InvalidInput(
                f"apply sets a request-rate threshold; {service}/{metric} is not a rate metric (e.g. rps)",
                field="apply",
            )
        if apply and measured is None:
            raise InvalidInput(
                "apply needs a measured capacity, but no step of this result met the SLOs", field="apply"
            )
        plan = result.get("plan")
        staging = plan.get("staging_instances") if isinstance(plan, Mapping) else None
        try:
            text = json.dumps(result, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"result is not JSON-serializable: {exc}", field="result") from None
        with translate_errors("save load test"), self.db.write() as conn:
            sid = series_id(conn, service, metric, create=False)
            if sid is None:
                raise UnknownSeries(f"unknown series {service}/{metric}", field="series")
            row = conn.execute(
                loadtests.insert().values(
                    series_id=sid,
                    service=service,
                    metric=metric,
                    created_at=now(),
                    verdict=verdict,
                    target_rps=target,
                    measured_capacity_rps=measured,
                    applied=bool(apply),
                    result=text,
                )
            )
            if apply and measured is not None:
                instances = conn.execute(select(series.c.instances).where(series.c.id == sid)).scalar_one()
                threshold, per_instance = capacity_update(measured, staging, instances)
                values: dict[str, Any] = {"threshold": round(threshold, 3), "updated_at": now()}
                if per_instance is not None:
                    values["instance_capacity"] = round(per_instance, 3)
                conn.execute(update(series).where(series.c.id == sid).values(**values))
            return int(row.inserted_primary_key[0])  # type: ignore[index]

    def list_loadtests(self, service: str, metric: str) -> list[StoredLoadTest]:
        """The stored results of one series, newest first (empty when there are none)."""
        query = (
            select(loadtests)
            .where(and_(loadtests.c.service == service, loadtests.c.metric == metric))
            .order_by(desc(loadtests.c.created_at), desc(loadtests.c.id))
        )
        with translate_errors("list load tests"), self.db.read() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            StoredLoadTest(
                id=int(r["id"]),
                service=r["service"],
                metric=r["metric"],
                created_at=pd.Timestamp(r["created_at"], unit="s", tz="UTC"),
                verdict=r["verdict"],
                target_rps=float(r["target_rps"]),
                measured_capacity_rps=None
                if r["measured_capacity_rps"] is None
                else float(r["measured_capacity_rps"]),
                applied=bool(r["applied"]),
                result=json.loads(r["result"]),
            )
            for r in rows
        ]
