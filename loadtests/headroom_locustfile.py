"""The headroom suite: follow a load plan in request rate, judge each step against the SLOs, stop at a break.

Run it through ``capacity headroom run`` (which starts Locust in a subprocess), or by hand::

    HEADROOM_PLAN=plan.json HEADROOM_OUT=out/ locust -f loadtests/headroom_locustfile.py --headless --host URL

How the rate is held: every load process runs ONE driver user, an open-loop scheduler. For a step of ``R``
requests/s over ``n`` processes, process ``i`` fires at the instants ``t0 + (k + i/n) / (R/n)``: together exactly
evenly spaced in time, whatever the responses do (each request runs in its own greenlet, so a slow response never
delays the next send, and users cannot drift into lockstep as ``constant_throughput`` users do).

The shape's ``tick()`` is the ramp: it starts each step on time (a message to the workers in distributed mode),
judges the steps that ended (the SLO gate), and ends the run after the last step or at the first step that broke
an SLO. The master (or the local process) writes ``steps.jsonl`` (one line per judged step, for a live table) and
``result.json`` into ``HEADROOM_OUT``; the process exit code is the verdict's (0 pass, 1 fail, 2 unreachable).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gevent
import gevent.pool
from locust import FastHttpUser, LoadTestShape, constant, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from capacity.errors import CapacityError
from loadtests.plan import LoadPlan, RequestSpec, phase_at
from loadtests.plan_build import load_plan, parse_plan
from loadtests.verdict import StepResult, Tally, bucket, build_result, judge_step

log = logging.getLogger("headroom")

#: How often a worker sends its step tallies to the master, seconds.
FLUSH_S = 0.5
#: A send instant missed by more than this is skipped (and counted), not fired late in a burst.
MAX_LATE_S = 0.25


@dataclass
class Counter:
    """One step's live counters in this process."""

    started: float
    sent: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    hist: dict[int, int] = field(default_factory=dict)
    seconds: float | None = None
    lag: dict[int, int] = field(default_factory=dict)

    def tally(self) -> Tally:
        return Tally(
            self.sent, self.ok, self.failed, dict(self.hist), self.seconds, self.skipped, dict(self.lag)
        )


@dataclass(frozen=True)
class Step:
    """The step this process is driving: its index, this process's share of the rate, and its phase."""

    index: int
    rate: float
    phase: float
    started: float


class ProcessState:
    """What one load process knows: the plan, the step it drives and its counters per step."""

    def __init__(self) -> None:
        self.plan: LoadPlan | None = None
        self.step: Step | None = None
        self.counters: dict[int, Counter] = {}
        self.dirty: set[int] = set()

    def begin(self, index: int, total_rate: float, processes: int, position: int) -> None:
        """Switch to step ``index`` (-1: stop sending), closing the step before."""
        now = time.perf_counter()
        if self.step is not None:
            counter = self.counters[self.step.index]
            counter.seconds = now - counter.started
            self.dirty.add(self.step.index)
        if index < 0:
            self.step = None
            return
        share = total_rate / max(1, processes)
        self.counters[index] = Counter(started=now)
        self.dirty.add(index)
        self.step = Step(index, share, (position % max(1, processes)) / max(1, processes), now)

    def record(self, index: int, latency_ms: float, ok: bool, lag_ms: float) -> None:
        counter = self.counters.get(index)
        if counter is None:
            return
        lag = bucket(lag_ms)
        counter.lag[lag] = counter.lag.get(lag, 0) + 1
        if ok:
            counter.ok += 1
        else:
            counter.failed += 1
        b = bucket(latency_ms)
        counter.hist[b] = counter.hist.get(b, 0) + 1
        self.dirty.add(index)

    def snapshot(self, only_dirty: bool = False) -> dict[int, Tally]:
        keys = set(self.dirty) if only_dirty else set(self.counters)
        self.dirty.clear()
        return {i: self.counters[i].tally() for i in keys if i in self.counters}


STATE = ProcessState()


class Mix:
    """Smooth weighted round-robin over the request mix: exact proportions, evenly interleaved."""

    def __init__(self, requests: tuple[RequestSpec, ...]) -> None:
        self.requests = requests
        self.current = [0.0] * len(requests)
        self.total = sum(r.weight for r in requests)

    def next(self) -> RequestSpec:
        for i, r in enumerate(self.requests):
            self.current[i] += r.weight
        best = max(range(len(self.requests)), key=self.current.__getitem__)
        self.current[best] -= self.total
        return self.requests[best]


