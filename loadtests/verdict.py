"""The SLO gate's arithmetic (pure; never imports locust): per-step tallies, step judgement, verdict, result.

Each load process keeps one :class:`Tally` per step: requests it sent in the step, the responses to them (ok or
failed) and a latency histogram. Latency is measured from the instant a request was *scheduled* to be sent, so
a client that falls behind cannot hide a slow service (no coordinated omission). Tallies of all processes are
merged per step and judged against the plan's SLOs; the verdict comes from the target step:

* ``pass`` (exit 0): the target step met every SLO;
* ``fail`` (exit 1): the target step, or an earlier step that stopped the ramp, missed an SLO;
* ``unreachable`` (exit 2): the load generator could not send the target rate (or was too busy to send on time,
  so its latencies cannot be trusted), or the run ended before the target step without a failing step.

The measured capacity is the highest achieved rate of a step that met the SLOs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from capacity.errors import InvalidInput, describe_value
from loadtests.plan import LoadPlan

VERDICTS = ("pass", "fail", "unreachable")
EXIT_CODES = {"pass": 0, "fail": 1, "unreachable": 2}


def bucket(ms: float) -> int:
    """Round a latency into a histogram bucket: 1 ms below 100 ms, 10 ms below 1 s, 100 ms above (as Locust)."""
    if ms < 100:
        return round(ms)
    if ms < 1000:
        return int(round(ms, -1))
    return int(round(ms, -2))


@dataclass(frozen=True)
class Tally:
    """One load process's counts for one step.

    Attributes:
        sent: requests started in the step.
        ok: of those, responses that succeeded.
        failed: of those, responses that failed (HTTP >= 400, connection errors, timeouts).
        hist: latency histogram of the responses (ok and failed): bucket ms -> count.
        seconds: how long the process held the step, or None while it still runs.
        skipped: send instants the process missed because it was more than a quarter second late.
        lag: histogram of send delays (ms from the scheduled instant to the request starting): a busy load
            process shows here, and its latencies cannot be trusted.
    """

    sent: int = 0
    ok: int = 0
    failed: int = 0
    hist: Mapping[int, int] = field(default_factory=dict)
    seconds: float | None = None
    skipped: int = 0
    lag: Mapping[int, int] = field(default_factory=dict)

    @property
    def resolved(self) -> int:
        """Responses received (ok + failed)."""
        return self.ok + self.failed

    def to_wire(self) -> dict[str, Any]:
        """A msgpack/JSON-safe dict (string keys)."""
        return {
            "sent": self.sent,
            "ok": self.ok,
            "failed": self.failed,
            "hist": {str(k): v for k, v in self.hist.items()},
            "seconds": self.seconds,
            "skipped": self.skipped,
            "lag": {str(k): v for k, v in self.lag.items()},
        }

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> Tally:
        """The inverse of :meth:`to_wire`."""
        return cls(
            sent=int(raw["sent"]),
            ok=int(raw["ok"]),
            failed=int(raw["failed"]),
            hist={int(float(k)): int(v) for k, v in raw["hist"].items()},
            seconds=None if raw.get("seconds") is None else float(raw["seconds"]),
            skipped=int(raw.get("skipped", 0)),
            lag={int(float(k)): int(v) for k, v in raw.get("lag", {}).items()},
        )


def percentile(
    hist: Mapping[int, int], q: float, *, extra: int = 0, extra_ms: float = math.inf
) -> float | None:
    """The ``q`` quantile (0..1, nearest rank) of a histogram, with ``extra`` more samples at ``extra_ms``.

    Returns None when there are no samples.
    """
    total = sum(hist.values()) + extra
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for ms in sorted(hist):
        seen += hist[ms]
        if seen >= rank:
            return float(ms)
    return float(extra_ms)


@dataclass(frozen=True)
class StepResult:
    """One step judged against the SLOs (all processes merged)."""

    index: int
    factor: float
    target_rps: float
    sent_rps: float
    achieved_rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    failure_ratio: float
    requests: int
    failures: int
    unresolved: int
    seconds: float
    met_slo: bool
    generator_short: bool
    reason: str
    send_lag_p95_ms: float | None = None
    generator_lagging: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The step as it appears in ``result.json``."""
        return {
            "index": self.index,
            "factor": self.factor,
            "target_rps": self.target_rps,
            "sent_rps": round(self.sent_rps, 2),
            "achieved_rps": round(self.achieved_rps, 2),
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "failure_ratio": round(self.failure_ratio, 5),
            "requests": self.requests,
            "failures": self.failures,
            "unresolved": self.unresolved,
            "seconds": round(self.seconds, 3),
            "met_slo": self.met_slo,
            "generator_short": self.generator_short,
            "send_lag_p95_ms": self.send_lag_p95_ms,
            "generator_lagging": self.generator_lagging,
            "reason": self.reason,
        }


