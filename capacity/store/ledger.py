"""The forecast ledger: each successful run's live accuracy, stored once scored and updated as actuals arrive.

This repository only reads and writes rows; what a score is (and when a run needs one) is
:mod:`capacity.services.accuracy`'s. A run needs scoring when it has no row yet, or when its series' data changed
since it was scored and the run is either still partial or its window reaches the samples that changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Connection, and_, desc, false, or_, select

from capacity.errors import UnknownSeries
from capacity.schema import MEAN, TS
from capacity.store.db import Database, now, translate_errors
from capacity.store.series import from_epoch
from capacity.store.tables import forecast_points, forecast_runs, forecast_scores, series, series_gauges
from capacity.store.upsert import upsert


@dataclass(frozen=True)
class RunToScore:
    """A stored run the ledger must (re)score, with what scoring it needs.

    Attributes:
        run_id: the forecast run.
        history_end: the last step of the history it was made from.
        freq: its step.
        horizon: its number of steps.
        periods: the seasonal periods its engine detected (the MASE lag is the shortest).
        backtest_mase: the MASE its backtest promised, when recorded.
        mase_scale: the scale found when it was first scored (kept: it describes the history the run saw).
    """

    run_id: int
    history_end: pd.Timestamp
    freq: str
    horizon: int
    periods: tuple[int, ...]
    backtest_mase: float | None
    mase_scale: float | None


@dataclass(frozen=True)
class Score:
    """One run's ledger row: its live accuracy so far.

    Attributes:
        run_id: the forecast run.
        window_end: when its last step ends.
        horizon: steps forecast.
        steps: steps scored so far (closed steps that have actuals).
        complete: every step of the horizon has closed.
        mase, mase_scale, smape, wape, coverage_80, coverage_95: the scores (None: not defined yet).
        abs_error, abs_actual: sums of absolute errors and actuals (WAPE over several runs is their ratio).
        backtest_mase: what the run's backtest promised.
    """

    run_id: int
    window_end: pd.Timestamp
    horizon: int
    steps: int
    complete: bool
    mase: float | None = None
    mase_scale: float | None = None
    smape: float | None = None
    wape: float | None = None
    abs_error: float | None = None
    abs_actual: float | None = None
    coverage_80: float | None = None
    coverage_95: float | None = None
    backtest_mase: float | None = None


@dataclass(frozen=True)
class LedgerEntry:
    """A ledger row with its run: when it was made, from what, by which model, and when it was scored."""

    score: Score
    created_at: pd.Timestamp
    history_end: pd.Timestamp | None
    model: str
    scored_at: pd.Timestamp


@dataclass(frozen=True)
class SeriesLedger:
    """What the ledger holds on one series: the newest runs' rows, the live summary, the newest run's backtest."""

    entries: list[LedgerEntry]
    summary: dict[str, Any] | None
    newest_run: int | None
    newest_model: str | None
    newest_scores: dict[str, Any]


#: The summary columns of ``series_gauges`` the ledger writes (the live part).
LIVE_COLUMNS = (
    "live_runs",
    "live_complete",
    "live_steps",
    "live_mase",
    "live_backtest_mase",
    "live_smape",
    "live_wape",
    "live_coverage_80",
    "live_coverage_95",
)


def _ts(value: int | None) -> pd.Timestamp | None:
    return pd.Timestamp(value, unit="s", tz="UTC") if value is not None else None


def _score(row: Any) -> Score:
    return Score(
        run_id=int(row.run_id),
        window_end=pd.Timestamp(row.window_end, unit="s", tz="UTC"),
        horizon=int(row.horizon),
        steps=int(row.steps),
        complete=bool(row.complete),
        mase=row.mase,
        mase_scale=row.mase_scale,
        smape=row.smape,
        wape=row.wape,
        abs_error=row.abs_error,
        abs_actual=row.abs_actual,
        coverage_80=row.coverage_80,
        coverage_95=row.coverage_95,
        backtest_mase=row.backtest_mase,
    )


class LedgerRepository:
    """Ledger rows: which runs need scoring, their forecasts, saving scores with the series' summary, reading."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _series(self, conn: Connection, service: str, metric: str) -> tuple[int, int, str]:
        row = conn.execute(
            select(series.c.id, series.c.data_version, series.c.agg).where(
                and_(series.c.service == service, series.c.metric == metric)
            )
        ).first()
        if row is None:
            raise UnknownSeries(f"unknown series {service}/{metric}", field="series")
        return int(row[0]), int(row[1]), str(row[2])

    def pending(
        self, service: str, metric: str, touched: tuple[pd.Timestamp, pd.Timestamp] | None = None
    ) -> tuple[int, str, list[RunToScore]]:
        """The series' data version and aggregation, and its successful runs that need (re)scoring, oldest first.

        A run needs it when it has no ledger row, or when the series' data changed since it was scored and the run
        is partial or (with ``touched``, the span of the samples just written) its window overlaps that span.

        Raises:
            UnknownSeries: when the series does not exist.
        """
        with translate_errors("read ledger"), self.db.read() as conn:
            sid, version, agg = self._series(conn, service, metric)
            reaches: Any = false()
            if touched is not None:
                lo, hi = int(touched[0].timestamp()), int(touched[1].timestamp())
                reaches = and_(forecast_scores.c.window_end > lo, forecast_runs.c.history_end < hi)
            query = (
                select(
                    forecast_runs.c.id,
                    forecast_runs.c.history_end,
                    forecast_runs.c.freq,
                    forecast_runs.c.horizon,
                    forecast_runs.c.scores,
                    forecast_scores.c.mase_scale,
                )
                .select_from(
                    forecast_runs.outerjoin(forecast_scores, forecast_scores.c.run_id == forecast_runs.c.id)
                )
                .where(
                    forecast_runs.c.series_id == sid,
                    forecast_runs.c.status == "ok",
                    forecast_runs.c.history_end.is_not(None),
                    or_(
                        forecast_scores.c.run_id.is_(None),
                        and_(
                            forecast_scores.c.data_version != version,
                            or_(forecast_scores.c.complete == false(), reaches),
                        ),
                    ),
                )
                .order_by(forecast_runs.c.id)
            )
            runs = []
            for row in conn.execute(query):
                scores = json.loads(row.scores or "{}")
                chosen = scores.get("chosen") or {}
                backtest = chosen.get("mase") if isinstance(chosen, dict) else None
                runs.append(
                    RunToScore(
                        run_id=int(row.id),
                        history_end=pd.Timestamp(row.history_end, unit="s", tz="UTC"),
                        freq=str(row.freq),
                        horizon=int(row.horizon),
                        periods=tuple(int(p) for p in scores.get("periods") or () if int(p) > 0),
                        backtest_mase=float(backtest) if isinstance(backtest, int | float) else None,
                        mase_scale=row.mase_scale,
                    )
                )
        return version, agg, runs

    def forecasts(self, run_ids: Sequence[int], quantiles: Sequence[str]) -> dict[int, pd.DataFrame]:
        """The stored points of each run: ``ts``, ``mean`` and the given quantile columns (NaN where not stored)."""
        out: dict[int, pd.DataFrame] = {}
        if not run_ids:
            return out
        with translate_errors("read forecasts"), self.db.read() as conn:
            rows = conn.execute(
                select(
                    forecast_points.c.run_id,
                    forecast_points.c.ts,
                    forecast_points.c.mean,
                    forecast_points.c.quantiles,
                )
                .where(forecast_points.c.run_id.in_(list(run_ids)))
                .order_by(forecast_points.c.run_id, forecast_points.c.ts)
            ).all()
        by_run: dict[int, list[Any]] = {}
        for row in rows:
            by_run.setdefault(int(row[0]), []).append(row)
        for run_id, points in by_run.items():
            parsed = [json.loads(p[3]) for p in points]
            frame = pd.DataFrame({TS: from_epoch(p[1] for p in points), MEAN: [float(p[2]) for p in points]})
            for col in quantiles:
                frame[col] = [float(q[col]) if col in q else float("nan") for q in parsed]
            out[run_id] = frame
        return out

    def save(
        self,
        service: str,
        metric: str,
        data_version: int,
        scores: Sequence[Score],
        summarize: Callable[[list[Score]], dict[str, Any]],
        live_runs: int,
    ) -> dict[str, Any]:
        """Store ``scores`` (as of ``data_version``) and, in the same transaction, the series' live summary made by
        ``summarize`` from its newest ``live_runs`` runs that have scored steps; returns that summary.

        Raises:
            UnknownSeries: when the series was deleted.
        """
        t = now()
        with translate_errors("save scores"), self.db.write() as conn:
            sid, _, _ = self._series(conn, service, metric)
            rows = [
                {
                    **{k: v for k, v in asdict(s).items() if k != "window_end"},
                    "window_end": int(s.window_end.timestamp()),
                    "series_id": sid,
                    "scored_at": t,
                    "data_version": data_version,
                }
                for s in scores
            ]
            upsert(conn, forecast_scores, rows, ["run_id"])
            recent = conn.execute(
                select(forecast_scores)
                .where(forecast_scores.c.series_id == sid, forecast_scores.c.steps > 0)
                .order_by(desc(forecast_scores.c.run_id))
                .limit(live_runs)
            ).all()
            summary = summarize([_score(r) for r in recent])
            upsert(
                conn,
                series_gauges,
                [{"series_id": sid, "live_at": t, **{k: summary.get(k) for k in LIVE_COLUMNS}}],
                ["series_id"],
            )
        return summary

    def read(self, service: str, metric: str, limit: int) -> SeriesLedger:
        """The newest ``limit`` ledger rows of a series with their runs, its live summary and its newest run.

        Raises:
            UnknownSeries: when the series does not exist.
        """
        with translate_errors("read ledger"), self.db.read() as conn:
            sid, _, _ = self._series(conn, service, metric)
            rows = conn.execute(
                select(
                    forecast_scores,
                    forecast_runs.c.created_at,
                    forecast_runs.c.history_end,
                    forecast_runs.c.model,
                )
                .select_from(
                    forecast_scores.join(forecast_runs, forecast_runs.c.id == forecast_scores.c.run_id)
                )
                .where(forecast_scores.c.series_id == sid)
                .order_by(desc(forecast_scores.c.run_id))
                .limit(limit)
            ).all()
            gauge = conn.execute(
                select(*(series_gauges.c[k] for k in LIVE_COLUMNS), series_gauges.c.live_at).where(
                    series_gauges.c.series_id == sid
                )
            ).first()
            newest = conn.execute(
                select(forecast_runs.c.id, forecast_runs.c.model, forecast_runs.c.scores)
                .where(forecast_runs.c.series_id == sid, forecast_runs.c.status == "ok")
                .order_by(desc(forecast_runs.c.id))
                .limit(1)
            ).first()
        entries = [
            LedgerEntry(
                score=_score(r),
                created_at=pd.Timestamp(r.created_at, unit="s", tz="UTC"),
                history_end=_ts(r.history_end),
                model=str(r.model),
                scored_at=pd.Timestamp(r.scored_at, unit="s", tz="UTC"),
            )
            for r in rows
        ]
        summary = dict(gauge._mapping) if gauge is not None and gauge.live_at is not None else None
        scores = json.loads(newest.scores or "{}") if newest is not None else {}
        return SeriesLedger(
            entries=entries,
            summary=summary,
            newest_run=int(newest.id) if newest is not None else None,
            newest_model=str(scores.get("model") or newest.model) if newest is not None else None,
            newest_scores=scores,
        )

    def summaries(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Every series' stored live summary (the ``live_*`` values), by (service, metric); one query."""
        with translate_errors("read ledger"), self.db.read() as conn:
            rows = conn.execute(
                select(series.c.service, series.c.metric, *(series_gauges.c[k] for k in LIVE_COLUMNS))
                .select_from(series.join(series_gauges, series_gauges.c.series_id == series.c.id))
                .where(series_gauges.c.live_at.is_not(None))
            ).all()
        return {(str(r[0]), str(r[1])): {k: getattr(r, k) for k in LIVE_COLUMNS} for r in rows}

    def behind(self, limit: int) -> list[tuple[str, str]]:
        """Up to ``limit`` series with a successful run that has no ledger row, or a partial one scored before the
        series' data changed (what a background pass scores)."""
        with translate_errors("read ledger"), self.db.read() as conn:
            rows = conn.execute(
                select(series.c.service, series.c.metric)
                .select_from(
                    forecast_runs.join(series, series.c.id == forecast_runs.c.series_id).outerjoin(
                        forecast_scores, forecast_scores.c.run_id == forecast_runs.c.id
                    )
                )
                .where(
                    forecast_runs.c.status == "ok",
                    forecast_runs.c.history_end.is_not(None),
                    or_(
                        forecast_scores.c.run_id.is_(None),
                        and_(
                            forecast_scores.c.complete == false(),
                            forecast_scores.c.data_version != series.c.data_version,
                        ),
                    ),
                )
                .group_by(series.c.service, series.c.metric)
                .limit(limit)
            ).all()
        return [(str(r[0]), str(r[1])) for r in rows]
