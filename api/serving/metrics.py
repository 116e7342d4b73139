"""Prometheus text exposition: request counts and latencies (fleet-wide across gunicorn workers), and per-series
risk gauges.

Request metrics are prometheus_client counters and histograms. Under ``capacity serve`` they run in
prometheus_client's multiprocess mode: each worker process writes its counts to memory-mapped files in the server's
shared directory (:mod:`api.shared_dir`), and a scrape, whichever worker answers it, adds up every worker's files,
including those of workers that have exited, so counters never go backwards when a worker is replaced. Without
that directory (one process) they live in a registry of their own per app. The text is rendered here, in the
exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/), counts as integers.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, values
from prometheus_client.multiprocess import MultiProcessCollector

#: Latency histogram buckets, seconds.
BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

#: HTTP methods counted by name.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = "capacity_http_requests"
LATENCY = "capacity_http_request_duration_seconds"
REQUESTS_HELP = "HTTP requests handled by the server (all worker processes), by route and status."
LATENCY_HELP = "Time to handle a request, by route (all worker processes)."


def escape_label(value: str) -> str:
    """Escape a label value for the text format (backslash, quote, newline)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: Mapping[str, str]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{escape_label(str(v))}"' for k, v in pairs.items()) + "}"


def _num(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _count(value: float) -> str:
    """A count (requests, bucket hits) as an integer; prometheus_client keeps it as a float."""
    return str(int(value)) if math.isfinite(value) and float(value).is_integer() else _num(value)


#: Multiprocess mode: one counter and histogram per process and directory. Two metric objects with the same
#: name in one process would each keep their own copy of the value and overwrite each other's file entries.
_PROCESS_METRICS: dict[str, tuple[Counter, Histogram]] = {}
_PROCESS_LOCK = threading.Lock()


def _new_metrics(registry: CollectorRegistry | None) -> tuple[Counter, Histogram]:
    requests = Counter(REQUESTS, REQUESTS_HELP, ("method", "route", "status"), registry=registry)
    latency = Histogram(LATENCY, LATENCY_HELP, ("method", "route"), buckets=BUCKETS, registry=registry)
    return requests, latency


class RequestMetrics:
    """Request counters and a latency histogram per (method, route); thread-safe, and process-safe with a directory.

    Args:
        multiprocess_dir: prometheus_client's multiprocess directory (the server's, see :mod:`api.shared_dir`);
            None keeps the metrics in this object alone.

    Raises:
        RuntimeError: when a directory is given but prometheus_client was imported before
            ``PROMETHEUS_MULTIPROC_DIR`` was set (it then keeps values per process and the totals would be wrong).
    """

    def __init__(self, multiprocess_dir: Path | str | None = None) -> None:
        self.multiprocess_dir = str(multiprocess_dir) if multiprocess_dir else None
        self._registry: CollectorRegistry | None = None
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        if self.multiprocess_dir is None:
            self._registry = CollectorRegistry(auto_describe=True)
            self._requests, self._latency = _new_metrics(self._registry)
            return
        if not getattr(values.ValueClass, "_multiprocess", False):
            raise RuntimeError(
                "prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set; "
                "request metrics would be per worker"
            )
        with _PROCESS_LOCK:
            found = _PROCESS_METRICS.get(self.multiprocess_dir)
            if found is None:
                found = _PROCESS_METRICS[self.multiprocess_dir] = _new_metrics(None)
        self._requests, self._latency = found

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request and its latency (a method outside :data:`METHODS` counts as ``other``)."""
        if method not in METHODS:  # a client must not grow the label set (and the shared files) at will
            method = "other"
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:  # labels() takes a lock and builds a key; a plain dict read is cheaper
            children = (
                self._requests.labels(method, route, str(status)),
                self._latency.labels(method, route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def _families(self) -> Iterable[Any]:
        if self.multiprocess_dir is not None:
            return MultiProcessCollector(None, path=self.multiprocess_dir).collect()
        assert self._registry is not None
        return self._registry.collect()

    def render(self) -> list[str]:
        """The request metrics as exposition lines (every worker's counts added up in multiprocess mode)."""
        counts: dict[tuple[str, ...], float] = {}
        buckets: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
        sums: dict[tuple[str, str], float] = {}
        totals: dict[tuple[str, str], float] = {}
        for family in self._families():
            for sample in family.samples:
                labels = sample.labels
                if sample.name == REQUESTS + "_total":
                    counts[(labels["method"], labels["route"], labels["status"])] = sample.value
                    continue
                key = (labels.get("method", ""), labels.get("route", ""))
                if sample.name == LATENCY + "_bucket":
                    buckets[key].append((float(labels["le"]), sample.value))
                elif sample.name == LATENCY + "_sum":
                    sums[key] = sample.value
                elif sample.name == LATENCY + "_count":
                    totals[key] = sample.value
        lines = [f"# HELP {REQUESTS}_total {REQUESTS_HELP}", f"# TYPE {REQUESTS}_total counter"]
        for (method, route, status), n in sorted(counts.items()):
            lines.append(
                f"{REQUESTS}_total{_labels({'method': method, 'route': route, 'status': status})} {_count(n)}"
            )
        lines += [f"# HELP {LATENCY} {LATENCY_HELP}", f"# TYPE {LATENCY} histogram"]
        for key in sorted(buckets):
            base = {"method": key[0], "route": key[1]}
            for bound, n in sorted(buckets[key]):
                le = "+Inf" if math.isinf(bound) else repr(bound)
                lines.append(f"{LATENCY}_bucket{_labels({**base, 'le': le})} {_count(n)}")
            lines.append(f"{LATENCY}_sum{_labels(base)} {_num(sums.get(key, 0.0))}")
            lines.append(f"{LATENCY}_count{_labels(base)} {_count(totals.get(key, 0.0))}")
        return lines


#: Per-series gauges: name -> help text.
SERIES_GAUGES: dict[str, str] = {
    "capacity_breach_probability": "Probability that the series crosses its threshold in the risk window.",
    "capacity_headroom_ratio": "Threshold over forecast peak (below 1 means the peak is over the threshold).",
    "capacity_days_until_breach": "Days from now until the first likely breach (absent when none is likely).",
    "capacity_live_forecast_mase": "MASE of stored forecasts against the actuals that arrived after them.",
    "capacity_forecast_drift": "1 when live error is worse than the backtest promised by the drift ratio.",
}


def render_series_gauges(rows: Iterable[Mapping[str, object]]) -> list[str]:
    """Per-series gauge lines from rows holding ``service``, ``metric`` and any of :data:`SERIES_GAUGES`."""
    rows = list(rows)
    lines: list[str] = []
    for name, help_text in SERIES_GAUGES.items():
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        for row in rows:
            value = row.get(name)
            if value is None or not isinstance(value, int | float):
                continue
            if math.isnan(float(value)):
                continue
            labels = {"service": str(row["service"]), "metric": str(row["metric"])}
            lines.append(f"{name}{_labels(labels)} {_num(float(value))}")
    return lines