def merge_hist(hists: Iterable[Mapping[int, int]]) -> dict[int, int]:
    """Sum histograms."""
    out: dict[int, int] = {}
    for h in hists:
        for k, v in h.items():
            out[k] = out.get(k, 0) + v
    return out


def lag_limit_ms(plan: LoadPlan) -> float:
    """The p95 send delay past which a load process is too busy to judge by: 20 % of the p95 SLO, >= 25 ms."""
    return max(25.0, 0.2 * plan.slo.p95_ms)


def judge_step(plan: LoadPlan, index: int, tallies: Sequence[Tally], *, final: bool) -> StepResult:
    """Merge the processes' tallies of step ``index`` and judge them against the plan's SLOs.

    Args:
        plan: the plan.
        index: the step.
        tallies: one tally per load process that ran the step (a process that has not finished the step, with
            ``seconds`` None, is left out of the rates).
        final: True when no more responses can come: requests still unanswered count as failures. Either way
            they count in the latency percentiles at the request timeout (they are at least that slow or fail).

    Returns:
        The judged step.
    """
    target = plan.step_targets[index]
    timed = [t for t in tallies if t.seconds]
    sent_rps = sum(t.sent / t.seconds for t in timed if t.seconds)
    achieved_rps = sum(t.resolved / t.seconds for t in timed if t.seconds)
    sent = sum(t.sent for t in tallies)
    failed = sum(t.failed for t in tallies)
    unresolved = max(0, sent - sum(t.resolved for t in tallies))
    hist = merge_hist(t.hist for t in tallies)
    timeout_ms = plan.timeout_s * 1000.0
    p50, p95, p99 = (percentile(hist, q, extra=unresolved, extra_ms=timeout_ms) for q in (0.5, 0.95, 0.99))
    failures = failed + (unresolved if final else 0)
    ratio = failures / sent if sent else 0.0
    floor = (1.0 - plan.rate_tolerance) * target
    reasons = []
    if sent == 0:
        reasons.append("no requests sent")
    if p95 is not None and p95 > plan.slo.p95_ms:
        reasons.append(f"p95 {p95:g} ms > {plan.slo.p95_ms:g} ms")
    if plan.slo.p99_ms is not None and p99 is not None and p99 > plan.slo.p99_ms:
        reasons.append(f"p99 {p99:g} ms > {plan.slo.p99_ms:g} ms")
    if ratio > plan.slo.max_failure_ratio:
        reasons.append(f"failures {ratio:.2%} > {plan.slo.max_failure_ratio:.2%}")
    lag_p95 = percentile(merge_hist(t.lag for t in tallies), 0.95)
    lagging = lag_p95 is not None and lag_p95 > lag_limit_ms(plan)
    if lagging:
        reasons.append(f"load generator lagging: p95 send delay {lag_p95:g} ms (add --workers)")
    generator_short = sent_rps < floor or lagging
    if sent_rps < floor:
        reasons.append(f"load generator sent {sent_rps:.1f}/s < {floor:.1f}/s (add --workers)")
    elif achieved_rps < floor:
        reasons.append(f"achieved {achieved_rps:.1f}/s < {floor:.1f}/s")
    return StepResult(
        index=index,
        factor=plan.steps[index],
        target_rps=target,
        sent_rps=sent_rps,
        achieved_rps=achieved_rps,
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
        failure_ratio=ratio,
        requests=sent,
        failures=failures,
        unresolved=unresolved,
        seconds=max((t.seconds for t in timed if t.seconds), default=0.0),
        met_slo=not reasons,
        generator_short=generator_short,
        reason="; ".join(reasons),
        send_lag_p95_ms=lag_p95,
        generator_lagging=lagging,
    )


@dataclass(frozen=True)
class Verdict:
    """The outcome of a run."""

    verdict: str
    measured_capacity_rps: float | None
    capacity_is_lower_bound: bool
    reason: str

    @property
    def exit_code(self) -> int:
        """0 pass, 1 fail, 2 unreachable."""
        return EXIT_CODES[self.verdict]


def service_breach(plan: LoadPlan, step: StepResult) -> bool:
    """Whether ``step`` shows the *service* missing an SLO, whatever the load generator did.

    Failures beyond the SLO, latency above it even after taking off the generator's own send delay, or responses
    that did not keep up with what was sent, are the service's. A step that missed its rate only because the
    generator was short or late is not.
    """
    lag = step.send_lag_p95_ms or 0.0
    floor = (1.0 - plan.rate_tolerance) * step.target_rps
    return (
        step.failure_ratio > plan.slo.max_failure_ratio
        or (step.p95_ms is not None and step.p95_ms - lag > plan.slo.p95_ms)
        or (plan.slo.p99_ms is not None and step.p99_ms is not None and step.p99_ms - lag > plan.slo.p99_ms)
        or (step.sent_rps >= floor and step.achieved_rps < floor)
    )


