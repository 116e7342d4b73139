"""``capacity bench api``: the API under gunicorn on loopback, loaded by our own Locust suite, measured per endpoint.

Two phases against one server on the sample fleet: cached forecast reads (``ReadUser``), then bulk ingest
(``IngestUser``). Each phase is a headless Locust run in a subprocess; the table shows requests/s, p50/p95/p99
latency and failures per endpoint, and the ingest phase's samples per second.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import click
import requests

from capacity.bench.api_load import (
    CONFIG,
    FLEET,
    TARGET_INGEST_SPS,
    TARGET_READ_P95_MS,
    TARGET_READ_RPS,
    prepare_db,
    run_locust,
    server_cpu_seconds,
    stats_row,
)
from capacity.cli.common import console, print_table
from capacity.errors import InvalidInput
from capacity.schema import parse_duration
from capacity.testing.serve import ServeProcess


@click.command("api")
@click.option(
    "--duration", default="60s", show_default=True, help="Length of the read phase (ingest: a third)."
)
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Write the numbers as JSON here.")
@click.option(
    "--users", default=24, show_default=True, type=click.IntRange(1, 1000), help="Read-phase users."
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
    "--read-rps",
    default=360.0,
    show_default=True,
    type=click.FloatRange(0, 100_000),
    help="Read rate offered, spread over the users (0: no wait, which measures queueing, not service time).",
)
@click.option(
    "--fleet", type=click.Path(path_type=Path), default=FLEET, show_default=True, help="History to load."
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
    json_out: Path | None,
    users: int,
    ingest_users: int,
    batch: int,
    n_series: int,
    workers: int,
    fleet: Path,
    config_path: Path,
    read_rps: float,
) -> None:
    """Load the API (gunicorn on loopback, sample fleet) with our Locust suite: cached forecast reads, then bulk
    ingest; print requests/s, p50/p95/p99 and failures per endpoint.

    \b
    Example:
      nice -n 10 capacity bench api --duration 60s --json bench-results/api.json
      capacity bench api --duration 20s --db postgresql://capacity@127.0.0.1/bench_api
    """
    seconds = parse_duration(duration, "duration").total_seconds()
    if seconds > 3600:
        raise InvalidInput(f"duration must be at most 1h, got {duration}", field="duration")
    with tempfile.TemporaryDirectory(prefix="capacity-bench-api-") as tmp_dir:
        tmp = Path(tmp_dir)
        console.print(f"preparing the sample fleet and {n_series} stored forecasts ...")
        target = db or tmp / "bench.db"
        token, series = prepare_db(target, n_series, fleet, config_path)
        server = ServeProcess(target, tmp / "server.log", workers=workers).start(timeout=60)
        url = server.url
        pid = server.proc.pid if server.proc is not None else 0
        try:
            for s in series:  # warm each worker's cache; a 200 proves the forecast is served
                for _ in range(workers * 2):
                    requests.get(
                        f"{url}/api/v1/series/{s}/forecast",
                        headers={"Authorization": f"Bearer {token}"},
                        timeout=120,
                    )
            env = {
                "CAPACITY_BENCH_USER_RPS": str(read_rps / users),
                "CAPACITY_BENCH_TOKEN": token,
                "CAPACITY_BENCH_SERIES": ",".join(series),
                "CAPACITY_BENCH_BATCH": str(batch),
            }
            offered = f"{read_rps:g} req/s offered" if read_rps else "no wait"
            console.print(f"read phase: {users} users ({offered}) for {seconds:.0f}s against {url} ...")
            cpu0 = server_cpu_seconds(pid)
            reads = run_locust(url, "ReadUser", users, seconds, env, tmp / "reads")
            cpu_reads = server_cpu_seconds(pid) - cpu0
            ingest_seconds = max(5.0, seconds / 3)
            console.print(
                f"ingest phase: {ingest_users} users x {batch:,} samples/request for {ingest_seconds:.0f}s ..."
            )
            cpu0 = server_cpu_seconds(pid)
            ingest = run_locust(url, "IngestUser", ingest_users, ingest_seconds, env, tmp / "ingest")
            cpu_ingest = server_cpu_seconds(pid) - cpu0
        finally:
            server.stop()
    backend = "PostgreSQL" if db and db.startswith("postgresql") else "SQLite"
    rows = [stats_row("read", r) for r in reads] + [stats_row("ingest", r) for r in ingest]
    print_table(
        f"API load test ({workers} gunicorn workers, {backend}, Locust on the same machine)",
        ["phase", "endpoint", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "failures"],
        [
            (
                r["phase"],
                r["endpoint"],
                r["requests"],
                r["rps"],
                r["p50_ms"],
                r["p95_ms"],
                r["p99_ms"],
                r["failures"],
            )
            for r in rows
        ],
    )
    cached = next((r for r in rows if r["endpoint"] == "GET /forecast (cached)"), None)
    ingest_row = next((r for r in rows if r["phase"] == "ingest" and r["endpoint"] != "all"), None)
    samples_per_s = (ingest_row["rps"] * batch) if ingest_row else 0.0
    summary: dict[str, Any] = {
        "database": backend,
        "cached_forecast_rps": cached["rps"] if cached else 0.0,
        "cached_forecast_p95_ms": cached["p95_ms"] if cached else None,
        "cached_forecast_failures": cached["failures"] if cached else None,
        "ingest_samples_per_s": round(samples_per_s),
        "ingest_failures": ingest_row["failures"] if ingest_row else None,
    }
    # Load-independent cost: server CPU per request (per sample), and what 2 idle cores would then serve.
    read_all = next((r for r in rows if r["phase"] == "read" and r["endpoint"] == "all"), None)
    ingest_all = next((r for r in rows if r["phase"] == "ingest" and r["endpoint"] == "all"), None)
    if read_all and read_all["requests"]:
        summary["server_cpu_ms_per_read"] = round(1000 * cpu_reads / read_all["requests"], 2)
        summary["reads_per_s_on_2_idle_cores"] = round(2000 / max(summary["server_cpu_ms_per_read"], 1e-6))
    if ingest_all and ingest_all["requests"]:
        per_sample_us = 1e6 * cpu_ingest / (ingest_all["requests"] * batch)
        summary["server_cpu_us_per_ingested_sample"] = round(per_sample_us, 2)
        summary["samples_per_s_per_idle_core"] = round(1e6 / max(per_sample_us, 1e-9))
    checks = [
        ("cached forecast reads >= 300 req/s", summary["cached_forecast_rps"] >= TARGET_READ_RPS),
        ("cached forecast p95 < 50 ms", (summary["cached_forecast_p95_ms"] or 1e9) < TARGET_READ_P95_MS),
        ("no failed reads", summary["cached_forecast_failures"] == 0),
        ("bulk ingest >= 100,000 samples/s", samples_per_s >= TARGET_INGEST_SPS),
    ]
    console.print(
        f"cached forecast reads: {summary['cached_forecast_rps']} req/s, p95 {summary['cached_forecast_p95_ms']} ms; "
        f"bulk ingest: {summary['ingest_samples_per_s']:,} samples/s"
    )
    for label, ok in checks:
        console.print(f"  {'PASS' if ok else 'MISS'}  {label}")
    if "server_cpu_ms_per_read" in summary:
        console.print(
            f"server CPU per request (read phase mix): {summary['server_cpu_ms_per_read']} ms "
            f"-> about {summary['reads_per_s_on_2_idle_cores']} req/s if the server had 2 idle cores"
        )
    if "server_cpu_us_per_ingested_sample" in summary:
        console.print(
            f"server CPU per ingested sample: {summary['server_cpu_us_per_ingested_sample']} us "
            f"-> about {summary['samples_per_s_per_idle_core']:,} samples/s per idle core"
        )
    load = os.getloadavg()
    summary["load_average_1m"] = round(load[0], 2)
    console.print(f"machine load average during the run: {load[0]:.1f} (1 min), {os.cpu_count()} CPUs")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "duration_s": seconds,
            "workers": workers,
            "users": users,
            "read_rps_offered": read_rps,
            "batch": batch,
            "rows": rows,
            "summary": summary,
            "targets": {label: ok for label, ok in checks},
        }
        json_out.write_text(json.dumps(payload, indent=2), encoding="utf-8")
        console.print(f"wrote {json_out}")


BENCH_COMMANDS = [bench_api]
