"""Prometheus text exposition: request counts and latencies (per process), and per-series risk gauges.

No client library: the text format is small (https://prometheus.io/docs/instrumenting/exposition_formats/).
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping

#: Latency histogram buckets, seconds.
BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


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


class RequestMetrics:
    """Thread-safe request counters and a latency histogram per (method, route)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[tuple[str, str, str], int] = defaultdict(int)
        self.buckets: dict[tuple[str, str], list[int]] = {}
        self.sums: dict[tuple[str, str], float] = defaultdict(float)
        self.totals: dict[tuple[str, str], int] = defaultdict(int)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request and its latency."""
        key = (method, route)
        with self._lock:
            self.counts[(method, route, str(status))] += 1
            hist = self.buckets.setdefault(key, [0] * len(BUCKETS))
            index = bisect.bisect_left(BUCKETS, seconds)
            if index < len(BUCKETS):
                hist[index] += 1
            self.sums[key] += seconds
            self.totals[key] += 1

    def render(self) -> list[str]:
        """The request metrics as exposition lines."""
        lines = [
            "# HELP capacity_http_requests_total HTTP requests handled by this process, by route and status.",
            "# TYPE capacity_http_requests_total counter",
        ]
        with self._lock:
            for (method, route, status), n in sorted(self.counts.items()):
                lines.append(
                    f"capacity_http_requests_total{_labels({'method': method, 'route': route, 'status': status})} {n}"
                )
            lines += [
                "# HELP capacity_http_request_duration_seconds Time to handle a request, by route.",
                "# TYPE capacity_http_request_duration_seconds histogram",
            ]
            for (method, route), hist in sorted(self.buckets.items()):
                cumulative = 0
                base = {"method": method, "route": route}
                for bound, n in zip(BUCKETS, hist, strict=True):
                    cumulative += n
                    lines.append(
                        f"capacity_http_request_duration_seconds_bucket{_labels({**base, 'le': repr(bound)})} {cumulative}"
                    )
                total = self.totals[(method, route)]
                lines.append(
                    f"capacity_http_request_duration_seconds_bucket{_labels({**base, 'le': '+Inf'})} {total}"
                )
                lines.append(
                    f"capacity_http_request_duration_seconds_sum{_labels(base)} {_num(self.sums[(method, route)])}"
                )
                lines.append(f"capacity_http_request_duration_seconds_count{_labels(base)} {total}")
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
