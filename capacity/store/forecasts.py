"""Forecast runs and their points: save a forecast (or a failure) in one transaction, read the latest back."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, and_, desc, select

from capacity.errors import UnknownSeries
from capacity.forecast.types import ForecastResult, ForecastSpec, PeakForecast
from capacity.schema import MEAN, TS, quantile_column
from capacity.store.db import Database, now, translate_errors
from capacity.store.events import calendar_digest
from capacity.store.series import from_epoch, to_epoch
from capacity.store.staleness import staleness_by_series
from capacity.store.tables import forecast_points, forecast_runs, series


@dataclass(frozen=True)
class StoredForecast:
    """A forecast run as stored."""

    run_id: int
    service: str
    metric: str
    created_at: pd.Timestamp
    status: str
    model: str
    freq: str
    horizon: int
    history_end: pd.Timestamp | None
    data_version: int
    spec: dict[str, Any]
    scores: dict[str, Any]
    diagnostics: list[str]
    error: str | None
    frame: pd.DataFrame
    paths: np.ndarray | None
    events_digest: str | None = None
    peaks: PeakForecast | None = None


def peaks_json(peaks: PeakForecast | None) -> dict[str, Any] | None:
    """A forecast's weekly peaks as JSON-ready data (kept with the scores: a risk run reads the window's peak from
    them, so it must survive the store)."""
    if peaks is None:
        return None
    out: dict[str, Any] = {
        "starts": [int(t.timestamp()) for t in peaks.starts],
        "days": list(peaks.days),
        "levels": {str(q): [float(x) for x in v] for q, v in peaks.levels.items()},
    }
    if peaks.paths is not None:
        # float64: a risk run's long-window probability must be the plan's, path for path
        out["paths"] = base64.b64encode(pack_paths(peaks.paths, np.float64)).decode("ascii")
    return out


def peaks_from_json(raw: Any) -> PeakForecast | None:
    """The inverse of :func:`peaks_json` (None for a forecast stored without weekly peaks; no ``paths`` for one
    stored before the weekly paths were kept, whose long-window probability then stays the blend's)."""
    if not isinstance(raw, dict):
        return None
    packed = raw.get("paths")
    return PeakForecast(
        starts=pd.DatetimeIndex([pd.Timestamp(int(t), unit="s", tz="UTC") for t in raw["starts"]]),
        days=tuple(int(d) for d in raw["days"]),
        levels={float(q): np.asarray(v, dtype="float64") for q, v in raw["levels"].items()},
        paths=unpack_paths(base64.b64decode(packed)) if isinstance(packed, str) else None,
    )


def pack_paths(paths: np.ndarray, dtype: type[np.floating[Any]] = np.float32) -> bytes:
    """Sample paths as compressed ``.npy`` bytes (float32 unless asked otherwise)."""
    buf = io.BytesIO()
    np.savez_compressed(buf, paths=paths.astype(dtype))
    return buf.getvalue()


def unpack_paths(blob: bytes | None) -> np.ndarray | None:
    """The inverse of :func:`pack_paths`."""
    if not blob:
        return None
    with np.load(io.BytesIO(blob)) as data:
        return np.asarray(data["paths"], dtype=np.float64)


#: Width of ``forecast_runs.model`` (255 since migration 0002): PostgreSQL enforces it, SQLite does not.
MODEL_COLUMN = 255


def short_model(name: str) -> str:
    """A model name cut to fit ``forecast_runs.model`` (ending in ``...`` when cut)."""
    return name if len(name) <= MODEL_COLUMN else name[: MODEL_COLUMN - 3] + "..."


def _spec_json(spec: ForecastSpec) -> str:
    raw = asdict(spec)
    raw["events"] = [
        {"name": e.name, "start": e.start.isoformat(), "end": e.end.isoformat()} for e in spec.events
    ]
    return json.dumps(raw, default=str)


class ForecastRepository:
    """Forecast runs: save (or record a failure), the latest, the history, what is stale.

    Every method runs in one transaction of the shared :class:`~capacity.store.db.Database`.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def _require(self, conn: Connection, service: str, metric: str) -> tuple[int, int]:
        row = conn.execute(
            select(series.c.id, series.c.data_version).where(
                and_(series.c.service == service, series.c.metric == metric)
            )
        ).first()
        if row is None:
            raise UnknownSeries(f"unknown series {service}/{metric}", field="series")
        return int(row[0]), int(row[1])

    def save_forecast(
        self,
        service: str,
        metric: str,
        result: ForecastResult,
        spec: ForecastSpec,
        data_version: int | None = None,
    ) -> int:
        """Store a successful forecast and its points in one transaction; returns the run id."""
        frame = result.frame
        qcols = [quantile_column(q) for q in spec.quantiles]
        secs = to_epoch(frame[TS])
        qvalues = frame[qcols].to_numpy(dtype="float64")
        with translate_errors("save forecast"), self.db.write() as conn:
            sid, version = self._require(conn, service, metric)
            run_id = conn.execute(
                forecast_runs.insert().values(
                    series_id=sid,
                    created_at=now(),
                    status="ok",
                    model=short_model(result.model),  # full name in scores
                    freq=spec.freq,
                    horizon=spec.horizon,
                    history_end=int(result.history_end.timestamp()),
                    data_version=version if data_version is None else data_version,
                    events_digest=calendar_digest(spec.events),
                    spec=_spec_json(spec),
                    scores=json.dumps(
                        {
                            "chosen": dict(result.scores),
                            "candidates": {k: dict(v) for k, v in result.candidates.items()},
                            "periods": list(result.periods),
                            "fallback": result.fallback,
                            "model": result.model,
                            "peaks": peaks_json(result.peaks),
                        }
                    ),
                    diagnostics=json.dumps(list(result.diagnostics)),
                    paths=pack_paths(result.paths)
                    if result.paths is not None and result.paths.size
                    else None,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            rows = [
                {
                    "run_id": run_id,
                    "ts": int(t),
                    "mean": float(m),
                    "quantiles": json.dumps(dict(zip(qcols, map(float, q), strict=True))),
                }
                for t, m, q in zip(secs.tolist(), frame[MEAN].tolist(), qvalues, strict=True)
            ]
            if rows:
                conn.execute(forecast_points.insert(), rows)
        return int(run_id)

    def save_failed_forecast(self, service: str, metric: str, spec: ForecastSpec, error: str) -> int:
        """Record that forecasting a series failed, and why; returns the run id."""
        with translate_errors("save forecast"), self.db.write() as conn:
            sid, version = self._require(conn, service, metric)
            run_id = conn.execute(
                forecast_runs.insert().values(
                    series_id=sid,
                    created_at=now(),
                    status="failed",
                    freq=spec.freq,
                    horizon=spec.horizon,
                    data_version=version,
                    events_digest=calendar_digest(spec.events),
                    spec=_spec_json(spec),
                    error=error[:2000],
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        return int(run_id)

    def latest_forecast(self, service: str, metric: str, *, with_paths: bool = True) -> StoredForecast | None:
        """The newest successful forecast of a series, or None when it has none.

        Raises:
            UnknownSeries: when the store has no such series.
        """
        with translate_errors("read forecast"), self.db.read() as conn:
            sid, _ = self._require(conn, service, metric)
            row = (
                conn.execute(
                    select(forecast_runs)
                    .where(and_(forecast_runs.c.series_id == sid, forecast_runs.c.status == "ok"))
                    .order_by(desc(forecast_runs.c.id))
                    .limit(1)
                )
                .mappings()
                .first()
            )
            if row is None:
                return None
            return self._stored(conn, row, service, metric, with_paths)

    def forecast_history(self, service: str, metric: str, limit: int = 50) -> list[StoredForecast]:
        """Past successful forecasts of a series, newest first (for live accuracy)."""
        with translate_errors("read forecasts"), self.db.read() as conn:
            sid, _ = self._require(conn, service, metric)
            rows = (
                conn.execute(
                    select(forecast_runs)
                    .where(and_(forecast_runs.c.series_id == sid, forecast_runs.c.status == "ok"))
                    .order_by(desc(forecast_runs.c.id))
                    .limit(limit)
                )
                .mappings()
                .all()
            )
            return [self._stored(conn, row, service, metric, False) for row in rows]

    def forecast_staleness(self) -> dict[tuple[str, str], str]:
        """Every series and why it needs a new forecast, "" when it does not (one query; the rule of
        :mod:`capacity.store.staleness`)."""
        with translate_errors("read forecast"), self.db.read() as conn:
            return staleness_by_series(conn)

    def latest_run_status(self, service: str, metric: str) -> dict[str, Any] | None:
        """The newest run of a series whatever its status: id, status, error, data_version, events_digest,
        created_at."""
        with translate_errors("read forecast"), self.db.read() as conn:
            sid, _ = self._require(conn, service, metric)
            row = (
                conn.execute(
                    select(
                        forecast_runs.c.id,
                        forecast_runs.c.status,
                        forecast_runs.c.error,
                        forecast_runs.c.data_version,
                        forecast_runs.c.events_digest,
                        forecast_runs.c.created_at,
                    )
                    .where(forecast_runs.c.series_id == sid)
                    .order_by(desc(forecast_runs.c.id))
                    .limit(1)
                )
                .mappings()
                .first()
            )
        return dict(row) if row is not None else None

    def _stored(
        self, conn: Connection, row: Any, service: str, metric: str, with_paths: bool
    ) -> StoredForecast:
        points = conn.execute(
            select(forecast_points.c.ts, forecast_points.c.mean, forecast_points.c.quantiles)
            .where(forecast_points.c.run_id == row["id"])
            .order_by(forecast_points.c.ts)
        ).all()
        frame = pd.DataFrame({TS: from_epoch(p[0] for p in points), MEAN: [p[1] for p in points]})
        if points:
            qs = pd.DataFrame([json.loads(p[2]) for p in points])
            for col in qs.columns:
                frame[col] = qs[col].to_numpy()
        scores = json.loads(row["scores"] or "{}")
        return StoredForecast(
            run_id=row["id"],
            service=service,
            metric=metric,
            created_at=pd.Timestamp(row["created_at"], unit="s", tz="UTC"),
            status=row["status"],
            model=str(scores.get("model") or row["model"]),
            freq=row["freq"],
            horizon=row["horizon"],
            history_end=pd.Timestamp(row["history_end"], unit="s", tz="UTC") if row["history_end"] else None,
            data_version=row["data_version"],
            spec=json.loads(row["spec"] or "{}"),
            scores=scores,
            diagnostics=json.loads(row["diagnostics"] or "[]"),
            error=row["error"],
            frame=frame,
            paths=unpack_paths(row["paths"]) if with_paths else None,
            events_digest=row["events_digest"],
            peaks=peaks_from_json(scores.get("peaks")),
        )
