"""``capacity bench reliability``: crash safety, concurrency, hostile input, fuzzing and tokens, with bounded time.

Each check runs against real processes on loopback (``capacity serve`` under gunicorn, Locust, schemathesis,
PostgreSQL started by initdb/pg_ctl) and reports how many cases it tried and how many failed. The summary adds the
faults injected (SIGKILLs), the data lost (acknowledged ingests or jobs missing, half-present unacknowledged
ingests, failed integrity checks, anything a rejected request stored) and the errors that reached clients (failed
requests in the concurrency runs and the kill loop); the last two must be 0.

The checks live in ``reliability_*`` modules: ``_kill`` (SIGKILL loop), ``_load`` (Locust mix), ``_hostile``
(hostile requests), ``_fuzz`` (Hypothesis, schemathesis), ``_tokens`` (brute force and leaks), ``_server``
(processes).
"""

from __future__ import annotations

import shutil
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from capacity.bench.reliability import hostile as hostile
from capacity.bench.reliability.fuzz import fuzz_forecast, fuzz_ingest, run_schemathesis
from capacity.bench.reliability.kill import run_kill_loop
from capacity.bench.reliability.load import run_load
from capacity.bench.reliability.tokens import SERVER_ENV, check_tokens
from capacity.store import Store
from capacity.testing.postgres import Postgres
from capacity.testing.serve import ServeProcess, create_token


@dataclass(frozen=True)
class Budget:
    """How much each check does."""

    kills: int
    ingest_rows: int
    drain_timeout_s: float
    load_seconds: int
    load_users: int
    postgres: bool
    fuzz_ingest: int
    fuzz_forecast: int
    schemathesis_examples: int
    load_series: int = 3
    #: Run the kill loop, the concurrency run and the live-server checks at the same time (``--quick``: most of
    #: their time is servers starting up, which overlaps well).
    parallel: bool = False


#: The full run (``make reliability``): about ten minutes on two shared cores.
FULL = Budget(
    kills=20,
    ingest_rows=60_000,
    drain_timeout_s=240.0,
    load_seconds=40,
    load_users=6,
    postgres=True,
    fuzz_ingest=400,
    fuzz_forecast=60,
    schemathesis_examples=100,
)
#: ``--quick``: every check on a tiny budget (the test suite runs this).
QUICK = Budget(
    kills=1,
    ingest_rows=20_000,
    drain_timeout_s=90.0,
    load_seconds=15,  # long enough that a busy machine still completes requests
    load_users=3,
    postgres=False,
    fuzz_ingest=25,
    fuzz_forecast=4,
    schemathesis_examples=1,
    load_series=1,
    parallel=True,
)


