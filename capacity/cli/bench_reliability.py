"""``capacity bench reliability``: the SIGKILL loop, the concurrency runs, hostile input, fuzzers and token checks."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from capacity.bench.reliability.run import FULL, QUICK, run_reliability
from capacity.cli.common import console


@click.command("reliability")
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Write the summary as JSON here.")
@click.option(
    "--quick", is_flag=True, help="Every check on a tiny budget (under a minute or two; for tests)."
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep databases and server logs in this folder (default: a temporary folder, removed).",
)
@click.option("--no-postgres", is_flag=True, help="Skip the PostgreSQL concurrency run.")
def bench_reliability(json_out: Path | None, quick: bool, workdir: Path | None, no_postgres: bool) -> None:
    """Prove reliability under faults and hostile input: SIGKILL the server during ingests and forecast jobs,
    run a Locust mix on SQLite and PostgreSQL, send hostile requests, fuzz ingest, forecasts and the API.

    Prints cases tried, faults injected, data lost and errors reaching clients (the last two must be 0); exits
    with status 1 when any check failed.

    \b
    Example:
      nice -n 10 capacity bench reliability --json bench-results/reliability.json
    """

    budget = QUICK if quick else FULL
    if no_postgres:
        budget = replace(budget, postgres=False)

    def progress(message: str) -> None:
        console.print(f"  {message}", markup=False, soft_wrap=True)
        sys.stdout.flush()

    summary = run_reliability(budget, workdir, progress)
    table = Table(title="Reliability" + (" (quick)" if quick else ""))
    for col in ("check", "cases", "failures", "faults injected", "data lost", "client errors", "seconds"):
        table.add_column(col, no_wrap=True)
    for row in [
        (c.name, c.cases, c.failures, c.faults, c.data_lost, c.client_errors, f"{c.seconds:.0f}")
        for c in summary.checks
    ] + [
        (
            "total",
            summary.cases,
            summary.failures,
            summary.faults_injected,
            summary.data_lost,
            summary.client_errors,
            f"{sum(c.seconds for c in summary.checks):.0f}",
        )
    ]:
        table.add_row(*[str(v) for v in row])
    # Piped (make, CI, a README paste): one line per check, never folded to the 80 columns rich assumes.
    (console if console.is_terminal else Console(width=140, highlight=False)).print(table)
    for check in summary.checks:
        for note in check.notes:
            console.print(f"{check.name}: {note}", highlight=False, soft_wrap=True)
        for problem in check.problems[:10]:
            console.print(f"FAIL {check.name}: {problem}", markup=False, soft_wrap=True)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(summary.as_json(), indent=2), encoding="utf-8")
        console.print(f"wrote {json_out}")
    if summary.failures or summary.data_lost or summary.client_errors:
        raise SystemExit(1)


BENCH_COMMANDS = [bench_reliability]
