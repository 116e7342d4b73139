"""``capacity bench api``: the API under gunicorn on loopback, loaded by our own Locust suite, measured per endpoint.

Phases against one server (the sample fleet with a few stored forecasts, or a copy of a demo database):

- ``read``: cached forecast reads (``ReadUser``) at an offered rate;
- ``routes``: every GET route in equal shares from ``--route-users`` concurrent readers (``RouteUser``), after one
  first request per route whose time is reported apart (``first ms``: what an empty cache costs);
- ``ingest``: bulk ingest (``IngestUser``);
- with ``--scrape-interval``: the same reads with and without a real Prometheus scraping ``/metrics``, alternating.

Each Locust phase is a headless run in a subprocess; the tables show requests/s, p50/p95/p99 latency and failures
per endpoint.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import click
import requests
from rich.table import Table

from capacity.bench.api_load import (
    CONFIG,
    FLEET,
    TARGET_INGEST_SPS,
    TARGET_READ_P95_MS,
    TARGET_READ_RPS,
    TARGET_ROUTE_P95_MS,
    copy_sqlite,
    prepare_db,
    route_targets,
    run_locust,
    server_cpu_seconds,
    stats_row,
)
from capacity.bench.api_scrape import compare_scraping
from capacity.cli.common import console
from capacity.errors import InvalidInput
from capacity.schema import parse_duration
from capacity.testing.serve import ServeProcess
from loadtests.api_routes import path_for, usable

PHASES = ("read", "routes", "ingest")


def _seconds(text: str, field: str, most: float = 3600) -> float:
    seconds = parse_duration(text, field).total_seconds()
    if seconds > most:
        raise InvalidInput(f"{field} must be at most {most:g}s, got {text}", field=field)
    return seconds


def _first_requests(url: str, targets: Any) -> dict[str, float]:
    """One request per GET route (each series' routes once per series): the slowest first answer per route, ms."""
    first: dict[str, float] = {}
    auth = {"Authorization": f"Bearer {targets.token}"}
    for route in usable(rate=targets.rate_series, event=targets.event, job=targets.job):
        for series in targets.series if "{series}" in route.path else targets.series[:1]:
            path = path_for(
                route, series=series, rate=targets.rate_series, event=targets.event, job=targets.job
            )
            started = time.perf_counter()
            requests.get(url + path, headers=auth if route.auth else {}, timeout=600)
            first[route.name] = max(first.get(route.name, 0.0), 1000 * (time.perf_counter() - started))
    return first


def wide_table(title: str, columns: list[str], rows: list[list[Any]] | list[tuple[Any, ...]]) -> None:
    """A table printed at least 160 columns wide, so route names are not folded when the output is a file."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*[str(v) for v in row])
    console.print(table, width=max(console.width, 160))


def _print_rows(title: str, rows: list[dict[str, Any]], first: dict[str, float] | None = None) -> None:
    headers = ["phase", "endpoint", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "failures"]
    if first is not None:
        headers.insert(2, "first ms")
    table = []
    for r in rows:
        row: list[Any] = [r["phase"], r["endpoint"], r["requests"], r["rps"], r["p50_ms"], r["p95_ms"]]
        row += [r["p99_ms"], r["failures"]]
        if first is not None:
            row.insert(2, round(first[r["endpoint"]]) if r["endpoint"] in first else "-")
        table.append(row)
    wide_table(title, headers, table)


@click.command("api")
@click.option(
    "--duration",
    default="60s",
    show_default=True,
    help="Length of the read and route phases (ingest: a third).",
)
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Write the numbers as JSON here.")
@click.option(
    "--users", default=24, show_default=True, type=click.IntRange(1, 1000), help="Read-phase users."
)
@click.option(
    "--route-users", default=8, show_default=True, type=click.IntRange(1, 1000), help="Route-phase readers."
)
@click.option(
    "--ingest-users", default=2, show_default=True, type=click.IntRange(1, 100), help="Ingest users."
)
@click.option(
    "--batch", default=20_000, show_default=True, type=click.IntRange(1, 1_000_000), help="Samples/request."
)
@click.option(
    "--series", "n_series", default=4, show_default=True, type=click.IntRange(1, 100), help="Series read."
)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 16), help="gunicorn workers.")
@click.option(
    "--threads", default=4, show_default=True, type=click.IntRange(1, 64), help="Threads per worker."
)
@click.option(
    "--read-rps",
    default=360.0,
    show_default=True,
    type=click.FloatRange(0, 100_000),
    help="Read rate offered, spread over the users (0: no wait, which measures queueing, not service time).",
)
@click.option(
    "--phases",
    default=",".join(PHASES),
    show_default=True,
    help="Which phases to run, comma-separated: read, routes, ingest.",
)
@click.option(
    "--event", help="The event whose report and risks the route phase reads (default: the next one)."
)
@click.option(
    "--scrape-interval",
    help="Also compare reads with and without a real Prometheus scraping /metrics at this interval (e.g. 2s).",
)
@click.option(
    "--scrape-phase", default="30s", show_default=True, help="Length of each phase of the scrape comparison."
)
@click.option(
    "--scrape-rounds",
    default=2,
    show_default=True,
    type=click.IntRange(1, 20),
    help="Rounds of (without, with) in the scrape comparison.",
)
@click.option(
    "--fleet", type=click.Path(path_type=Path), default=FLEET, show_default=True, help="History to load."
)
@click.option(
    "--from-db",
    "from_db",
    type=click.Path(path_type=Path),
    help="Run on a copy of this SQLite database (e.g. .demo/capacity.db from make demo) instead of the fleet.",
)
@click.option(
    "--db",
    help="Run against this empty database instead of a temporary SQLite file, e.g. a PostgreSQL URL "
    "(the sample fleet is loaded into it).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=CONFIG,
    show_default=True,
    help="Fleet config.",
)
def bench_api(
    duration: str,
    db: str | None,
    from_db: Path | None,
    json_out: Path | None,
    users: int,
    route_users: int,
    ingest_users: int,
    batch: int,
    n_series: int,
    workers: int,
    threads: int,
    fleet: Path,
    config_path: Path,
    read_rps: float,
    phases: str,
    event: str | None,
    scrape_interval: str | None,
    scrape_phase: str,
    scrape_rounds: int,
) -> None:
    """Load the API (gunicorn on loopback) with our Locust suite: cached forecast reads, every GET route from 8
    concurrent readers, bulk ingest; print requests/s, p50/p95/p99 and failures per endpoint.

    \b
    Example:
      nice -n 10 capacity bench api --duration 60s --json bench-results/api.json
      nice -n 10 capacity bench api --from-db .demo/capacity.db --phases routes --scrape-interval 2s
      capacity bench api --duration 20s --db postgresql://capacity@127.0.0.1/bench_api
    """
    seconds = _seconds(duration, "duration")
    chosen = [p.strip() for p in phases.split(",") if p.strip()]
    unknown = [p for p in chosen if p not in PHASES]
    if unknown or not chosen:
        raise InvalidInput(f"--phases takes {', '.join(PHASES)}, got {phases!r}", field="phases")
    if db and from_db:
        raise InvalidInput("give --db or --from-db, not both", field="from-db")
    interval = _seconds(scrape_interval, "scrape-interval", 60) if scrape_interval else None
    phase_s = _seconds(scrape_phase, "scrape-phase")
    with tempfile.TemporaryDirectory(prefix="capacity-bench-api-") as tmp_dir:
        tmp = Path(tmp_dir)
        target: str | Path = db or tmp / "bench.db"
        if from_db is not None:
            console.print(f"copying {from_db} ...")
            copy_sqlite(from_db, tmp / "bench.db")
        else:
            console.print(f"preparing the sample fleet and {n_series} stored forecasts ...")
            prepare_db(target, n_series, fleet, config_path)
        targets = route_targets(target, n_series, event)
        token, series = targets.token, targets.series
        server = ServeProcess(target, tmp / "server.log", workers=workers, threads=threads).start(timeout=60)
        url = server.url
        pid = server.proc.pid if server.proc is not None else 0
        auth = {"Authorization": f"Bearer {token}"}
        rows: list[dict[str, Any]] = []
        route_rows: list[dict[str, Any]] = []
        first: dict[str, float] = {}
        cpu: dict[str, float] = {}
        scrape = None
        try:
            for s in series:  # warm each worker's cache; a 200 proves the forecast is served
                for _ in range(workers * 2):
                    requests.get(f"{url}/api/v1/series/{s}/forecast", headers=auth, timeout=600)
            env = {
                "CAPACITY_BENCH_USER_RPS": str(read_rps / users),
                "CAPACITY_BENCH_TOKEN": token,
                "CAPACITY_BENCH_SERIES": ",".join(series),
                "CAPACITY_BENCH_BATCH": str(batch),
                "CAPACITY_BENCH_RATE_SERIES": targets.rate_series,
                "CAPACITY_BENCH_EVENT": targets.event,
                "CAPACITY_BENCH_JOB": targets.job,
            }
            if "read" in chosen:
                offered = f"{read_rps:g} req/s offered" if read_rps else "no wait"
                console.print(f"read phase: {users} users ({offered}) for {seconds:.0f}s against {url} ...")
                cpu0 = server_cpu_seconds(pid)
                rows += [
                    stats_row("read", r)
                    for r in run_locust(url, "ReadUser", users, seconds, env, tmp / "reads")
                ]
                cpu["read"] = server_cpu_seconds(pid) - cpu0
            if "routes" in chosen:
                console.print(
                    f"routes phase: one first request per GET route, then {route_users} readers ..."
                )
                first = _first_requests(url, targets)
                found = run_locust(url, "RouteUser", route_users, seconds, env, tmp / "routes")
                route_rows = [stats_row("routes", r) for r in found]
            if interval is not None:
                console.print(
                    f"scrape comparison: reads with and without Prometheus scraping every {interval:g}s, "
                    f"{scrape_rounds} x ({phase_s:.0f}s without, {phase_s:.0f}s with) ..."
                )
                paths = [f"/api/v1/series/{s}/forecast" for s in series] + ["/api/v1/series", "/healthz"]
                scrape = compare_scraping(
                    url, paths, auth, tmp, interval_s=interval, phase_s=phase_s, rounds=scrape_rounds,
                    say=console.print,
                )  # fmt: skip
            if "ingest" in chosen:
                ingest_seconds = max(5.0, seconds / 3)
                console.print(
                    f"ingest phase: {ingest_users} users x {batch:,} samples/request for {ingest_seconds:.0f}s ..."
                )
                cpu0 = server_cpu_seconds(pid)
                found = run_locust(url, "IngestUser", ingest_users, ingest_seconds, env, tmp / "ingest")
                rows += [stats_row("ingest", r) for r in found]
                cpu["ingest"] = server_cpu_seconds(pid) - cpu0
        finally:
            server.stop()
    backend = "PostgreSQL" if db and db.startswith("postgresql") else "SQLite"
    where = f"{backend}, {'a copy of ' + str(from_db) if from_db else 'sample fleet'}"
    summary: dict[str, Any] = {"database": backend, "source": str(from_db) if from_db else "sample fleet"}
    checks: list[tuple[str, bool]] = []
    if rows:
        _print_rows(
            f"API load test ({workers} gunicorn workers x {threads} threads, {where}, Locust on the same machine)",
            rows,
        )
        checks += _read_ingest_summary(rows, cpu, batch, summary)
    if route_rows:
        _print_rows(
            f"every GET route, {route_users} concurrent readers, no wait ({workers} workers x {threads} threads, "
            f"{where}); first ms = the slowest first request of the route (empty caches)",
            route_rows,
            first,
        )
        slow = [
            r["endpoint"] for r in route_rows if r["endpoint"] != "all" and r["p95_ms"] >= TARGET_ROUTE_P95_MS
        ]
        failed = sum(r["failures"] for r in route_rows if r["endpoint"] == "all")
        summary["route_p95_over_1s"] = slow
        summary["route_failures"] = failed
        checks.append(("every GET route p95 < 1 s", not slow))
        checks.append(("no failed route reads", failed == 0))
    if scrape is not None:
        _print_scrape(scrape, interval or 0.0)
        summary["scrape"] = {
            "interval_s": interval,
            "phase_s": phase_s,
            "rounds": scrape_rounds,
            "without": scrape.without,
            "with": scrape.with_scraping,
            "p99_ratio": scrape.p99_ratio,
            "scrapes_up": scrape.scrapes_up,
            "scrapes": scrape.scrapes,
            "phases": scrape.phases,
        }
        checks.append(
            ("scrapes up >= 99%", scrape.scrapes > 0 and scrape.scrapes_up >= 0.99 * scrape.scrapes)
        )
        checks.append(("reads' p99 with scraping within 1.5x", (scrape.p99_ratio or 1e9) <= 1.5))
    for label, ok in checks:
        console.print(f"  {'PASS' if ok else 'MISS'}  {label}")
    load = os.getloadavg()
    summary["load_average_1m"] = round(load[0], 2)
    console.print(f"machine load average during the run: {load[0]:.1f} (1 min), {os.cpu_count()} CPUs")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "duration_s": seconds,
            "workers": workers,
            "threads": threads,
            "users": users,
            "route_users": route_users,
            "read_rps_offered": read_rps,
            "batch": batch,
            "rows": rows,
            "routes": [{**r, "first_ms": round(first.get(r["endpoint"], 0.0), 1)} for r in route_rows],
            "summary": summary,
            "targets": {label: ok for label, ok in checks},
        }
        json_out.write_text(json.dumps(payload, indent=2), encoding="utf-8")
        console.print(f"wrote {json_out}")


def _read_ingest_summary(
    rows: list[dict[str, Any]], cpu: dict[str, float], batch: int, summary: dict[str, Any]
) -> list[tuple[str, bool]]:
    """The read and ingest phases' headline numbers into ``summary``; returns their target checks."""
    checks: list[tuple[str, bool]] = []
    cached = next((r for r in rows if r["endpoint"] == "GET /forecast (cached)"), None)
    read_all = next((r for r in rows if r["phase"] == "read" and r["endpoint"] == "all"), None)
    ingest_row = next((r for r in rows if r["phase"] == "ingest" and r["endpoint"] != "all"), None)
    ingest_all = next((r for r in rows if r["phase"] == "ingest" and r["endpoint"] == "all"), None)
    if cached is not None:
        summary["cached_forecast_rps"] = cached["rps"]
        summary["cached_forecast_p95_ms"] = cached["p95_ms"]
        summary["cached_forecast_failures"] = cached["failures"]
        checks += [
            ("cached forecast reads >= 300 req/s", cached["rps"] >= TARGET_READ_RPS),
            ("cached forecast p95 < 50 ms", cached["p95_ms"] < TARGET_READ_P95_MS),
            ("no failed reads", cached["failures"] == 0),
        ]
        console.print(f"cached forecast reads: {cached['rps']} req/s, p95 {cached['p95_ms']} ms")
    # Load-independent cost: server CPU per request (per sample), and what 2 idle cores would then serve.
    if read_all and read_all["requests"] and "read" in cpu:
        summary["server_cpu_ms_per_read"] = round(1000 * cpu["read"] / read_all["requests"], 2)
        summary["reads_per_s_on_2_idle_cores"] = round(2000 / max(summary["server_cpu_ms_per_read"], 1e-6))
        console.print(
            f"server CPU per request (read phase mix): {summary['server_cpu_ms_per_read']} ms "
            f"-> about {summary['reads_per_s_on_2_idle_cores']} req/s if the server had 2 idle cores"
        )
    if ingest_row is not None:
        samples_per_s = ingest_row["rps"] * batch
        summary["ingest_samples_per_s"] = round(samples_per_s)
        summary["ingest_failures"] = ingest_row["failures"]
        checks.append(("bulk ingest >= 100,000 samples/s", samples_per_s >= TARGET_INGEST_SPS))
        console.print(f"bulk ingest: {summary['ingest_samples_per_s']:,} samples/s")
    if ingest_all and ingest_all["requests"] and "ingest" in cpu:
        per_sample_us = 1e6 * cpu["ingest"] / (ingest_all["requests"] * batch)
        summary["server_cpu_us_per_ingested_sample"] = round(per_sample_us, 2)
        summary["samples_per_s_per_idle_core"] = round(1e6 / max(per_sample_us, 1e-9))
        console.print(
            f"server CPU per ingested sample: {summary['server_cpu_us_per_ingested_sample']} us "
            f"-> about {summary['samples_per_s_per_idle_core']:,} samples/s per idle core"
        )
    return checks


def _print_scrape(scrape: Any, interval: float) -> None:
    wide_table(
        f"reads with and without a real Prometheus scraping /metrics every {interval:g}s (alternating phases)",
        ["phase", "requests", "p50 ms", "p95 ms", "p99 ms", "max ms", "failures"],
        [
            (kind, s.get("requests", 0), s.get("p50_ms", "-"), s.get("p95_ms", "-"), s.get("p99_ms", "-"),
             s.get("max_ms", "-"), s.get("failures", 0))
            for kind, s in (("without scraping", scrape.without), ("with scraping", scrape.with_scraping))
        ],
    )  # fmt: skip
    console.print(
        f"p99 with / without scraping: {scrape.p99_ratio}; scrapes up: {scrape.scrapes_up} of {scrape.scrapes}"
    )


BENCH_COMMANDS = [bench_api]
