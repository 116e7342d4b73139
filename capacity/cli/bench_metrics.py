"""``capacity bench metrics``: what one ``/metrics`` scrape costs at a fleet of ``--series`` series.

A temporary SQLite database holds ``--series`` series, each with a stored forecast, risk gauges and a ledger row
(:mod:`capacity.bench.metrics_fleet`); a real ``capacity serve`` on loopback answers ``--scrapes`` scrapes one after
another, timed from the client. The same database is also read in this process, split into the part a scrape spends
in the database (:func:`capacity.services.gauges.read_gauges`) and rendering the text. Absolute times on a shared
machine: a benchmark's figure, never a test's assertion.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pandas as pd
import requests

from capacity.bench.api_load import server_cpu_seconds
from capacity.bench.metrics_fleet import seed_metrics_fleet
from capacity.cli.common import console, print_table
from capacity.services.gauges import read_gauges
from capacity.store import Store
from capacity.testing.serve import ServeProcess

#: The target: a scrape at 1,000 series within this many milliseconds (wall p95; and server CPU per scrape, which a
#: busy shared machine does not inflate as much).
TARGET_SCRAPE_MS = 50.0


def _cells(s: dict[str, float]) -> list[str]:
    return [str(s["p50_ms"]), str(s["p95_ms"]), str(s["max_ms"])]


def _summary(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
        "max_ms": round(ordered[-1], 2),
    }


def _timed(n: int, call: Callable[[], Any]) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds of ``n`` calls (CPU time of this process: what the call costs on an idle core)."""
    wall, cpu = [], []
    for _ in range(n):
        started, cpu0 = time.perf_counter(), time.process_time()
        call()
        wall.append(1000 * (time.perf_counter() - started))
        cpu.append(1000 * (time.process_time() - cpu0))
    return wall, cpu


@click.command("metrics")
@click.option(
    "--series",
    "n_series",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Series in the fleet scraped.",
)
@click.option(
    "--scrapes", default=50, show_default=True, type=click.IntRange(1, 10_000), help="Scrapes timed."
)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 16), help="gunicorn workers.")
@click.option(
    "--threads", default=4, show_default=True, type=click.IntRange(1, 64), help="Threads per worker."
)
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Write the numbers as JSON here.")
def bench_metrics(n_series: int, scrapes: int, workers: int, threads: int, json_out: Path | None) -> None:
    """Time ``/metrics`` scrapes of a real server on a fleet of stored gauges (target: p95 <= 50 ms at 1,000
    series).

    \b
    Example:
      nice -n 10 capacity bench metrics --series 1000 --json bench-results/metrics.json
    """
    from api.serving.metrics import (  # deferred: prometheus_client must load after `capacity serve` sets its dir
        render_series_gauges,
    )

    with tempfile.TemporaryDirectory(prefix="capacity-bench-metrics-") as tmp_dir:
        tmp = Path(tmp_dir)
        db = tmp / "metrics.db"
        console.print(f"storing {n_series:,} series with forecasts, gauges and ledger rows ...")
        started = time.perf_counter()
        store = Store.open(db)
        try:
            seed_metrics_fleet(store, n_series)
            console.print(f"  stored in {time.perf_counter() - started:.1f}s")
            now = pd.Timestamp.now(tz="UTC")
            read, read_cpu = _timed(scrapes, lambda: read_gauges(store, now))
            rows = read_gauges(store, now)
            render, render_cpu = _timed(scrapes, lambda: render_series_gauges(rows))
        finally:
            store.close()
        server = ServeProcess(db, tmp / "server.log", workers=workers, threads=threads).start(timeout=90)
        try:
            url = f"{server.url}/metrics"
            body = requests.get(url, timeout=60).text  # the first scrape opens connections: not timed
            pid = server.proc.pid if server.proc is not None else 0
            with requests.Session() as session:
                cpu0 = server_cpu_seconds(pid)
                http, _ = _timed(scrapes, lambda: session.get(url, timeout=60).raise_for_status())
                server_cpu_ms = 1000 * (server_cpu_seconds(pid) - cpu0) / scrapes
        finally:
            server.stop()
    lines = [x for x in body.splitlines() if x and not x.startswith("#")]
    result: dict[str, Any] = {
        "series": n_series,
        "workers": workers,
        "threads": threads,
        "sample_lines": len(lines),
        "bytes": len(body.encode()),
        "http": _summary(http),
        "server_cpu_ms_per_scrape": round(server_cpu_ms, 2),
        "read_gauges": _summary(read),
        "read_gauges_cpu": _summary(read_cpu),
        "render": _summary(render),
        "render_cpu": _summary(render_cpu),
        "target_scrape_ms": TARGET_SCRAPE_MS,
        "load_average_1m": round(os.getloadavg()[0], 1),
    }
    print_table(
        f"/metrics at {n_series:,} series ({len(lines):,} sample lines, {result['bytes'] / 1024:.0f} KiB), "
        f"{scrapes} scrapes one after another",
        ["part", "p50 ms", "p95 ms", "max ms", "CPU p50 ms"],
        [
            ["GET /metrics over HTTP (wall, client side)", *_cells(result["http"]), "-"],
            *(
                [label, *_cells(result[key]), str(result[f"{key}_cpu"]["p50_ms"])]
                for label, key in (
                    ("  read the stored gauges (in this process)", "read_gauges"),
                    ("  render the gauge lines (in this process)", "render"),
                )
            ),
        ],
    )
    console.print(
        f"server CPU per scrape (all processes): {server_cpu_ms:.1f} ms; machine load average "
        f"{result['load_average_1m']} (1 min), {os.cpu_count()} CPUs"
    )
    for ok, label in (
        (result["http"]["p95_ms"] <= TARGET_SCRAPE_MS, "scrape p95 (wall)"),
        (server_cpu_ms <= TARGET_SCRAPE_MS, "server CPU per scrape"),
    ):
        console.print(
            f"  {'PASS' if ok else 'MISS'}  {label} <= {TARGET_SCRAPE_MS:g} ms at {n_series:,} series"
        )
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, indent=2))
        console.print(f"wrote {json_out}")


BENCH_COMMANDS = [bench_metrics]
