"""Plans in the store: saved as made, listed newest first with their scores, a score replaced by a fuller one, and
gone with their series (SQLite and PostgreSQL)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from capacity.errors import UnknownSeries
from capacity.forecast.peaks import WeeklyPeaks
from capacity.plan.growth import YEAR_OVER_YEAR, Growth
from capacity.plan.plan import PlanTarget, SeriesPlan, build_plan
from capacity.plan.score import score_plan
from capacity.store import Store
from tests.support.yearly import daily_series, store_series

START = pd.Timestamp("2024-01-01", tz="UTC")


def a_plan(service: str = "grid", threshold: float | None = 80.0) -> SeriesPlan:
    rng = np.random.default_rng(0)
    paths = rng.normal(70, 5, (200, 4))
    peaks = WeeklyPeaks(
        starts=pd.DatetimeIndex([START + pd.Timedelta(days=7 * j) for j in range(4)]),
        days=(7, 7, 7, 7),
        quantiles={0.5: np.quantile(paths, 0.5, axis=0), 0.9: np.quantile(paths, 0.9, axis=0)},
        paths=paths,
        centre=paths.mean(axis=0),
    )
    return build_plan(
        PlanTarget(service, "cpu", threshold, 4),
        peaks,
        Growth(3.5, YEAR_OVER_YEAR),
        model="ensemble(climatology+harmonic_year)",
        history_end=START - pd.Timedelta(hours=1),
        size=lambda peak: 4,
        quarter="2024Q1",
    )


def test_a_plan_round_trips_and_its_score_is_replaced_by_a_fuller_one(any_store: Store) -> None:
    store_series(any_store, daily_series(0.2), "grid", "cpu")
    plan = a_plan()
    plan_id = any_store.plans.save_plan(plan, "max", created_at=1_700_000_000)
    (stored,) = any_store.plans.list_plans()
    assert stored.id == plan_id and (stored.service, stored.metric, stored.agg) == ("grid", "cpu", "max")
    assert stored.first_day == START and stored.quarter == "2024Q1" and stored.threshold == 80.0
    assert stored.growth_pct == 3.5 and stored.growth_basis == YEAR_OVER_YEAR
    assert [w["p90"] for w in stored.weeks] == pytest.approx([w.p90 for w in plan.weeks])
    assert stored.weeks[0]["instances_needed"] == 4 and stored.end == START + pd.Timedelta(days=28)
    # Stored weeks read like a fresh plan's JSON: the same keys, UTC times with a Z.
    assert stored.weeks[0]["start"] == "2024-01-01T00:00:00Z"
    assert stored.weeks[1]["crossing_probability"] == plan.weeks[1].crossing
    assert stored.weeks[1]["cumulative_probability"] == plan.weeks[1].cumulative
    assert stored.score is None
    actual = pd.Series(np.full(28, 75.0), index=pd.date_range(START, periods=28, freq="1D", tz="UTC"))
    partial = score_plan([(w.start, w.days, w.p50) for w in plan.weeks], actual.iloc[:14])
    full = score_plan([(w.start, w.days, w.p50) for w in plan.weeks], actual)
    assert partial is not None and full is not None
    any_store.plans.save_score(plan_id, partial)
    any_store.plans.save_score(plan_id, full)
    (stored,) = any_store.plans.list_plans()
    assert stored.score is not None and stored.score.weeks_scored == 4 and stored.score.weeks_planned == 4
    assert stored.score.mape == pytest.approx(full.mape)
    assert [w["actual"] for w in stored.score.weeks] == [75.0] * 4


def test_plans_are_filtered_newest_first_and_go_with_their_series(store: Store) -> None:
    for service in ("grid", "edge"):
        store_series(store, daily_series(0.2), service, "cpu")
    first = store.plans.save_plan(a_plan("grid"), "max", created_at=1_700_000_000)
    second = store.plans.save_plan(a_plan("grid", threshold=None), "p95", created_at=1_700_000_100)
    store.plans.save_plan(a_plan("edge"), "max", created_at=1_700_000_050)
    assert [p.id for p in store.plans.list_plans(service="grid")] == [second, first]
    assert store.plans.list_plans(service="grid")[0].threshold is None
    assert len(store.plans.list_plans(metric="cpu", limit=2)) == 2
    store.series.delete_series("grid", "cpu")
    assert [p.service for p in store.plans.list_plans()] == ["edge"]
    with pytest.raises(UnknownSeries):
        store.plans.save_plan(a_plan("nope"), "max")