def decide(plan: LoadPlan, steps: Sequence[StepResult]) -> Verdict:
    """The verdict of a run from its judged steps (in order; the ramp may have stopped early).

    Returns:
        The verdict, the measured capacity (highest achieved rate of a step that met the SLOs, None when none
        did) and whether that capacity is only a lower bound (no step above it missed the SLOs).
    """
    met = [s for s in steps if s.met_slo]
    capacity = round(max(s.achieved_rps for s in met), 1) if met else None
    best = max(met, key=lambda s: s.achieved_rps) if met else None
    lower_bound = best is not None and not any(s.index > best.index and not s.met_slo for s in steps)
    target_step = next((s for s in steps if s.index == plan.target_index), None)
    if target_step is not None:
        if target_step.met_slo:
            verdict, reason = "pass", f"target step {target_step.target_rps:g}/s met the SLOs"
        elif service_breach(plan, target_step):
            verdict, reason = "fail", f"target step {target_step.target_rps:g}/s: {target_step.reason}"
        else:
            verdict, reason = "unreachable", f"target step: {target_step.reason}"
    else:
        broken = next((s for s in steps if not s.met_slo), None)
        if broken is None:
            verdict, reason = "unreachable", "the run ended before the target step"
        elif service_breach(plan, broken):
            verdict, reason = (
                "fail",
                f"stopped at step {broken.target_rps:g}/s before the target: {broken.reason}",
            )
        else:
            verdict, reason = "unreachable", f"step {broken.target_rps:g}/s: {broken.reason}"
    return Verdict(verdict, capacity, lower_bound, reason)


def build_result(
    plan: LoadPlan, steps: Sequence[StepResult], *, stopped_early: bool, **meta: Any
) -> dict[str, Any]:
    """The ``result.json`` document: verdict, exit code, capacity, the plan and every judged step.

    Args:
        plan: the plan that ran.
        steps: the judged steps, in order.
        stopped_early: whether a failing step stopped the ramp.
        **meta: extra top-level fields (host, workers, started_at, finished_at, ...).
    """
    v = decide(plan, steps)
    return {
        "verdict": v.verdict,
        "exit_code": v.exit_code,
        "reason": v.reason,
        "target_rps": plan.target_rps,
        "measured_capacity_rps": v.measured_capacity_rps,
        "capacity_is_lower_bound": v.capacity_is_lower_bound,
        "stopped_early": stopped_early,
        "service": plan.service,
        "metric": plan.metric,
        "slo": plan.slo.to_dict(),
        "step_seconds": plan.step_seconds,
        "steps": [s.to_dict() for s in steps],
        "plan": plan.to_dict(),
        **meta,
    }


STEP_KEYS = ("target_rps", "achieved_rps", "p50_ms", "p95_ms", "p99_ms", "failure_ratio", "met_slo")


def _num(value: object, where: str, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise InvalidInput(f"{where} must be a non-negative number, got {describe_value(value)}", field=where)
    return float(value)


def validate_result(raw: object) -> dict[str, Any]:
    """Check a ``result.json`` document (as posted to the API) and return it unchanged.

    Raises:
        InvalidInput: naming the first bad field (``result.steps[2].p95_ms``) and echoing its value.
    """
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"result must be an object, got {describe_value(raw)}", field="result")
    verdict = raw.get("verdict")
    if verdict not in VERDICTS:
        raise InvalidInput(
            f"result.verdict must be one of {', '.join(VERDICTS)}, got {describe_value(verdict)}",
            field="result.verdict",
        )
    target = _num(raw.get("target_rps"), "result.target_rps")
    if not target:
        raise InvalidInput("result.target_rps must be > 0, got 0", field="result.target_rps")
    capacity = _num(raw.get("measured_capacity_rps"), "result.measured_capacity_rps", optional=True)
    steps = raw.get("steps")
    if not isinstance(steps, list):
        raise InvalidInput(f"result.steps must be a list, got {describe_value(steps)}", field="result.steps")
    for i, step in enumerate(steps):
        where = f"result.steps[{i}]"
        if not isinstance(step, Mapping):
            raise InvalidInput(f"{where} must be an object, got {describe_value(step)}", field=where)
        for key in STEP_KEYS:
            if key not in step:
                raise InvalidInput(f"{where}.{key} is required", field=f"{where}.{key}")
        for key in ("target_rps", "achieved_rps", "failure_ratio"):
            _num(step[key], f"{where}.{key}")
        for key in ("p50_ms", "p95_ms", "p99_ms"):
            _num(step[key], f"{where}.{key}", optional=True)
        if not isinstance(step["met_slo"], bool):
            raise InvalidInput(
                f"{where}.met_slo must be true or false, got {describe_value(step['met_slo'])}",
                field=f"{where}.met_slo",
            )
    met = [float(s["achieved_rps"]) for s in steps if s["met_slo"]]
    if capacity is not None and met and capacity > max(met) * 1.001 + 0.05:
        raise InvalidInput(
            f"result.measured_capacity_rps {capacity:g} exceeds the best step that met the SLOs ({max(met):g})",
            field="result.measured_capacity_rps",
        )
    return dict(raw)
