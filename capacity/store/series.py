"""Series and their samples: describe, configure, ingest (one transaction, idempotent), read back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, and_, delete, func, select, update

from capacity.config import SeriesConfig
from capacity.errors import UnknownSeries
from capacity.schema import METRIC, SERVICE, TS, VALUE, unit_for
from capacity.store.db import Database, now, translate_errors
from capacity.store.events import lock_calendar, sync_digests
from capacity.store.tables import forecast_points, forecast_runs, samples, series

#: Rows per executemany batch: large enough to amortize round trips, small enough to bound memory.
BATCH = 50_000


@dataclass(frozen=True)
class SeriesInfo:
    """One series as the store knows it, with a summary of its samples."""

    id: int
    service: str
    metric: str
    unit: str
    agg: str
    threshold: float | None
    instances: int | None
    instance_capacity: float | None
    description: str
    data_version: int
    samples: int = 0
    first_ts: pd.Timestamp | None = None
    last_ts: pd.Timestamp | None = None
    last_value: float | None = None
    step_seconds: int | None = None
    events_digest: str | None = None
    events_changed_at: pd.Timestamp | None = None
    updated_at: pd.Timestamp | None = None  # last change of its samples or settings


@dataclass(frozen=True)
class IngestReport:
    """What one ingest did."""

    rows: int
    series: int
    inserted: int
    updated: int
    created_series: int
    changed_series: int = 0


def to_epoch(ts: pd.Series) -> np.ndarray:
    """UTC timestamps to integer epoch seconds."""
    return np.asarray(ts.astype("int64") // 1_000_000_000, dtype=np.int64)


def from_epoch(values: Iterable[int]) -> pd.DatetimeIndex:
    """Integer epoch seconds to a UTC ``DatetimeIndex``."""
    return pd.DatetimeIndex(pd.to_datetime(np.fromiter(values, dtype=np.int64), unit="s", utc=True))


def _row_info(row: Mapping[Any, Any]) -> SeriesInfo:
    return SeriesInfo(
        id=row["id"],
        service=row["service"],
        metric=row["metric"],
        unit=row["unit"],
        agg=row["agg"],
        threshold=row["threshold"],
        instances=row["instances"],
        instance_capacity=row["instance_capacity"],
        description=row["description"],
        data_version=row["data_version"],
        events_digest=row["events_digest"],
        events_changed_at=pd.Timestamp(row["events_changed_at"], unit="s", tz="UTC")
        if row["events_changed_at"] is not None
        else None,
        updated_at=pd.Timestamp(row["updated_at"], unit="s", tz="UTC"),
    )


def _summary_info(row: Mapping[Any, Any]) -> SeriesInfo:
    """A series row with its stored sample summary (count, span, last value, the typical step)."""
    n, first, last = int(row["sample_count"] or 0), row["first_ts"], row["last_ts"]
    step = round((last - first) / (n - 1)) if n > 1 and first is not None and last is not None else None
    return replace(
        _row_info(row),
        samples=n,
        first_ts=pd.Timestamp(first, unit="s", tz="UTC") if first is not None else None,
        last_ts=pd.Timestamp(last, unit="s", tz="UTC") if last is not None else None,
        last_value=row["last_value"],
        step_seconds=step,
    )


def series_id(conn: Connection, service: str, metric: str, *, create: bool) -> int | None:
    """The id of a series in ``conn``'s transaction; with ``create``, a new series is added when there is none."""
    row = conn.execute(
        select(series.c.id).where(and_(series.c.service == service, series.c.metric == metric))
    ).first()
    if row is not None:
        return int(row[0])
    if not create:
        return None
    t = now()
    result = conn.execute(
        series.insert().values(
            service=service,
            metric=metric,
            unit=unit_for(metric),
            created_at=t,
            updated_at=t,
            description="",
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def _summarize(conn: Connection, sid: int, added: int, lo: int, hi: int) -> None:
    """Bring the series' sample summary up to date after an ingest added ``added`` samples within ``[lo, hi]``.

    Incremental, so an ingest costs no scan: the count grows by the rows added, the span widens to the batch, and
    the last value is re-read by primary key (a batch may have replaced the newest sample's value).
    """
    row = conn.execute(
        select(series.c.sample_count, series.c.first_ts, series.c.last_ts).where(series.c.id == sid)
    ).one()
    first = lo if row.first_ts is None else min(int(row.first_ts), lo)
    last = hi if row.last_ts is None else max(int(row.last_ts), hi)
    last_value = conn.execute(
        select(samples.c.value).where(and_(samples.c.series_id == sid, samples.c.ts == last))
    ).scalar_one()
    conn.execute(
        update(series)
        .where(series.c.id == sid)
        .values(
            sample_count=int(row.sample_count) + added, first_ts=first, last_ts=last, last_value=last_value
        )
    )


class SeriesRepository:
    """Series and their samples: ingest, describe, load, configure, delete.

    Every method runs in one transaction of the shared :class:`~capacity.store.db.Database`.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def _upsert_samples(self, conn: Connection, sid: int, secs: np.ndarray, values: np.ndarray) -> int:
        """Insert or replace samples; returns how many rows changed (new, or a different value)."""
        # The hot path of every ingest: a constant statement and the driver's executemany (no per-row SQLAlchemy
        # work) runs at several hundred thousand rows per second on SQLite. A re-sent sample with the same value
        # is not written again, so it does not count as a change (and does not make forecasts stale).
        if conn.dialect.name == "postgresql":
            # One statement per batch, the rows as two arrays: PostgreSQL pays a round trip per executed row.
            sql = (
                "INSERT INTO samples (series_id, ts, value) "
                "SELECT %s, t, v FROM unnest(%s::bigint[], %s::double precision[]) AS u(t, v) "
                "ON CONFLICT (series_id, ts) DO UPDATE SET value = excluded.value "
                "WHERE samples.value IS DISTINCT FROM excluded.value"
            )
            ts_list, value_list = secs.tolist(), values.tolist()
            return sum(
                max(
                    0,
                    conn.exec_driver_sql(
                        sql, (sid, ts_list[i : i + BATCH], value_list[i : i + BATCH])
                    ).rowcount,
                )
                for i in range(0, len(ts_list), BATCH)
            )
        sql = (
            "INSERT INTO samples (series_id, ts, value) VALUES (?, ?, ?) "
            "ON CONFLICT (series_id, ts) DO UPDATE SET value = excluded.value "
            "WHERE samples.value IS NOT excluded.value"
        )
        rows = list(zip([sid] * len(secs), secs.tolist(), values.tolist(), strict=True))
        changed = 0
        for i in range(0, len(rows), BATCH):
            changed += max(0, conn.exec_driver_sql(sql, rows[i : i + BATCH]).rowcount)
        return changed

    def ingest(self, history: pd.DataFrame) -> IngestReport:
        """Store a validated history frame in one transaction; re-ingesting the same rows changes nothing.

        Rows with the same (service, metric, ts) inside the frame keep the last one. A sample already stored at
        that timestamp is replaced by the new value.

        Args:
            history: a frame that passed ``capacity.schema.validate_history``.

        Returns:
            Counts of rows, series, new samples and replaced samples.
        """
        frame = history.drop_duplicates([SERVICE, METRIC, TS], keep="last")
        inserted = 0
        created = 0
        with translate_errors("ingest"), self.db.write() as conn:
            touched: list[int] = []
            changed_series: list[int] = []
            for (service, metric), part in frame.groupby([SERVICE, METRIC], sort=False):
                sid = series_id(conn, str(service), str(metric), create=False)
                if sid is None:
                    sid = series_id(conn, str(service), str(metric), create=True)
                    created += 1
                assert sid is not None
                touched.append(sid)
                secs = to_epoch(part[TS])
                lo, hi = int(secs.min()), int(secs.max())
                count = (
                    select(func.count())
                    .select_from(samples)
                    .where(and_(samples.c.series_id == sid, samples.c.ts >= lo, samples.c.ts <= hi))
                )
                before = conn.execute(count).scalar_one()
                if self._upsert_samples(conn, sid, secs, part[VALUE].to_numpy(dtype=np.float64)):
                    changed_series.append(sid)
                added = conn.execute(count).scalar_one() - before
                inserted += added
                _summarize(conn, sid, added, lo, hi)
            if created:
                sync_digests(conn, only_missing=True)  # new series start with the calendar as it is
            if changed_series:
                conn.execute(
                    update(series)
                    .where(series.c.id.in_(changed_series))
                    .values(data_version=series.c.data_version + 1, updated_at=now())
                )
        return IngestReport(
            rows=len(history),
            series=len(touched),
            inserted=inserted,
            updated=len(frame) - inserted,
            created_series=created,
            changed_series=len(changed_series),
        )

    def configure_series(self, configs: Iterable[SeriesConfig], *, create: bool = True) -> int:
        """Apply thresholds, capacity and aggregation from the fleet config, in one transaction.

        Returns:
            The number of series configured.
        """
        n = 0
        created = False
        with translate_errors("configure series"), self.db.write() as conn:
            if create:
                # before the rows it updates: a calendar write holding the lock may be waiting for them
                lock_calendar(conn)
            for cfg in configs:
                sid = series_id(conn, cfg.service, cfg.metric, create=False)
                if sid is None and create:
                    sid = series_id(conn, cfg.service, cfg.metric, create=True)
                    created = True
                if sid is None:
                    raise UnknownSeries(f"unknown series {cfg.service}/{cfg.metric}", field="series")
                conn.execute(
                    update(series)
                    .where(series.c.id == sid)
                    .values(
                        threshold=cfg.threshold,
                        instances=cfg.instances,
                        instance_capacity=cfg.instance_capacity,
                        agg=cfg.agg,
                        description=cfg.description,
                        updated_at=now(),
                    )
                )
                n += 1
            if created:
                sync_digests(conn, only_missing=True)  # new series start with the calendar as it is
        return n

    def update_series(self, service: str, metric: str, **fields: Any) -> SeriesInfo:
        """Change some of a series' settings (threshold, instances, instance_capacity, agg, description).

        Raises:
            UnknownSeries: when the series does not exist.
        """
        allowed = {"threshold", "instances", "instance_capacity", "agg", "description"}
        values = {k: v for k, v in fields.items() if k in allowed}
        with translate_errors("update series"), self.db.write() as conn:
            sid = series_id(conn, service, metric, create=False)
            if sid is None:
                raise UnknownSeries(f"unknown series {service}/{metric}", field="series")
            if values:
                conn.execute(update(series).where(series.c.id == sid).values(**values, updated_at=now()))
        return self.describe(service, metric)

    def list_series(self) -> list[SeriesInfo]:
        """Every series with its sample count, span and last value, ordered by service then metric.

        One row per series: the summaries are kept by :meth:`ingest` (since migration 0006), so a list never
        scans the samples (:meth:`scan_summaries` is the scan it must agree with).
        """
        query = select(series).order_by(series.c.service, series.c.metric)
        with translate_errors("list series"), self.db.read() as conn:
            rows = conn.execute(query).mappings().all()
        return [_summary_info(row) for row in rows]

    def scan_summaries(self) -> dict[tuple[str, str], tuple[int, int | None, int | None, float | None]]:
        """Each series' (count, first ts, last ts, last value) counted from its samples: the slow reference the
        stored summaries are checked against (tests, and anyone who doubts a store)."""
        stats = (
            select(
                samples.c.series_id,
                func.count().label("n"),
                func.min(samples.c.ts).label("first"),
                func.max(samples.c.ts).label("last"),
            )
            .group_by(samples.c.series_id)
            .subquery()
        )
        last_value = (
            select(samples.c.value)
            .where(and_(samples.c.series_id == series.c.id, samples.c.ts == stats.c.last))
            .correlate(series, stats)
            .scalar_subquery()
        )
        query = select(
            series.c.service, series.c.metric, stats.c.n, stats.c.first, stats.c.last, last_value
        ).select_from(series.outerjoin(stats, stats.c.series_id == series.c.id))
        with translate_errors("scan series"), self.db.read() as conn:
            return {
                (r[0], r[1]): (int(r[2] or 0), r[3], r[4], None if r[5] is None else float(r[5]))
                for r in conn.execute(query).all()
            }

    def describe(self, service: str, metric: str) -> SeriesInfo:
        """One series with its sample summary.

        Raises:
            UnknownSeries: when the store has no such series.
        """
        with translate_errors("describe series"), self.db.read() as conn:
            row = (
                conn.execute(
                    select(series).where(and_(series.c.service == service, series.c.metric == metric))
                )
                .mappings()
                .first()
            )
            if row is None:
                raise UnknownSeries(f"unknown series {service}/{metric}", field="series")
        return _summary_info(row)

    def load_history(
        self,
        service: str,
        metric: str,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> pd.Series:
        """The raw samples of one series as a float Series on a UTC ``DatetimeIndex`` (sorted).

        Raises:
            UnknownSeries: when the store has no such series.
        """
        with translate_errors("load history"), self.db.read() as conn:
            sid = series_id(conn, service, metric, create=False)
            if sid is None:
                raise UnknownSeries(f"unknown series {service}/{metric}", field="series")
            query = select(samples.c.ts, samples.c.value).where(samples.c.series_id == sid)
            if start is not None:
                query = query.where(samples.c.ts >= int(start.timestamp()))
            if end is not None:
                query = query.where(samples.c.ts < int(end.timestamp()))
            rows = conn.execute(query.order_by(samples.c.ts)).all()
        ts = from_epoch(r[0] for r in rows)
        values = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
        return pd.Series(values, index=ts, name=f"{service}/{metric}")

    def delete_series(self, service: str, metric: str) -> None:
        """Remove a series with its samples, forecasts and load tests.

        Raises:
            UnknownSeries: when the store has no such series.
        """

        with translate_errors("delete series"), self.db.write() as conn:
            sid = series_id(conn, service, metric, create=False)
            if sid is None:
                raise UnknownSeries(f"unknown series {service}/{metric}", field="series")
            runs = select(forecast_runs.c.id).where(forecast_runs.c.series_id == sid)
            conn.execute(delete(forecast_points).where(forecast_points.c.run_id.in_(runs)))
            conn.execute(delete(forecast_runs).where(forecast_runs.c.series_id == sid))
            conn.execute(delete(samples).where(samples.c.series_id == sid))
            conn.execute(delete(series).where(series.c.id == sid))
