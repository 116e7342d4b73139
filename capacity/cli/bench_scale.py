"""``capacity bench scale``: forecast N synthetic series on the local pool or a Dask cluster; print and write the
throughput, total time, peak memory (every process summed) and fallback share."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from capacity.batch.runners import check_scheduler_address, default_workers, make_runner
from capacity.bench.scale import TreeMemory, process_peaks, summarize, synthetic_fleet
from capacity.cli.common import console, print_table
from capacity.errors import InvalidInput
from capacity.forecast.types import ForecastSpec
from capacity.schema import duration_steps
from capacity.services.forecasting import SeriesOutcome, forecast_stored
from capacity.store import Store


@click.command("scale")
@click.option(
    "--series", "n_series", type=int, default=1000, show_default=True, help="Synthetic series to forecast."
)
@click.option("--weeks", type=int, default=8, show_default=True, help="Weeks of hourly history per series.")
@click.option("--horizon", default="14d", show_default=True, help="Forecast horizon.")
@click.option(
    "--workers", type=int, default=None, help="Local worker processes [default: the cores available]."
)
@click.option(
    "--scheduler", metavar="tcp://HOST:PORT", help="Run on this Dask scheduler instead of local processes."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the synthetic fleet.")
@click.option(
    "--db", type=click.Path(path_type=Path), help="Keep the database here [default: a temporary file]."
)
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Write the result as JSON.")
def bench_scale(
    n_series: int,
    weeks: int,
    horizon: str,
    workers: int | None,
    scheduler: str | None,
    seed: int,
    db: Path | None,
    json_out: Path | None,
) -> None:
    """Forecast N synthetic hourly series (daily and weekly cycles) with automatic model selection, storing each
    result as `capacity forecast --all` does; print series/s, total time, peak memory (all processes summed) and the
    share that fell back.

    \b
    Examples:
      capacity bench scale --series 1000 --weeks 8 --horizon 14d --workers 2 --json scale-pool.json
      capacity bench scale --series 1000 --weeks 8 --horizon 14d --scheduler tcp://127.0.0.1:8786
    """

    steps = duration_steps(horizon)
    if workers is not None and workers < 1:
        raise InvalidInput(f"--workers must be at least 1, got {workers}", field="workers")
    if scheduler:
        check_scheduler_address(scheduler)
    fleet = synthetic_fleet(n_series, weeks, seed)
    with tempfile.TemporaryDirectory(prefix="capacity-scale-") as tmp:
        store = Store.open(db or Path(tmp) / "scale.db")
        try:
            started = time.perf_counter()
            store.series.ingest(fleet)
            ingest_seconds = time.perf_counter() - started
            keys = [(s.service, s.metric) for s in store.series.list_series()]
            del fleet
            result = _run(store, keys, steps, workers, scheduler, weeks, ingest_seconds, summarize)
        finally:
            store.close()
    table = [
        ("series", f"{result.series:,}"),
        ("backend", f"{result.backend}, {result.workers} worker(s)"),
        (
            "history",
            f"{weeks} weeks hourly ({weeks * 168:,} points/series), horizon {horizon} ({steps} steps)",
        ),
        ("total time", f"{result.seconds_total:.1f} s"),
        ("series per second", f"{result.series_per_second:.2f}"),
        (
            "per-series wall (median / mean)",
            f"{result.series_seconds_median:.2f} s / {result.series_seconds_mean:.2f} s",
        ),
        (
            "per-series CPU (median / mean)",
            f"{result.series_cpu_seconds_median:.2f} s / {result.series_cpu_seconds_mean:.2f} s",
        ),
        (
            "CPU total / workers (time on idle cores)",
            f"{result.cpu_seconds_total:.0f} s / {result.workers} = {result.seconds_if_idle:.0f} s",
        ),
        (
            "peak memory (all processes)",
            f"{result.peak_memory_mb:,.0f} MB over {len(result.memory_by_process_mb)} processes",
        ),
        ("fallback share", f"{result.fallback_share:.1%}"),
        ("failed", f"{result.failed}"),
        ("ingest (not in total)", f"{result.ingest_seconds:.1f} s"),
    ]
    print_table("bench scale", ["measure", "value"], table)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result.to_json(), indent=2))
        console.print(f"wrote {json_out}")


def _run(
    store: Any,
    keys: list[tuple[str, str]],
    steps: int,
    workers: int | None,
    scheduler: str | None,
    weeks: int,
    ingest_seconds: float,
    summarize: Any,
) -> Any:
    n_workers = min(workers or default_workers(), len(keys))
    runner = make_runner(n_workers, scheduler)
    backend = "dask" if scheduler else ("in-process" if n_workers == 1 else "local pool")
    slots = runner.slots()
    console.print(f"forecasting {len(keys):,} series ({steps} steps ahead) on {backend}, {slots} worker(s)")
    outcomes: list[SeriesOutcome] = []
    step = max(1, len(keys) // 10)

    def on_done(outcome: SeriesOutcome) -> None:
        outcomes.append(outcome)
        if len(outcomes) % step == 0 or len(outcomes) == len(keys):
            took = time.perf_counter() - started
            console.print(
                f"  {len(outcomes):,}/{len(keys):,} done in {took:.0f}s "
                f"({len(outcomes) / took:.2f} series/s, {sum(not o.ok for o in outcomes)} failed)"
            )

    try:
        with TreeMemory() as memory:
            started = time.perf_counter()
            forecast_stored(store, keys, ForecastSpec(horizon=steps), on_done, runner=runner)
            took = time.perf_counter() - started
    finally:
        runner.close(cancel=False)
    return summarize(
        outcomes,
        seconds=took,
        process_peaks_mb=process_peaks(memory.peaks, outcomes),
        backend=backend,
        workers=slots,
        weeks=weeks,
        horizon_steps=steps,
        ingest_seconds=ingest_seconds,
    )


BENCH_COMMANDS = [bench_scale]