class HeadroomUser(FastHttpUser):
    """The driver: an open-loop scheduler that fires this process's share of the step rate at exact instants."""

    wait_time = constant(1)

    def __init__(self, environment: Environment) -> None:
        plan = STATE.plan
        if plan is not None:
            self.concurrency = plan.concurrency
            self.network_timeout = plan.timeout_s
            self.connection_timeout = plan.timeout_s
        super().__init__(environment)
        self.inflight = gevent.pool.Group()

    def on_stop(self) -> None:
        self.inflight.kill(block=False)

    @task
    def drive(self) -> None:
        plan = STATE.plan
        if plan is None:
            gevent.sleep(0.05)
            return
        mix = Mix(plan.requests)
        base_headers = dict(plan.headers)
        current: Step | None = None
        k = 0
        while True:
            step = STATE.step
            if step is None or step.rate <= 0:
                current = None
                gevent.sleep(0.01)
                continue
            if step is not current:
                current, k = step, 0
            due = current.started + (k + current.phase) / current.rate
            now = time.perf_counter()
            if due > now:
                gevent.sleep(min(due - now, 0.05))  # wake at least every 50 ms to notice a step change
                continue
            counter = STATE.counters[current.index]
            if now - due > MAX_LATE_S:
                missed = int((now - due) * current.rate)
                counter.skipped += missed
                k += missed
                continue
            k += 1
            counter.sent += 1
            self.inflight.spawn(self._send, mix.next(), base_headers, current.index, due)

    def _send(self, req: RequestSpec, base_headers: dict[str, str], index: int, due: float) -> None:
        headers = {**base_headers, **dict(req.headers)} or None
        lag_ms = (time.perf_counter() - due) * 1000.0
        self.client.request(
            req.method,
            req.path,
            name=req.name or f"{req.method} {req.path}",
            data=req.body,
            json=req.json,
            headers=headers,
            context={"headroom_step": index, "headroom_due": due, "headroom_lag": lag_ms},
        )


@events.request.add_listener
def _on_request(context: dict[str, Any] | None = None, exception: Any = None, **_kw: Any) -> None:
    """Count a response in the step its request was scheduled in, timed from the scheduled instant."""
    if not context or "headroom_step" not in context:
        return
    latency_ms = (time.perf_counter() - context["headroom_due"]) * 1000.0
    STATE.record(int(context["headroom_step"]), latency_ms, exception is None, float(context["headroom_lag"]))


