"""Capacity plans: made from the store's histories, stored when made, scored when the quarter's actuals arrive.

What ``capacity plan``, the readiness report and ``GET /api/v1/plan`` show is computed here, once:

- :func:`plan_series` forecasts one series' daily peaks months ahead (the long-range engine), turns them into
  weekly peaks and a week-by-week plan, sized with the risk run's :func:`~capacity.risk.assess.instances_needed`;
- :func:`make_plans` does it for every series asked for (one failing series does not stop the others) and, with
  ``save``, stores each plan as made;
- :func:`score_plans` scores every stored plan whose weeks have (more) actuals now, and stores the score;
  :func:`plan_accuracy` returns the stored plans with their scores, scoring the due ones first.

The clock is read only by the store (the ``created_at`` of a plan, the ``scored_at`` of a score).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from capacity.batch.task import spec_for
from capacity.errors import CapacityError, InvalidInput, NotEnoughHistory, UnknownSeries
from capacity.events.calendar import EventOccurrence
from capacity.forecast.peaks import PEAK_PATHS, weekly_peaks
from capacity.forecast.pipeline import forecast_long_series
from capacity.forecast.regularize import AGGREGATIONS, regularize
from capacity.forecast.types import ForecastSpec
from capacity.plan.days import DEFAULT_DAY_AGG, plan_basis, plan_days
from capacity.plan.growth import assumed_growth
from capacity.plan.plan import DEFAULT_MARGIN, PLAN_LEVEL, PlanTarget, SeriesPlan, build_plan
from capacity.plan.score import score_plan
from capacity.plan.weeks import plan_window
from capacity.report.plan_chart import PlanChartSpec, render_plan_chart
from capacity.report.plots import CHART_LOCK
from capacity.risk.assess import instances_needed
from capacity.schema import unit_label
from capacity.store import SeriesInfo, Store
from capacity.store.plans import StoredPlan, iso_utc, week_records

#: Sample paths behind the weekly peaks' crossing probabilities: as many as a forecast's weekly peaks carry, so a
#: plan and a risk run over the same weeks give one crossing probability.
PLAN_PATHS = PEAK_PATHS
#: Weeks of actual weekly peaks shown before the plan in its chart: a year, so the same season last year is in
#: view next to the planned weeks (half a year hid it, and a quarterly plan is mostly about that season).
RECENT_WEEKS = 53


@dataclass(frozen=True)
class PlanRequest:
    """What to plan.

    Attributes:
        weeks: weeks ahead (without ``quarter``).
        quarter: a quarter such as ``2027Q1`` (its weeks), or None.
        service: only this service (None: every series).
        metric: only this metric.
        agg: how a day's hours are reduced to its peak (``max``, ``p95``, ``mean``); None: ``max``, the day's
            peak hour (whatever the series' own aggregation, which combines the samples inside an hour).
        margin: the capacity margin of the sizing.
    """

    weeks: int = 13
    quarter: str | None = None
    service: str | None = None
    metric: str | None = None
    agg: str | None = None
    margin: float = DEFAULT_MARGIN


@dataclass(frozen=True)
class PlanOutcome:
    """One series' plan, or why there is none.

    Attributes:
        service, metric, unit, agg: the series and how a day's hours were reduced to its peak.
        plan: the plan (None when it failed).
        error: why it failed (empty when planned).
        plan_id: the stored plan's id (None when not saved).
        recent: the last weeks' actual weekly peaks (for the chart), indexed by week start.
        basis: what the peaks are, as the plan states it (``daily max of hourly means``).
    """

    service: str
    metric: str
    unit: str
    agg: str
    plan: SeriesPlan | None
    error: str = ""
    plan_id: int | None = None
    recent: pd.Series | None = None
    basis: str = ""


def plan_series(
    values: pd.Series, info: SeriesInfo, request: PlanRequest, events: Sequence[EventOccurrence] = ()
) -> tuple[SeriesPlan, pd.Series]:
    """The plan of one series from its raw history; returns the plan and the recent actual weekly peaks.

    The plan is made on the daily peaks a risk run reads (:func:`~capacity.plan.days.plan_days`: whole days of
    the hourly series, each day's ``max`` unless ``request.agg`` asks otherwise), so a plan and ``capacity risks``
    over the same weeks state one peak and one probability. The engine makes the forecast to its reach (13 or 26
    weeks, :data:`~capacity.forecast.longrange.LONG_REACHES`) whatever the window, so every plan and risk window
    within one reach reads one forecast: a 26-week plan and next quarter's agree on every week they share.

    Raises:
        InvalidInput: for a bad window (weeks, quarter) or aggregation.
        NotEnoughHistory: when the history is too short to backtest weekly peaks.
    """
    agg = request.agg or DEFAULT_DAY_AGG
    if agg not in AGGREGATIONS:
        raise InvalidInput(f"agg must be one of {', '.join(AGGREGATIONS)}, got {agg!r}", field="agg")
    if values.empty:
        raise NotEnoughHistory(f"{info.service}/{info.metric} has no samples", field="values")
    days = plan_days(values, info.agg, agg, info.step_seconds)
    if days.empty:
        raise NotEnoughHistory(f"{info.service}/{info.metric} holds no whole day of samples", field="values")
    # the first plan day is the day after the last whole day: a partial last day is in the plan's first week
    window = plan_window(pd.DatetimeIndex(days.index)[-1], request.weeks, request.quarter)
    base = ForecastSpec(
        horizon=window.forecast_days, freq="1D", quantiles=(0.1, 0.5, PLAN_LEVEL), n_paths=200
    )
    spec = spec_for(base, "max", info.service, events)  # days are already peaks: any agg keeps them
    long = forecast_long_series(days, spec)
    if long.inner is None:
        raise NotEnoughHistory(
            f"{info.service}/{info.metric}: {len(long.daily)} days of history are too few for a plan "
            "(its weekly peaks are calibrated by a backtest; about five weeks are needed)",
            field="values",
        )
    daily = long.daily.to_numpy(dtype="float64")
    peaks = weekly_peaks(
        daily,
        pd.Timestamp(long.result.frame["ts"].iloc[0]).normalize(),
        long.daily_mean,
        long.inner,
        first=window.lead_days,
        weeks=window.weeks,
        cut=window.lead_days + window.days,
        yearly=long.yearly,
        quantiles=(0.5, PLAN_LEVEL),
        n_paths=PLAN_PATHS,
    )
    size = partial(
        instances_needed,
        metric=info.metric,
        threshold=info.threshold,
        instances=info.instances,
        instance_capacity=info.instance_capacity,
        margin=request.margin,
    )
    plan = build_plan(
        PlanTarget(info.service, info.metric, info.threshold, info.instances, info.instance_capacity),
        peaks,
        assumed_growth(daily, long.daily_mean, window.lead_days, window.days),
        model=long.result.model,
        history_end=pd.Timestamp(pd.DatetimeIndex(values.index).max()),
        size=size,
        margin=request.margin,
        quarter=window.quarter,
    )
    return plan, recent_weekly_peaks(long.daily)


def recent_weekly_peaks(daily: pd.Series, weeks: int = RECENT_WEEKS) -> pd.Series:
    """The maximum of each of the last ``weeks`` whole 7-day blocks of a daily series, by block start."""
    take = min(len(daily) // 7, weeks) * 7
    if take == 0:
        return pd.Series(dtype="float64")
    tail = daily.iloc[len(daily) - take :]
    v = tail.to_numpy(dtype="float64").reshape(-1, 7).max(axis=1)
    return pd.Series(v, index=pd.DatetimeIndex(tail.index[::7]))


def _infos(store: Store, request: PlanRequest) -> list[SeriesInfo]:
    infos = [
        i
        for i in store.series.list_series()
        if (request.service is None or i.service == request.service)
        and (request.metric is None or i.metric == request.metric)
    ]
    if not infos:
        target = "/".join(x for x in (request.service, request.metric) if x) or "any series"
        raise UnknownSeries(f"no series matches {target}", field="service")
    return infos


def make_plans(store: Store, request: PlanRequest, *, save: bool = True) -> list[PlanOutcome]:
    """Plan every series ``request`` names; with ``save``, store each plan as it is made.

    Raises:
        UnknownSeries: when no series matches the request.
        InvalidInput: for a bad window or aggregation (before any series is planned).
    """
    plan_window(pd.Timestamp("2000-01-01", tz="UTC"), request.weeks, None)  # validates weeks up front
    events = store.events.list_events()
    out = []
    for info in _infos(store, request):
        agg = request.agg or DEFAULT_DAY_AGG
        basis = plan_basis(agg, info.agg, info.step_seconds)
        try:
            values = store.series.load_history(info.service, info.metric)
            plan, recent = plan_series(values, info, request, events)
        except CapacityError as exc:
            if exc.field in ("quarter", "horizon", "agg"):
                raise
            out.append(PlanOutcome(info.service, info.metric, info.unit, agg, None, str(exc), basis=basis))
            continue
        plan_id = store.plans.save_plan(plan, agg) if save else None
        out.append(PlanOutcome(info.service, info.metric, info.unit, agg, plan, "", plan_id, recent, basis))
    return out


def _daily_peaks(values: pd.Series, agg: str, info: SeriesInfo | None) -> pd.Series:
    """The actual daily peaks a plan is scored on: made as its planned days were (whole days only)."""
    if not len(values):
        return pd.Series(dtype="float64")
    if info is None:  # the series is gone: its raw samples' days
        return regularize(values, "1D", agg).values
    return plan_days(values, info.agg, agg, info.step_seconds)


def score_plans(store: Store, plans: Sequence[StoredPlan] | None = None) -> int:
    """Score every stored plan whose weeks have more actuals than its stored score; returns how many were scored."""
    scored = 0
    for plan in plans if plans is not None else store.plans.list_plans(limit=10_000):
        if plan.score is not None and plan.score.weeks_scored == plan.score.weeks_planned:
            continue
        try:
            values = store.series.load_history(plan.service, plan.metric, start=plan.first_day)
        except CapacityError:
            continue
        if values.empty:
            continue
        try:
            info = store.series.describe(plan.service, plan.metric)
        except CapacityError:
            info = None
        try:
            daily = _daily_peaks(values, plan.agg, info)
        except CapacityError:  # too few samples since the plan's first day to make a day of them
            continue
        # a day counts when it had samples; regularize fills gaps, so keep only the days that had any
        observed = pd.DatetimeIndex(values.index).normalize().unique()
        daily = daily[daily.index.isin(observed)]
        score = score_plan(
            [(pd.Timestamp(w["start"]), int(w["days"]), float(w["p50"])) for w in plan.weeks], daily
        )
        if score is None or (plan.score is not None and len(score.weeks) <= plan.score.weeks_scored):
            continue
        store.plans.save_score(plan.id, score)
        scored += 1
    return scored


def plan_accuracy(
    store: Store, service: str | None = None, metric: str | None = None, limit: int = 100
) -> list[StoredPlan]:
    """Stored plans (newest first) with their scores, after scoring the ones with new actuals."""
    score_plans(store, store.plans.list_plans(service, metric, limit=limit))
    return store.plans.list_plans(service, metric, limit=limit)


def _iso(ts: pd.Timestamp | None) -> str | None:
    return None if ts is None else iso_utc(ts)


def plan_record(outcome: PlanOutcome) -> dict[str, Any]:
    """One series' plan as JSON-ready data (what ``capacity plan --json`` writes and the API returns)."""
    record: dict[str, Any] = {
        "service": outcome.service,
        "metric": outcome.metric,
        "agg": outcome.agg,
        "peaks": outcome.basis,
    }
    if outcome.plan is None:
        return {**record, "error": outcome.error}
    plan = outcome.plan
    return {
        **record,
        "plan_id": outcome.plan_id,
        "unit": outcome.unit,
        "quarter": plan.quarter,
        "history_end": _iso(plan.history_end),
        "model": plan.model,
        "threshold": plan.target.threshold,
        "instances": plan.target.instances,
        "instance_capacity": plan.target.instance_capacity,
        "margin": plan.margin,
        "growth": {"pct_per_year": plan.growth.pct_per_year, "basis": plan.growth.basis},
        "first_crossing": _iso(plan.first_crossing),
        "first_crossing_probability": plan.first_crossing_probability,
        "peak_p50": plan.peak_p50,
        "weeks": week_records(plan),
    }


def plan_chart_png(outcome: PlanOutcome) -> bytes:
    """The plan's chart: recent weekly peaks, planned p50 and p90 weekly peaks, the threshold, the first crossing.

    Raises:
        InvalidInput: for an outcome without a plan.
    """
    plan = outcome.plan
    if plan is None:
        raise InvalidInput(
            f"{outcome.service}/{outcome.metric} has no plan: {outcome.error}", field="service"
        )
    crossing = None
    if plan.first_crossing is not None and plan.first_crossing_probability is not None:
        crossing = (plan.first_crossing, plan.first_crossing_probability)
    spec = PlanChartSpec(
        title=f"{outcome.service} / {outcome.metric}: weekly {outcome.agg} peaks, plan from "
        f"{plan.weeks[0].start:%Y-%m-%d}" + (f" ({plan.quarter})" if plan.quarter else ""),
        unit=unit_label(outcome.metric),
        starts=pd.DatetimeIndex([w.start for w in plan.weeks]),
        p50=np.array([w.p50 for w in plan.weeks]),
        p90=np.array([w.p90 for w in plan.weeks]),
        recent=outcome.recent if outcome.recent is not None else pd.Series(dtype="float64"),
        threshold=plan.target.threshold,
        first_crossing=crossing,
        days=np.array([w.days for w in plan.weeks]),
    )
    with CHART_LOCK:
        return render_plan_chart(spec)


def plan_summary(plan: StoredPlan) -> dict[str, Any]:
    """One stored plan as a readiness-report row (see :mod:`capacity.report.plan_section`)."""
    headrooms = [w["headroom_pct"] for w in plan.weeks if w["headroom_pct"] is not None]
    instances = [w["instances_needed"] for w in plan.weeks if w["instances_needed"] is not None]
    score = plan.score
    return {
        "service": plan.service,
        "metric": plan.metric,
        "agg": plan.agg,
        "plan_id": plan.id,
        "first_day": _iso(plan.first_day),
        "weeks": len(plan.weeks),
        "quarter": plan.quarter,
        "peak_p50": max(w["p50"] for w in plan.weeks),
        "peak_p90": max(w["p90"] for w in plan.weeks),
        "min_headroom_pct": min(headrooms) if headrooms else None,
        "max_instances": max(instances) if instances else None,
        "first_crossing": _iso(plan.first_crossing),
        "first_crossing_probability": plan.first_crossing_probability,
        "growth_pct": plan.growth_pct,
        "growth_basis": plan.growth_basis,
        "created_at": _iso(plan.created_at),
        "score": None
        if score is None
        else {
            "weeks_scored": score.weeks_scored,
            "weeks_planned": score.weeks_planned,
            "mape": score.mape,
            "within_10": score.within_10,
            "within_20": score.within_20,
        },
    }


def latest_plan_rows(store: Store) -> list[dict[str, Any]]:
    """The readiness report's plan section: the newest stored plan of each series (after scoring the due ones)."""
    latest: dict[tuple[str, str], StoredPlan] = {}
    for plan in plan_accuracy(store, limit=10_000):
        latest.setdefault((plan.service, plan.metric), plan)
    return [plan_summary(p) for _, p in sorted(latest.items())]


def stored_plan_record(plan: StoredPlan) -> dict[str, Any]:
    """A stored plan with its weeks and its score, as JSON-ready data (``capacity accuracy --plans``, the API)."""
    row = plan_summary(plan)
    row["weeks_planned"] = plan.weeks
    row["model"] = plan.model
    row["agg"] = plan.agg
    row["threshold"] = plan.threshold
    row["history_end"] = _iso(plan.history_end)
    row["scored_weeks"] = plan.score.weeks if plan.score is not None else []
    return row


def accuracy_summary(plans: Sequence[StoredPlan]) -> dict[str, float | int]:
    """Over the scored weeks of ``plans``: how many, their MAPE and shares within 10% and 20%."""
    apes = np.array([w["ape"] for p in plans if p.score is not None for w in p.score.weeks], dtype="float64")
    if not len(apes):
        return {"plans": 0, "weeks": 0}
    return {
        "plans": sum(1 for p in plans if p.score is not None),
        "weeks": len(apes),
        "mape": float(np.mean(apes) * 100.0),
        "within_10": float(np.mean(apes <= 0.10 + 1e-12)),
        "within_20": float(np.mean(apes <= 0.20 + 1e-12)),
    }
