"""The scale benchmark's pure parts: a synthetic fleet of hourly series, and the summary of a batch run.

``capacity bench scale`` (in ``capacity/cli/bench_scale.py``) stores the fleet in a temporary database, forecasts
every series through :func:`capacity.services.forecasting.forecast_stored` (local pool or Dask) and summarizes it here.
"""

from __future__ import annotations

import os
import socket
import statistics
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from capacity.batch.task import peak_rss_mb
from capacity.errors import InvalidInput
from capacity.schema import METRIC, SERVICE, TS, VALUE
from capacity.services.forecasting import SeriesOutcome

#: The last hour of every synthetic series (fixed: the benchmark never reads the clock).
FLEET_END = pd.Timestamp("2026-01-04 23:00", tz="UTC")


def synthetic_fleet(n: int, weeks: int, seed: int = 0, end: pd.Timestamp = FLEET_END) -> pd.DataFrame:
    """``n`` hourly CPU series of ``weeks`` weeks with daily and weekly cycles, a slow trend and noise.

    Each series has its own level, daily amplitude and phase, weekend dip and trend, so model selection has real
    choices to make. Values are percentages in [0, 100].

    Raises:
        InvalidInput: when ``n`` or ``weeks`` is not positive.
    """
    if n < 1:
        raise InvalidInput(f"series must be at least 1, got {n}", field="series")
    if weeks < 1:
        raise InvalidInput(f"weeks must be at least 1, got {weeks}", field="weeks")
    rng = np.random.default_rng(seed)
    index = pd.date_range(end=end, periods=weeks * 7 * 24, freq="h")
    t = np.arange(len(index), dtype=np.float64)
    hour = index.hour.to_numpy()[None, :]
    weekend = (index.dayofweek.to_numpy() >= 5)[None, :]
    level = rng.uniform(15, 55, (n, 1))
    daily = rng.uniform(3, 20, (n, 1)) * np.sin(2 * np.pi * (hour - rng.uniform(4, 10, (n, 1))) / 24)
    dip = rng.uniform(0, 10, (n, 1)) * weekend
    trend = rng.uniform(-2, 6, (n, 1)) * t[None, :] / (24 * 7 * 4)  # points per four weeks
    noise = rng.normal(0, 1, (n, len(t))) * rng.uniform(0.5, 3, (n, 1))
    values = np.clip(level + daily - dip + trend + noise, 0, 100)
    return pd.DataFrame(
        {
            SERVICE: np.repeat([f"svc{i:05d}" for i in range(n)], len(t)),
            METRIC: "cpu",
            TS: np.tile(index.to_numpy(), n),
            VALUE: values.ravel(),
        }
    ).astype({TS: "datetime64[ns, UTC]"})


@dataclass(frozen=True)
class ScaleResult:
    """One ``bench scale`` run. The first six fields are the JSON contract; the rest explain them."""

    series: int
    seconds_total: float
    series_per_second: float
    peak_memory_mb: float
    fallback_share: float
    failed: int
    backend: str
    workers: int
    weeks: int
    horizon_steps: int
    series_seconds_median: float
    series_seconds_mean: float
    series_cpu_seconds_median: float
    series_cpu_seconds_mean: float
    cpu_seconds_total: float
    seconds_if_idle: float
    ingest_seconds: float
    memory_by_process_mb: Mapping[str, float]

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON-ready dict."""
        return asdict(self)


def summarize(
    outcomes: Sequence[SeriesOutcome],
    *,
    seconds: float,
    process_peaks_mb: Mapping[str, float],
    backend: str,
    workers: int,
    weeks: int,
    horizon_steps: int,
    ingest_seconds: float,
) -> ScaleResult:
    """Summarize a batch run: throughput, the memory of every process summed, fallback share and failures.

    Args:
        outcomes: one per series.
        seconds: wall time of the forecasting phase.
        process_peaks_mb: peak resident memory of each process involved (the parent and every worker), by name.

    ``seconds_if_idle`` is the workers' CPU time divided among them: what the forecasting would take if the
    workers had their cores to themselves (the wall time on a shared machine can be much longer).
    """
    ok = [o for o in outcomes if o.ok]
    times = [o.seconds for o in outcomes if o.seconds > 0]
    cpu = [o.cpu_seconds for o in outcomes if o.cpu_seconds > 0]
    n = len(outcomes)
    return ScaleResult(
        series=n,
        seconds_total=round(seconds, 3),
        series_per_second=round(n / seconds, 3) if seconds > 0 else 0.0,
        peak_memory_mb=round(sum(process_peaks_mb.values()), 1),
        fallback_share=round(sum(1 for o in ok if o.fallback) / len(ok), 4) if ok else 0.0,
        failed=n - len(ok),
        backend=backend,
        workers=workers,
        weeks=weeks,
        horizon_steps=horizon_steps,
        series_seconds_median=round(statistics.median(times), 3) if times else 0.0,
        series_seconds_mean=round(statistics.fmean(times), 3) if times else 0.0,
        series_cpu_seconds_median=round(statistics.median(cpu), 3) if cpu else 0.0,
        series_cpu_seconds_mean=round(statistics.fmean(cpu), 3) if cpu else 0.0,
        cpu_seconds_total=round(sum(cpu), 1),
        seconds_if_idle=round(sum(cpu) / max(1, workers), 1),
        ingest_seconds=round(ingest_seconds, 3),
        memory_by_process_mb={k: round(v, 1) for k, v in sorted(process_peaks_mb.items())},
    )


def _hwm_mb(pid: int) -> float | None:
    """A process's peak resident memory from ``/proc`` (Linux), in MiB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


class TreeMemory:
    """Samples the peak resident memory of this process and all its descendants (pool workers, the forkserver)
    every ``interval`` seconds; each process keeps its highest value, even after it exits."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="tree-memory")
        self._host = socket.gethostname()

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def sample(self) -> None:
        """Record the current peaks once."""
        try:
            import psutil  # deferred: optional (the bench and dask extras)
        except ImportError:  # only this process then; workers report their own peaks with each result
            self._note(os.getpid(), peak_rss_mb())
            return
        me = psutil.Process()
        try:
            family = [me, *me.children(recursive=True)]
        except psutil.Error:
            family = [me]
        for proc in family:
            try:
                mb = _hwm_mb(proc.pid) or proc.memory_info().rss / 2**20
            except psutil.Error:
                continue
            self._note(proc.pid, mb)

    def _note(self, pid: int, mb: float) -> None:
        key = f"{self._host}:{pid}"
        self.peaks[key] = max(self.peaks.get(key, 0.0), mb)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()


def process_peaks(parent: dict[str, float], outcomes: list[SeriesOutcome]) -> dict[str, float]:
    """Peak memory per process: what was sampled locally, merged with what each worker reported (Dask workers
    on other hosts are seen only that way). Keys name the role and ``host:pid``."""
    me = f"{socket.gethostname()}:{os.getpid()}"
    merged = dict(parent)
    merged[me] = max(merged.get(me, 0.0), peak_rss_mb())
    workers = set()
    for o in outcomes:
        if o.worker:
            workers.add(o.worker)
            merged[o.worker] = max(merged.get(o.worker, 0.0), o.worker_peak_mb)
    role = {k: ("parent" if k == me else "worker" if k in workers else "helper") for k in merged}
    return {f"{role[k]} {k}": v for k, v in merged.items()}