class Gate:
    """The SLO gate and conductor on the master (or the only process): steps, judgement, result."""

    def __init__(self, environment: Environment, plan: LoadPlan, out: Path) -> None:
        self.env = environment
        self.plan = plan
        self.out = out
        self.records: dict[str, dict[int, Tally]] = {}
        self.current = -1
        self.ends: dict[int, float] = {}
        self.live: dict[int, StepResult] = {}
        self.draining_since: float | None = None
        self.stopped_early = False
        self.aborted: int | None = None
        self.processes = 1
        self.result: dict[str, Any] | None = None
        self.started_at = datetime.now(UTC)
        out.mkdir(parents=True, exist_ok=True)
        (out / "steps.jsonl").write_text("")

    @property
    def distributed(self) -> bool:
        return isinstance(self.env.runner, MasterRunner)

    def receive(self, source: str, tallies: dict[int, Tally]) -> None:
        self.records.setdefault(source, {}).update(tallies)

    def _broadcast(self, index: int, rate: float) -> None:
        if self.distributed:
            assert isinstance(self.env.runner, MasterRunner)
            self.env.runner.send_message(
                "headroom_step", {"index": index, "rate": rate, "processes": self.processes}
            )
        else:
            STATE.begin(index, rate, 1, 0)

    def _tallies(self, index: int) -> list[Tally]:
        return [r[index] for r in self.records.values() if index in r]

    def _ready(self, index: int, now: float) -> bool:
        tallies = self._tallies(index)
        done = len(tallies) >= self.processes and all(
            t.seconds is not None and t.resolved >= t.sent for t in tallies
        )
        return done or now >= self.ends[index] + min(self.plan.timeout_s, 2.0) + 0.5

    def _judge(self, now: float) -> None:
        for index in sorted(self.ends):
            if index in self.live or not self._ready(index, now) or index == self.aborted:
                continue
            step = judge_step(self.plan, index, self._tallies(index), final=False)
            self.live[index] = step
            with (self.out / "steps.jsonl").open("a") as fh:
                fh.write(json.dumps(step.to_dict()) + "\n")
            if not step.met_slo and self.plan.stop_on_fail and self.draining_since is None:
                log.warning(
                    "step %d (%g/s) missed the SLOs: %s; stopping", index, step.target_rps, step.reason
                )
                self.stopped_early = index < len(self.plan.steps) - 1
                if self.current > index:
                    self.aborted = self.current
                self._drain(now)

    def _drain(self, now: float) -> None:
        if self.current >= 0 and self.current not in self.ends:
            self.ends[self.current] = now
        self._broadcast(-1, 0.0)
        self.draining_since = now

    def tick(self, now: float) -> tuple[int, float] | None:
        """One tick of the ramp (about once a second): returns the user count, or None to end the run."""
        if self.result is not None:
            return None
        runner = self.env.runner
        if self.distributed:
            assert isinstance(runner, MasterRunner)
            if self.current < 0 and self.draining_since is None:
                self.processes = max(1, runner.worker_count)
                runner.send_message("headroom_plan", self.plan.to_dict())
        else:
            self.receive("local", STATE.snapshot())
        if self.draining_since is None:
            phase = phase_at(self.plan, now)
            if phase.kind == "step" and phase.index != self.current:
                if self.current >= 0:
                    self.ends[self.current] = now
                self.current = phase.index
                self._broadcast(phase.index, self.plan.step_targets[phase.index])
            elif phase.kind == "done":
                self._drain(now)
        self._judge(now)
        if self.draining_since is not None:
            pending = [i for i in self.ends if i not in self.live and i != self.aborted]
            if not pending or now > self.draining_since + self.plan.timeout_s + 1.0:
                self.finish()
                return None
        return (self.processes, float(self.processes))

    def finish(self) -> dict[str, Any]:
        """Judge every completed step on all the data and write ``result.json`` (once)."""
        if self.result is not None:
            return self.result
        if not self.distributed:
            self.receive("local", STATE.snapshot())
        indexes = sorted(i for i in self.ends if i != self.aborted)
        steps = [judge_step(self.plan, i, self._tallies(i), final=True) for i in indexes]
        host = self.env.host or ""
        self.result = build_result(
            self.plan,
            steps,
            stopped_early=self.stopped_early,
            host=host,
            processes=self.processes,
            aborted_step=self.aborted,
            started_at=self.started_at.isoformat(timespec="seconds"),
            finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        tmp = self.out / "result.json.tmp"
        tmp.write_text(json.dumps(self.result, indent=2) + "\n")
        tmp.replace(self.out / "result.json")
        log.warning("headroom verdict: %s (%s)", self.result["verdict"], self.result["reason"])
        return self.result


GATE: Gate | None = None


class HeadroomShape(LoadTestShape):
    """The ramp in one ``tick()``: the gate starts steps on time, judges them and ends the run."""

    def tick(self) -> tuple[int, float] | None:
        if GATE is None:
            return None
        return GATE.tick(self.get_run_time())


def _flush_forever(runner: WorkerRunner) -> None:
    while True:
        gevent.sleep(FLUSH_S)
        tallies = STATE.snapshot(only_dirty=True)
        if tallies:
            runner.send_message(
                "headroom_tallies", {"steps": {str(i): t.to_wire() for i, t in tallies.items()}}
            )


@events.init.add_listener
def _on_init(environment: Environment, **_kw: Any) -> None:
    global GATE
    runner = environment.runner
    if isinstance(runner, WorkerRunner):

        def on_plan(msg: Any, **_: Any) -> None:
            STATE.plan = parse_plan(msg.data)

        def on_step(msg: Any, **_: Any) -> None:
            STATE.begin(msg.data["index"], msg.data["rate"], msg.data["processes"], runner.worker_index)

        runner.register_message("headroom_plan", on_plan)
        runner.register_message("headroom_step", on_step)
        gevent.spawn(_flush_forever, runner)
        return
    plan_file = os.environ.get("HEADROOM_PLAN")
    try:
        if not plan_file:
            raise CapacityError("HEADROOM_PLAN is not set (the path of a plan file)")
        STATE.plan = load_plan(plan_file)
    except CapacityError as exc:
        log.error("headroom: %s", exc)
        environment.process_exit_code = 2
        return
    GATE = Gate(environment, STATE.plan, Path(os.environ.get("HEADROOM_OUT", "headroom-out")))
    if isinstance(runner, MasterRunner):
        gate = GATE

        def on_tallies(msg: Any, **_: Any) -> None:
            steps = {int(i): Tally.from_wire(t) for i, t in msg.data["steps"].items()}
            gate.receive(str(msg.node_id), steps)

        runner.register_message("headroom_tallies", on_tallies)


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_kw: Any) -> None:
    if GATE is not None:
        environment.process_exit_code = int(GATE.finish()["exit_code"])
