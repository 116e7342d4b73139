"""Load plans: validation with errors that name the field, files, plan-from-forecast arithmetic, step schedule."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capacity.errors import InvalidConfig
from loadtests.plan import DEFAULT_STEPS, WARMUP_SECONDS, LoadPlan, RequestSpec, Slo, phase_at
from loadtests.plan_build import load_plan, parse_plan, parse_plan_text, plan_from_peak

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = {
    "target_rps": 150,
    "steps": [0.25, 0.5, 0.75, 1.0, 1.15, 1.3],
    "step_seconds": 10,
    "slo": {"p95_ms": 250, "max_failure_ratio": 0.01},
    "requests": [{"method": "GET", "path": "/", "weight": 1}],
}


def test_plan_modules_do_not_import_locust() -> None:
    import loadtests.plan
    import loadtests.plan_build
    import loadtests.verdict

    for module in (loadtests.plan, loadtests.plan_build, loadtests.verdict):
        text = Path(module.__file__ or "").read_text()
        assert "import locust" not in text and "from locust" not in text
    assert "locust" not in sys.modules, "the pytest process must never import locust (it monkey-patches)"


def test_minimal_plan_from_the_issue() -> None:
    plan = parse_plan(MINIMAL)
    assert plan.target_rps == 150
    assert plan.step_targets == (37.5, 75.0, 112.5, 150.0, 172.5, 195.0)
    assert plan.target_index == 3
    assert plan.slo == Slo(250, 0.01)
    assert plan.requests == (RequestSpec("GET", "/", 1.0),)
    assert plan.duration_s == 60


def test_round_trip_through_to_dict() -> None:
    plan = load_plan(ROOT / "loadtests" / "example-plan.toml")
    assert parse_plan(json.loads(json.dumps(plan.to_dict()))) == plan


def test_example_files_agree() -> None:
    js = load_plan(ROOT / "loadtests" / "example-plan.json")
    toml = load_plan(ROOT / "loadtests" / "example-plan.toml")
    assert js.target_rps == toml.target_rps == 150
    assert js.steps == toml.steps
    assert js.service == toml.service == "checkout"
    assert len(toml.requests) == 3 and toml.requests[2].json == {"sku": "A-100", "qty": 1}
    assert toml.slo.p99_ms == 600 and toml.staging_instances == 2


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"target_rps": -5}, "target_rps", "got -5"),
        ({"target_rps": "fast"}, "target_rps", "must be a number"),
        ({"slo": None}, "slo", "slo is required"),
        ({"slo": {"p95_ms": 250}}, "slo.max_failure_ratio", "required"),
        ({"slo": {"p95_ms": 0, "max_failure_ratio": 0.01}}, "slo.p95_ms", "got 0"),
        ({"slo": {"p95_ms": 250, "max_failure_ratio": 1.5}}, "slo.max_failure_ratio", "got 1.5"),
        ({"slo": {"p95_ms": 250, "max_failure_ratio": 0.01, "p99_ms": 100}}, "slo.p99_ms", ">= slo.p95_ms"),
        ({"steps": [0.5, 0.25, 1.0]}, "steps[1]", "strictly increasing"),
        ({"steps": [0.5, 0.75]}, "steps", "include 1.0"),
        ({"steps": [-0.5, 1.0]}, "steps", "got -0.5"),
        ({"step_seconds": 0.5}, "step_seconds", "got 0.5"),
        ({"requests": []}, "requests", "non-empty"),
        ({"requests": [{"method": "FETCH", "path": "/"}]}, "requests[0].method", "FETCH"),
        ({"requests": [{"path": "no-slash"}]}, "requests[0].path", "starting with '/'"),
        ({"requests": [{"path": "/", "weight": 0}]}, "requests[0].weight", "got 0"),
        ({"requests": [{"path": "/", "body": "x", "json": {}}]}, "requests[0].body", "not both"),
        ({"stpes": [1.0]}, "plan.stpes", "unknown key 'stpes'"),
        ({"concurrency": 0}, "concurrency", "got 0"),
    ],
)
def test_bad_plans_name_the_field(change: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(InvalidConfig) as info:
        parse_plan({**MINIMAL, **change})
    assert info.value.field == field
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_required_keys() -> None:
    for key in ("target_rps", "slo", "requests"):
        raw = {k: v for k, v in MINIMAL.items() if k != key}
        with pytest.raises(InvalidConfig, match=f"{key} is required"):
            parse_plan(raw)


def test_plan_files_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidConfig, match="cannot read plan file"):
        load_plan(tmp_path / "missing.json")
    bad = tmp_path / "bad.toml"
    bad.write_text("target_rps = [\n")
    with pytest.raises(InvalidConfig, match="not valid TOML"):
        load_plan(bad)
    with pytest.raises(InvalidConfig, match=r"p.json: target_rps must be in"):
        parse_plan_text(json.dumps({**MINIMAL, "target_rps": 0}), "json", where="p.json")


def test_plan_from_peak_arithmetic() -> None:
    plan = plan_from_peak(115.4, service="checkout", metric="rps", event="Black Friday")
    assert plan.target_rps == pytest.approx(150.0)  # 115.4 x 1.3 = 150.02 -> 150.0
    assert plan.steps == DEFAULT_STEPS
    assert plan.peak_rps == 115.4 and plan.margin == 1.3
    assert plan.source == "forecast" and plan.event == "Black Friday"
    assert plan.step_targets[plan.target_index] == plan.target_rps
    assert max(plan.step_targets) == pytest.approx(150.0 * 1.3)
    custom = plan_from_peak(100, margin=1.5, steps=(0.5, 1.0), step_seconds=3)
    assert custom.step_targets == (75.0, 150.0) and custom.step_seconds == 3


@pytest.mark.parametrize(
    ("peak", "margin", "field"),
    [(0, 1.3, "peak_p95_rps"), (float("nan"), 1.3, "peak_p95_rps"), (100, 0.9, "margin")],
)
def test_plan_from_peak_rejects(peak: float, margin: float, field: str) -> None:
    with pytest.raises(InvalidConfig) as info:
        plan_from_peak(peak, margin=margin)
    assert info.value.field == field


@given(
    peak=st.floats(min_value=0.1, max_value=10_000),
    margin=st.floats(min_value=1.0, max_value=3.0),
)
def test_plan_from_peak_target_covers_the_peak(peak: float, margin: float) -> None:
    plan = plan_from_peak(peak, margin=margin)
    assert plan.target_rps >= peak * margin - 0.05
    assert plan.step_targets == tuple(sorted(plan.step_targets))


def test_step_schedule() -> None:
    plan = parse_plan({**MINIMAL, "steps": [0.5, 1.0, 1.5], "step_seconds": 4})
    assert phase_at(plan, 0.0).kind == "warmup"
    assert phase_at(plan, WARMUP_SECONDS - 0.01).kind == "warmup"
    assert phase_at(plan, WARMUP_SECONDS) == phase_at(plan, WARMUP_SECONDS + 3.99)
    assert [phase_at(plan, WARMUP_SECONDS + 4 * i + 0.5).index for i in range(3)] == [0, 1, 2]
    assert phase_at(plan, WARMUP_SECONDS + 12).kind == "done"


@given(t=st.floats(min_value=0, max_value=100))
def test_schedule_is_monotone(t: float) -> None:
    plan = parse_plan({**MINIMAL, "step_seconds": 3})
    a, b = phase_at(plan, t), phase_at(plan, t + 0.5)
    order = {"warmup": -1, "step": 0, "done": 1}
    assert (order[a.kind], a.index) <= (order[b.kind], b.index if b.kind == "step" else 99)


def test_plan_is_frozen() -> None:
    plan: LoadPlan = parse_plan(MINIMAL)
    with pytest.raises(AttributeError):
        plan.target_rps = 1  # type: ignore[misc]
