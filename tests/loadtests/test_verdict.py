"""The SLO gate's arithmetic: histograms, per-step judgement, the verdict, the measured capacity, result checks."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capacity.errors import InvalidInput
from loadtests.plan import LoadPlan
from loadtests.plan_build import parse_plan
from loadtests.verdict import (
    EXIT_CODES,
    StepResult,
    Tally,
    bucket,
    build_result,
    decide,
    judge_step,
    percentile,
    validate_result,
)
from tests.support.loadtests import tally


def make_plan(target: float = 100, steps: tuple[float, ...] = (0.5, 1.0, 1.5), **extra: object) -> LoadPlan:
    return parse_plan(
        {
            "target_rps": target,
            "steps": list(steps),
            "step_seconds": 10,
            "slo": {"p95_ms": 250, "max_failure_ratio": 0.01},
            "requests": [{"path": "/"}],
            **extra,
        }
    )


def test_bucket_rounding() -> None:
    assert [bucket(x) for x in (0.4, 20.6, 99.4, 123.0, 999.0, 1234.0)] == [0, 21, 99, 120, 1000, 1200]
    assert all(isinstance(bucket(x), int) for x in (5.5, 555.5, 5555.5))


def test_percentile_nearest_rank_and_extra() -> None:
    hist = {10: 90, 100: 10}
    assert percentile(hist, 0.5) == 10
    assert percentile(hist, 0.9) == 10
    assert percentile(hist, 0.95) == 100
    assert percentile({}, 0.5) is None
    # unanswered requests count at the timeout: they are at least that slow
    assert percentile({10: 5}, 0.95, extra=5, extra_ms=5000) == 5000


@given(st.dictionaries(st.integers(0, 10_000), st.integers(1, 50), min_size=1))
def test_percentiles_are_monotone_and_within_range(hist: dict[int, int]) -> None:
    p50, p95, p99 = (percentile(hist, q) for q in (0.5, 0.95, 0.99))
    assert p50 is not None and p95 is not None and p99 is not None
    assert min(hist) <= p50 <= p95 <= p99 <= max(hist)


def test_tally_wire_round_trip() -> None:
    t = Tally(sent=10, ok=8, failed=1, hist={20: 9}, seconds=2.5, skipped=1)
    assert Tally.from_wire(json.loads(json.dumps(t.to_wire()))) == t


def test_judge_merges_processes_and_meets_slo() -> None:
    plan = make_plan()
    step = judge_step(plan, 1, [tally(50), tally(50)], final=True)
    assert step.target_rps == 100
    assert step.achieved_rps == pytest.approx(100)
    assert step.requests == 1000 and step.failures == 0
    assert step.p50_ms == step.p95_ms == 20
    assert step.met_slo and step.reason == ""


def test_judge_latency_failures_and_generator() -> None:
    plan = make_plan()
    slow = judge_step(plan, 1, [tally(100, latency_ms=400)], final=True)
    assert not slow.met_slo and "p95 400 ms > 250 ms" in slow.reason and not slow.generator_short
    failing = judge_step(plan, 1, [tally(100, failed=50)], final=True)
    assert failing.failure_ratio == pytest.approx(0.05) and "failures 5.00% > 1.00%" in failing.reason
    short = judge_step(plan, 1, [tally(80)], final=True)
    assert short.generator_short and "load generator sent 80.0/s" in short.reason and not short.met_slo
    within = judge_step(plan, 1, [tally(91)], final=True)
    assert within.met_slo  # 10 % tolerance


def test_unresolved_requests_count_at_timeout_and_as_failures_when_final() -> None:
    plan = make_plan(timeout_s=5)
    live = judge_step(plan, 1, [tally(100, unresolved=100)], final=False)
    assert live.unresolved == 100 and live.p95_ms == 5000 and live.failures == 0
    final = judge_step(plan, 1, [tally(100, unresolved=100)], final=True)
    assert final.failures == 100 and final.failure_ratio == pytest.approx(0.1)


def judged(plan: LoadPlan, rates_met: list[tuple[float, bool]]) -> list[StepResult]:
    out = []
    for i, (rate, ok) in enumerate(rates_met):
        out.append(judge_step(plan, i, [tally(rate, latency_ms=20 if ok else 900)], final=True))
    return out


def test_decide_pass_fail_unreachable_and_capacity() -> None:
    plan = make_plan(target=100, steps=(0.5, 1.0, 1.5))
    v = decide(plan, judged(plan, [(50, True), (100, True), (150, True)]))
    assert (v.verdict, v.exit_code, v.measured_capacity_rps, v.capacity_is_lower_bound) == (
        "pass",
        0,
        150,
        True,
    )
    v = decide(plan, judged(plan, [(50, True), (100, True), (150, False)]))
    assert (v.verdict, v.measured_capacity_rps, v.capacity_is_lower_bound) == ("pass", 100, False)
    v = decide(plan, judged(plan, [(50, True), (100, False)]))
    assert (v.verdict, v.exit_code, v.measured_capacity_rps) == ("fail", 1, 50)
    v = decide(plan, judged(plan, [(50, False)]))  # stopped early before the target
    assert (v.verdict, v.measured_capacity_rps) == ("fail", None)
    v = decide(plan, judged(plan, [(50, True), (70, True)]))  # the generator fell short at the target
    assert (v.verdict, v.exit_code) == ("unreachable", 2) and "load generator" in v.reason
    v = decide(plan, [])
    assert v.verdict == "unreachable" and v.exit_code == 2


def test_exit_codes() -> None:
    assert EXIT_CODES == {"pass": 0, "fail": 1, "unreachable": 2}


def test_result_shape_and_validation() -> None:
    plan = make_plan()
    result = build_result(
        plan, judged(plan, [(50, True), (100, True), (150, False)]), stopped_early=False, host="h"
    )
    for key in ("verdict", "target_rps", "measured_capacity_rps", "steps"):
        assert key in result
    for key in ("target_rps", "achieved_rps", "p50_ms", "p95_ms", "p99_ms", "failure_ratio", "met_slo"):
        assert all(key in s for s in result["steps"])
    roundtrip = json.loads(json.dumps(result))
    assert validate_result(roundtrip) == roundtrip


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda r: r.update(verdict="maybe"), "result.verdict"),
        (lambda r: r.update(target_rps=-1), "result.target_rps"),
        (lambda r: r.update(steps="x"), "result.steps"),
        (lambda r: r["steps"][1].pop("p95_ms"), "result.steps[1].p95_ms"),
        (lambda r: r["steps"][0].update(met_slo="yes"), "result.steps[0].met_slo"),
        (lambda r: r.update(measured_capacity_rps=900), "result.measured_capacity_rps"),
    ],
)
def test_validate_result_names_the_field(mutate: object, field: str) -> None:
    plan = make_plan()
    result = json.loads(
        json.dumps(build_result(plan, judged(plan, [(50, True), (100, True)]), stopped_early=False))
    )
    mutate(result)  # type: ignore[operator]
    with pytest.raises(InvalidInput) as info:
        validate_result(result)
    assert info.value.field == field


def test_a_lagging_load_generator_is_unreachable_not_a_service_failure() -> None:
    plan = make_plan(target=100, steps=(0.5, 1.0))
    busy = [Tally(sent=500, ok=500, failed=0, hist={400: 500}, seconds=10, lag={300: 500})]
    step = judge_step(plan, 0, busy, final=True)
    assert step.generator_lagging and step.generator_short and step.send_lag_p95_ms == 300
    assert "p95 send delay 300 ms" in step.reason
    v = decide(plan, [step])
    assert (v.verdict, v.exit_code) == ("unreachable", 2)
    calm = [Tally(sent=500, ok=500, failed=0, hist={400: 500}, seconds=10, lag={1: 500})]
    slow_service = judge_step(plan, 0, calm, final=True)
    assert not slow_service.generator_lagging and slow_service.send_lag_p95_ms == 1
    assert decide(plan, [slow_service]).verdict == "fail"


def test_a_service_that_fails_while_the_generator_lags_is_still_a_fail() -> None:
    plan = make_plan(target=100, steps=(0.5, 1.0))
    overloaded = [Tally(sent=500, ok=300, failed=200, hist={500: 500}, seconds=10, lag={80: 500})]
    step = judge_step(plan, 0, overloaded, final=True)
    assert step.generator_lagging and step.failure_ratio == pytest.approx(0.4)
    assert decide(plan, [step]).verdict == "fail"  # 40 % failures are the service's, lag or not
    slow = [Tally(sent=1000, ok=1000, failed=0, hist={900: 1000}, seconds=10, lag={60: 1000})]
    target = judge_step(plan, 1, slow, final=True)
    assert target.generator_lagging and decide(plan, [target]).verdict == "fail"  # 900 - 60 ms > 250 ms