@dataclass
class Check:
    """One check's outcome."""

    name: str
    cases: int = 0
    failures: int = 0
    faults: int = 0
    data_lost: int = 0
    client_errors: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The check as JSON (name, cases, failures, and what else it measured)."""
        return {
            "name": self.name,
            "cases": self.cases,
            "failures": self.failures,
            "faults_injected": self.faults,
            "data_lost": self.data_lost,
            "client_errors": self.client_errors,
            "seconds": round(self.seconds, 1),
            "problems": self.problems[:20],
            "notes": self.notes,
        }


@dataclass
class Summary:
    """Every check and the totals."""

    checks: list[Check] = field(default_factory=list)

    @property
    def cases(self) -> int:
        """Cases tried, all checks."""
        return sum(c.cases for c in self.checks)

    @property
    def faults_injected(self) -> int:
        """SIGKILLs sent."""
        return sum(c.faults for c in self.checks)

    @property
    def data_lost(self) -> int:
        """Lost or half-stored data of any kind (must be 0)."""
        return sum(c.data_lost for c in self.checks)

    @property
    def client_errors(self) -> int:
        """Errors that reached clients (must be 0)."""
        return sum(c.client_errors for c in self.checks)

    @property
    def failures(self) -> int:
        """Failed cases, all checks."""
        return sum(c.failures for c in self.checks)

    def as_json(self) -> dict[str, Any]:
        """``{"cases", "faults_injected", "data_lost", "client_errors", "checks": [...]}``."""
        return {
            "cases": self.cases,
            "faults_injected": self.faults_injected,
            "data_lost": self.data_lost,
            "client_errors": self.client_errors,
            "failures": self.failures,
            "checks": [c.as_json() for c in self.checks],
        }


def _timed(name: str, fn: Callable[[Check], None]) -> Check:
    check = Check(name)
    started = time.monotonic()
    try:
        fn(check)
    except Exception as exc:  # a check that could not run is a failure of the run, reported with its reason
        check.failures += 1
        check.problems.append(f"{type(exc).__name__}: {exc}")
        check.notes.append(traceback.format_exc(limit=3).splitlines()[-1])
    check.seconds = time.monotonic() - started
    return check


def _kill(budget: Budget, work: Path, progress: Callable[[str], None]) -> Callable[[Check], None]:
    def run(check: Check) -> None:

        r = run_kill_loop(
            work,
            kills=budget.kills,
            rows=budget.ingest_rows,
            drain_timeout_s=budget.drain_timeout_s,
            progress=progress,
        )
        check.cases, check.faults = r.cases, r.kills
        check.data_lost = r.data_lost + r.half_present + r.integrity_failures
        check.client_errors = r.client_errors
        check.failures = r.failures
        check.problems.extend(r.problems)
        check.notes.append(
            f"{r.kills} SIGKILLs; ingests of {budget.ingest_rows:,} rows: {r.ingests_sent} sent, "
            f"{r.ingests_acked} acknowledged; jobs: {r.jobs_acked} queued, claimed {r.job_claims} times in all "
            f"(a claim after a kill is a resume), {r.jobs_done} done, {r.jobs_failed} marked failed after 5 claims"
        )

    return run


def _load(budget: Budget, backend: str, db: Callable[[], str], work: Path) -> Callable[[Check], None]:
    def run(check: Check) -> None:

        r = run_load(
            backend,
            db(),
            work,
            users=budget.load_users,
            seconds=budget.load_seconds,
            n_series=budget.load_series,
        )
        check.cases, check.failures, check.client_errors = r.requests, r.failures, r.failures
        check.problems.extend(r.problems)
        check.notes.append(
            f"{r.requests} requests in {budget.load_seconds} s from {budget.load_users} users: "
            + ", ".join(f"{k.split(' ', 1)[1]} {n}" for k, (n, _f) in sorted(r.by_endpoint.items()))
        )

    return run


def _live_checks(budget: Budget, work: Path) -> list[Check]:
    """Hostile input, injection round trip, 413, tokens and schemathesis against one live server."""

    db = work / "live.db"
    Store.open(db).close()
    write = create_token(str(db), "write")
    admin = create_token(str(db), "admin")
    server = ServeProcess(
        str(db), work / "live-server.log", workers=1, threads=4, access_log=True, env=SERVER_ENV
    ).start()
    store = Store.open(db)

    def snapshot() -> dict[str, int]:

        tables = ("series", "samples", "events", "tokens", "jobs", "forecast_runs")
        with store.engine.connect() as conn:
            return {t: int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one()) for t in tables}

    def run_hostile(check: Check) -> None:
        r = hostile.run_cases(hostile.live_send(server.url), snapshot, write)
        big = hostile.huge_body_check("127.0.0.1", server.port, write)
        inj = hostile.run_injection_roundtrip(hostile.live_send(server.url), write)
        check.cases = r.cases + big.cases + inj.cases
        check.failures = r.failures + big.failures + inj.failures
        check.data_lost = r.stored
        check.problems.extend(r.problems + big.problems + inj.problems)
        check.notes.extend(big.notes)

    def run_tokens(check: Check) -> None:
        r = check_tokens(server.url, write, server.log, (admin,))
        check.cases, check.failures = r.cases, r.failures
        check.problems.extend(r.problems)

    def run_st(check: Check) -> None:
        # A second server on the same database with the invalid-token limit off: schemathesis' auth checks send
        # invalid tokens on purpose, and a client locked out (429) would leave every other operation untested.
        # The limit itself is the tokens check's business, on the first server.
        st_server = ServeProcess(
            str(db),
            work / "st-server.log",
            workers=1,
            threads=4,
            env={**SERVER_ENV, "CAPACITY_API_AUTH_FAIL_LIMIT": "0"},
        ).start()
        try:
            r = run_schemathesis(st_server.url, admin, budget.schemathesis_examples, work)
        finally:
            st_server.stop()
        check.cases, check.failures = r.cases, r.failures
        check.problems.extend(r.problems)
        check.notes.append(f"--max-examples {budget.schemathesis_examples} per operation")

    try:
        checks = [
            _timed("hostile input (4xx, nothing stored)", run_hostile),
            _timed("schemathesis (live server)", run_st),
            _timed("tokens (429, no leaks)", run_tokens),  # last: it locks this client out for a moment
        ]
    finally:
        server.stop()
        store.close()
    text = server.text()
    for needle in ("Traceback", "unhandled error", "database is locked"):
        if needle in text:
            checks[0].failures += 1
            checks[0].client_errors += 1
            checks[0].problems.append(f"the live server's log contains {needle!r}")
    return checks


def _fuzz(budget: Budget, work: Path) -> list[Check]:

    def ingest(check: Check) -> None:
        r = fuzz_ingest(work / "fuzz.db", budget.fuzz_ingest)
        check.cases, check.failures = r.cases, r.failures
        check.problems.extend(r.problems)

    def forecast(check: Check) -> None:
        r = fuzz_forecast(budget.fuzz_forecast)
        check.cases, check.failures = r.cases, r.failures
        check.problems.extend(r.problems)
        if r.warnings:
            check.notes.append(
                f"{r.warnings} numpy overflow warnings on values near 1e300 (results still finite)"
            )

    return [
        _timed("fuzz: ingest (validate + store round trip)", ingest),
        _timed("fuzz: forecast_series (finite series)", forecast),
    ]


def run_reliability(
    budget: Budget, workdir: Path | None = None, progress: Callable[[str], None] | None = None
) -> Summary:
    """Run every check within ``budget``; files go to ``workdir`` (a temporary folder, removed, when None)."""

    say = progress or (lambda _msg: None)
    own = workdir is None
    work = Path(tempfile.mkdtemp(prefix="capacity-reliability-")) if workdir is None else workdir
    work.mkdir(parents=True, exist_ok=True)
    (work / "kill").mkdir(exist_ok=True)
    say("kill loop: SIGKILL capacity serve during large ingests and fleet forecast jobs")
    say("concurrency: Locust mix against SQLite" + (" and PostgreSQL" if budget.postgres else ""))
    say("hostile input, schemathesis and tokens against a live server")
    parts: list[Callable[[], list[Check]]] = [
        lambda: [_timed("crash safety (SIGKILL loop)", _kill(budget, work / "kill", say))],
        lambda: _concurrency(budget, work),
        lambda: _live_checks(budget, work),
    ]
    summary = Summary()
    try:
        if budget.parallel:
            with ThreadPoolExecutor(max_workers=len(parts)) as pool:
                for checks in [f.result() for f in [pool.submit(p) for p in parts]]:
                    summary.checks.extend(checks)
        else:
            for part in parts:
                summary.checks.extend(part())
        say("Hypothesis fuzz of ingest and forecast_series")
        summary.checks.extend(_fuzz(budget, work))
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)
    return summary


def _concurrency(budget: Budget, work: Path) -> list[Check]:

    checks = [_timed("concurrency (SQLite)", _load(budget, "sqlite", lambda: str(work / "load.db"), work))]
    if budget.postgres:
        pg: list[Postgres] = []

        def pg_db() -> str:
            pg.append(Postgres.start())
            return pg[0].create_database("rel_" + uuid.uuid4().hex[:10])

        try:
            checks.append(_timed("concurrency (PostgreSQL)", _load(budget, "postgresql", pg_db, work)))
        finally:
            for server in pg:
                server.stop()
    return checks
