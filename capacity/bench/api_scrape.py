"""Reads with and without a Prometheus scraping ``/metrics``: the same steady read load throughout, a real
Prometheus started and stopped in alternating phases, each request counted in the phase it started in.

The comparison is a ratio measured within one run (the machine's other load moves both sides alike): the reads'
p99 while Prometheus scrapes over their p99 while it does not. Prometheus' own ``up`` series counts the scrapes that
answered within its timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capacity.testing.load import ReadLoad, summarize
from capacity.testing.prometheus import PrometheusServer

#: Seconds of load before the first phase (connections opened, caches warm).
WARMUP_S = 5.0


@dataclass
class ScrapeComparison:
    """What the alternating run measured.

    Attributes:
        without: latency summary of the reads in the phases without scraping.
        with_scraping: the same for the phases with Prometheus scraping.
        scrapes_up: scrapes that answered in time (Prometheus' ``up`` = 1), over every scraping phase.
        scrapes: scrapes attempted.
        phases: each phase's kind, length and summary.
    """

    without: dict[str, Any]
    with_scraping: dict[str, Any]
    scrapes_up: int
    scrapes: int
    phases: list[dict[str, Any]] = field(default_factory=list)

    @property
    def p99_ratio(self) -> float | None:
        """The reads' p99 with scraping over their p99 without (None when either side has no requests)."""
        a, b = self.with_scraping.get("p99_ms"), self.without.get("p99_ms")
        return round(float(a) / float(b), 2) if a is not None and b else None


def compare_scraping(
    url: str,
    paths: Sequence[str],
    headers: dict[str, str],
    workdir: Path,
    *,
    interval_s: float,
    phase_s: float,
    rounds: int = 2,
    threads: int = 8,
    rate: float = 5.0,
    say: Callable[[str], None] = print,
) -> ScrapeComparison:
    """Run the read load for ``rounds`` x (a phase without Prometheus, a phase with it scraping every
    ``interval_s``), each ``phase_s`` long, and split the reads by phase.

    Raises:
        BenchSetupError: when Prometheus cannot be started.
    """
    target = url.split("://", 1)[-1].rstrip("/")
    load = ReadLoad(url, paths, headers, threads=threads, rate=rate).start()
    phases: list[dict[str, Any]] = []
    windows: dict[str, list[tuple[float, float]]] = {"without": [], "with": []}
    up = total = 0
    try:
        time.sleep(WARMUP_S)
        for i in range(rounds):
            start = time.monotonic()
            say(f"  round {i + 1}/{rounds}: {phase_s:.0f}s without scraping ...")
            time.sleep(phase_s)
            windows["without"].append((start, time.monotonic()))
            server = PrometheusServer(workdir / f"prometheus-{i}", target, interval_s=interval_s).start()
            try:
                server.wait_first_scrape()
                say(
                    f"  round {i + 1}/{rounds}: {phase_s:.0f}s with Prometheus scraping every {interval_s:g}s ..."
                )
                start = time.monotonic()
                time.sleep(phase_s)
                windows["with"].append((start, time.monotonic()))
                n_up, n_total = server.scrapes(time.monotonic() - start)
                up, total = up + n_up, total + n_total
            finally:
                server.stop()
    finally:
        load.stop()
    for kind, spans in windows.items():
        for a, b in spans:
            phases.append({"kind": kind, "seconds": round(b - a, 1), **summarize(load.records(a, b))})
    return ScrapeComparison(
        without=summarize([r for a, b in windows["without"] for r in load.records(a, b)]),
        with_scraping=summarize([r for a, b in windows["with"] for r in load.records(a, b)]),
        scrapes_up=up,
        scrapes=total,
        phases=phases,
    )
