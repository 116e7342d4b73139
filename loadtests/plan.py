"""The load plan of a headroom check: target rate, step ramp, request mix and SLOs (pure; never imports locust).

A plan file (JSON or TOML) needs no more than::

    {"target_rps": 150, "steps": [0.25, 0.5, 0.75, 1.0, 1.15, 1.3], "step_seconds": 10,
     "slo": {"p95_ms": 250, "max_failure_ratio": 0.01},
     "requests": [{"method": "GET", "path": "/", "weight": 1}]}

Step ``i`` offers ``target_rps * steps[i]`` requests per second for ``step_seconds``; the step with factor 1.0 is
the target step that decides the verdict. The plan is validated where it is built, in :mod:`loadtests.plan_build`
(from a dict, a file or a forecast peak).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The default ramp, as fractions of the target rate: up to the target and past it.
DEFAULT_STEPS: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.15, 1.3)
#: The default safety margin over the forecast p95 peak.
DEFAULT_MARGIN = 1.3
#: Seconds of the first tick in which the driver users start before step 0 begins.
WARMUP_SECONDS = 1.0
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
MAX_STEPS = 50
MAX_RPS = 100_000.0

#: Every plan setting with its default and help text, declared once.
SETTINGS: dict[str, tuple[Any, str]] = {
    "target_rps": (None, "the target request rate (forecast p95 peak x margin), requests/s; required"),
    "steps": (
        DEFAULT_STEPS,
        "fractions of target_rps, strictly increasing, one of them 1.0 (the target step)",
    ),
    "step_seconds": (10.0, "how long each step is held, seconds (>= 1)"),
    "slo": (None, "the SLOs: p95_ms (required), max_failure_ratio (required), p99_ms (optional); required"),
    "requests": (None, "the request mix: method, path, weight, optional body/json/headers/name; required"),
    "headers": ({}, "headers sent with every request (e.g. an auth header for staging)"),
    "timeout_s": (10.0, "per-request timeout, seconds; a request still open then counts as a failure"),
    "rate_tolerance": (0.1, "a step reaches its rate when achieved >= (1 - tolerance) x its target"),
    "stop_on_fail": (True, "stop the ramp at the first step that misses an SLO"),
    "concurrency": (512, "most connections one load process keeps open at once"),
    "service": (None, "the service under test (needed to post the result)"),
    "metric": (None, "the request-rate metric of the service (needed to post the result)"),
    "source": ("file", "where the plan came from: file, forecast, ..."),
    "peak_rps": (None, "the forecast p95 peak the target was derived from (informational)"),
    "margin": (None, "the safety margin applied to the peak (informational)"),
    "event": (None, "the peak event the plan prepares for (informational)"),
    "staging_instances": (None, "instances behind the tested host; lets a result set per-instance capacity"),
}
REQUIRED = ("target_rps", "slo", "requests")


@dataclass(frozen=True)
class Slo:
    """Service level objectives a step must meet."""

    p95_ms: float
    max_failure_ratio: float
    p99_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``p99_ms`` only when set)."""
        out: dict[str, Any] = {"p95_ms": self.p95_ms, "max_failure_ratio": self.max_failure_ratio}
        if self.p99_ms is not None:
            out["p99_ms"] = self.p99_ms
        return out


@dataclass(frozen=True)
class RequestSpec:
    """One entry of the request mix."""

    method: str
    path: str
    weight: float = 1.0
    name: str | None = None
    body: str | None = None
    json: Any = None
    headers: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (optional keys only when set)."""
        out: dict[str, Any] = {"method": self.method, "path": self.path, "weight": self.weight}
        if self.name is not None:
            out["name"] = self.name
        if self.body is not None:
            out["body"] = self.body
        if self.json is not None:
            out["json"] = self.json
        if self.headers:
            out["headers"] = dict(self.headers)
        return out


DEFAULT_SLO = Slo(p95_ms=250.0, max_failure_ratio=0.01)
DEFAULT_REQUESTS = (RequestSpec("GET", "/"),)


@dataclass(frozen=True)
class LoadPlan:
    """A validated load plan; build it with :mod:`loadtests.plan_build` (``parse_plan``, ``load_plan``,
    ``plan_from_peak``)."""

    target_rps: float
    slo: Slo
    requests: tuple[RequestSpec, ...]
    steps: tuple[float, ...] = DEFAULT_STEPS
    step_seconds: float = 10.0
    headers: tuple[tuple[str, str], ...] = ()
    timeout_s: float = 10.0
    rate_tolerance: float = 0.1
    stop_on_fail: bool = True
    concurrency: int = 512
    service: str | None = None
    metric: str | None = None
    source: str = "file"
    peak_rps: float | None = None
    margin: float | None = None
    event: str | None = None
    staging_instances: int | None = None

    @property
    def step_targets(self) -> tuple[float, ...]:
        """The offered rate of each step, requests/s."""
        return tuple(round(self.target_rps * f, 3) for f in self.steps)

    @property
    def target_index(self) -> int:
        """The index of the target step (factor 1.0)."""
        return self.steps.index(1.0)

    @property
    def duration_s(self) -> float:
        """Seconds the ramp lasts when no step stops it early (without warm-up and drain)."""
        return len(self.steps) * self.step_seconds

    def to_dict(self) -> dict[str, Any]:
        """The plan as a JSON-ready dict that ``plan_build.parse_plan`` reads back to an equal plan."""
        out: dict[str, Any] = {
            "target_rps": self.target_rps,
            "steps": list(self.steps),
            "step_targets_rps": list(self.step_targets),
            "step_seconds": self.step_seconds,
            "slo": self.slo.to_dict(),
            "requests": [r.to_dict() for r in self.requests],
            "headers": dict(self.headers),
            "timeout_s": self.timeout_s,
            "rate_tolerance": self.rate_tolerance,
            "stop_on_fail": self.stop_on_fail,
            "concurrency": self.concurrency,
            "service": self.service,
            "metric": self.metric,
            "source": self.source,
            "peak_rps": self.peak_rps,
            "margin": self.margin,
            "event": self.event,
            "staging_instances": self.staging_instances,
        }
        return out


@dataclass(frozen=True)
class Phase:
    """Where a run is at a moment: ``warmup``, ``step`` (with its index) or ``done``."""

    kind: str
    index: int = -1


def phase_at(plan: LoadPlan, elapsed_s: float, warmup_s: float = WARMUP_SECONDS) -> Phase:
    """The phase of the ramp ``elapsed_s`` seconds after the run started (the step schedule).

    Step ``i`` runs over ``[warmup + i * step_seconds, warmup + (i + 1) * step_seconds)``.
    """
    if elapsed_s < warmup_s:
        return Phase("warmup")
    index = int((elapsed_s - warmup_s) // plan.step_seconds)
    if index >= len(plan.steps):
        return Phase("done")
    return Phase("step", index)
