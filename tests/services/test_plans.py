"""Capacity plans made from the store: one plan per series (a failing series does not stop the others), sized like
a risk run, stored when made, and scored once its weeks have actuals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from capacity.errors import NotEnoughHistory, UnknownSeries
from capacity.forecast.regularize import regularize
from capacity.report.plan_section import HINT, plan_html, plan_markdown
from capacity.services.plans import PlanRequest, latest_plan_rows, make_plans, plan_accuracy, plan_record
from capacity.store import Store
from tests.support.yearly import hourly_cpu, store_series

CUT = "2023-01-02"  # the plan is made from the history before this day, the rest arrives later


@pytest.fixture
def planned(store: Store) -> Store:
    full = hourly_cpu(2.4, seed=1)
    store_series(
        store, full[full.index < pd.Timestamp(CUT, tz="UTC")], "grid", "cpu", threshold=55.0, instances=8
    )
    store_series(store, full.iloc[-24 * 10 :], "young", "cpu", threshold=55.0)  # ten days: too short to plan
    return store


def test_every_series_gets_a_plan_or_a_reason_and_the_plans_are_stored(planned: Store) -> None:
    outcomes = {o.service: o for o in make_plans(planned, PlanRequest(weeks=13, agg="max"))}
    assert outcomes["young"].plan is None and "too few" in outcomes["young"].error
    plan = outcomes["grid"].plan
    assert plan is not None and len(plan.weeks) == 13
    assert plan.weeks[0].start == pd.Timestamp(CUT, tz="UTC")
    for week in plan.weeks:
        assert week.p50 <= week.p90
        assert week.headroom_pct == pytest.approx((55.0 - week.p90) / 55.0 * 100)
        # the risk run's sizing of a percent metric: instances x peak x (1 + margin) / threshold, rounded up
        assert week.instances_needed == max(1, math.ceil(8 * week.p90 * 1.1 / 55.0 - 1e-9))
    stored = planned.plans.list_plans()
    assert [(p.service, p.id) for p in stored] == [("grid", outcomes["grid"].plan_id)]
    assert [w["p50"] for w in stored[0].weeks] == [w.p50 for w in plan.weeks]
    assert stored[0].agg == "max" and stored[0].score is None
    record = plan_record(outcomes["grid"])
    assert record["weeks"][0]["start"].startswith("2023-01-02") and record["growth"]["basis"]


def test_a_plan_is_scored_when_its_weeks_have_actuals(planned: Store) -> None:
    (outcome,) = make_plans(planned, PlanRequest(weeks=8, service="grid", agg="max"))
    assert outcome.plan is not None
    assert plan_accuracy(planned)[0].score is None  # no actuals yet
    full = hourly_cpu(2.4, seed=1)
    store_series(planned, full[full.index >= pd.Timestamp(CUT, tz="UTC")], "grid", "cpu")
    (scored,) = [p for p in plan_accuracy(planned) if p.service == "grid"]
    assert scored.score is not None and scored.score.weeks_scored == scored.score.weeks_planned == 8
    daily = regularize(full[full.index >= pd.Timestamp(CUT, tz="UTC")], "1D", "max").values
    apes = []
    for week in outcome.plan.weeks:
        actual = daily[(daily.index >= week.start) & (daily.index < week.start + pd.Timedelta(days=7))].max()
        apes.append(abs(week.p50 - actual) / actual)
    assert [w["ape"] for w in scored.score.weeks] == pytest.approx(apes)
    assert scored.score.mape == pytest.approx(np.mean(apes) * 100)
    assert scored.score.within_10 == pytest.approx(np.mean(np.array(apes) <= 0.10))
    rows = latest_plan_rows(planned)
    assert [(r["service"], r["score"]["weeks_scored"]) for r in rows] == [("grid", 8)]
    # the readiness report's capacity-plan section, from these rows
    share = f"{scored.score.within_10:.0%} / {scored.score.within_20:.0%} of 8 weeks"
    row = next(line for line in plan_markdown(rows, str) if line.startswith("| grid |"))
    assert f"| {CUT} +8w |" in row and share in row
    html = plan_html(rows)
    assert "<h2>Capacity plan</h2>" in html and "<td>grid</td>" in html and html.count("<tr>") == 2
    assert HINT in plan_html([]) and "not scored yet" not in row


def test_bad_requests_name_the_field_before_anything_is_planned(planned: Store) -> None:
    with pytest.raises(
        NotEnoughHistory
    ) as info:  # a quarter before the history ends: this history rules it out
        make_plans(planned, PlanRequest(weeks=13, quarter="2020Q1"))
    assert info.value.field == "quarter"
    with pytest.raises(UnknownSeries):
        make_plans(planned, PlanRequest(service="nope"))
    assert planned.plans.list_plans() == []
