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

from capacity.services.gauges import SeriesGauges

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


#: Per-series gauges, in the order shown: (metric name, help text, field of ``SeriesGauges``, extra labels). Base
#: units (seconds), ``_ratio`` for dimensionless ratios, 0/1 for flags; a field that is None leaves its line out.
SERIES_GAUGES: tuple[tuple[str, str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "capacity_breach_probability",
        "Probability (0..1) that the series crosses its threshold within its forecast horizon.",
        "breach_probability",
        (),
    ),
    (
        "capacity_headroom_ratio",
        "Threshold over the forecast p95 peak (below 1: the peak is over the threshold).",
        "headroom_ratio",
        (),
    ),
    (
        "capacity_time_to_breach_seconds",
        "Seconds from now until the first likely breach (0 once it has passed; absent when none is likely).",
        "seconds_to_breach",
        (),
    ),
    (
        "capacity_forecast_live_mase_ratio",
        "Live MASE: stored forecasts' mean absolute error against later actuals over the seasonal-naive error "
        "of the history each saw.",
        "live_mase",
        (),
    ),
    (
        "capacity_forecast_backtest_mase_ratio",
        "The MASE the backtests of the same forecasts promised.",
        "backtest_mase",
        (),
    ),
    (
        "capacity_forecast_interval_coverage_ratio",
        "Share of later actuals inside the stored forecasts' prediction interval, by interval width in percent.",
        "coverage_80",
        (("interval", "80"),),
    ),
    (
        "capacity_forecast_interval_coverage_ratio",
        "Share of later actuals inside the stored forecasts' prediction interval, by interval width in percent.",
        "coverage_95",
        (("interval", "95"),),
    ),
    (
        "capacity_forecast_scored_steps",
        "Forecast steps scored against later actuals (the evidence behind the live MASE).",
        "live_steps",
        (),
    ),
    (
        "capacity_forecast_drift",
        "1 when the live MASE exceeds the drift ratio times the backtest MASE of the same forecasts, else 0.",
        "drift",
        (),
    ),
    (
        "capacity_forecast_age_seconds",
        "Seconds since the forecast the risk gauges rest on was made.",
        "forecast_age_seconds",
        (),
    ),
    (
        "capacity_forecast_stale",
        "1 when that forecast was made before the series' latest data or events changed, else 0.",
        "stale",
        (),
    ),
)


def render_series_gauges(rows: Iterable[SeriesGauges]) -> list[str]:
    """Per-series gauge lines from ``capacity.services.gauges.SeriesGauges`` rows: each family once, with its help
    and type, then one line per series that has a value (flags as 0/1)."""
    rows = list(rows)
    series_labels = [f'service="{escape_label(r.service)}",metric="{escape_label(r.metric)}"' for r in rows]
    lines: list[str] = []
    seen: set[str] = set()
    for name, help_text, attr, extra in SERIES_GAUGES:
        if name not in seen:
            seen.add(name)
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        more = "".join(f',{k}="{v}"' for k, v in extra)
        for row, labels in zip(rows, series_labels, strict=True):
            value = getattr(row, attr)
            if value is None:
                continue
            number = float(value)
            if math.isnan(number):
                continue
            lines.append(f"{name}{{{labels}{more}}} {_num(number)}")
    return lines
