"""The accuracy benchmark: this engine against seasonal naive, Prophet and statsforecast on the same folds.

Protocol (issue 3): each series is resampled to ``freq`` with ``agg`` (the mean, or the maximum / 95th percentile of
the samples in each step: daily peaks with ``--freq 1d --agg max``). For fold ``k = 1..K`` the cutoff is
``end - (K - k + 1) * horizon``; everything before it is training data and the next ``horizon`` steps are the
test window. A series with under three horizons of training before the first cutoff is skipped with the reason.
Per series and method (mean over folds): MASE scaled by the training part's in-sample daily seasonal-naive MAE,
sMAPE, scaled pinball loss over the quantiles 0.1..0.9, coverage of the 80% (0.1..0.9) and 95% (0.025..0.975)
intervals, the absolute percentage error of the window's peak, and fit-and-forecast wall seconds. The summary
covers the series on which every method ran: geometric mean MASE (each per-series MASE floored at 0.1), the same
relative to each other method, mean coverages, mean scaled pinball, the share of test windows whose forecast peak
is within 10% and 20% of the actual peak (issue 16: the tolerance planners are held to), median and total seconds.

A method's forecast peak is its own forecast of the window's maximum: for this engine, the risk table's peak p50
(:func:`capacity.risk.peaks.window_peak`): at four weeks or more, at any step, the highest calibrated weekly p50
peak of the daily peaks (:mod:`capacity.forecast.peaks`, what ``capacity plan`` shows); at shorter horizons, the
median over its sample paths of each path's maximum; for Prophet the same over
its predictive samples; for statsforecast and seasonal naive, which have no paths, the maximum of the point
forecast.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from capacity.bench.peers import PEERS, PeerForecast
from capacity.errors import CapacityError, PeerUnavailable
from capacity.forecast.metrics import coverage, mase, scaled_pinball, seasonal_scale, smape
from capacity.forecast.pipeline import forecast_series
from capacity.forecast.regularize import AGGREGATIONS, steps_per
from capacity.forecast.types import ForecastResult, ForecastSpec
from capacity.risk.peaks import window_peak
from capacity.schema import quantile_column

#: Quantiles every method forecasts: the pinball set 0.1..0.9 and the 95% interval's ends.
BENCH_QUANTILES: tuple[float, ...] = (0.025, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.975)
PINBALL_QUANTILES: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
METRIC_KEYS: tuple[str, ...] = ("mase", "smape", "spl", "coverage_80", "coverage_95", "peak_ape", "seconds")
#: The tolerances of the peak: share of windows whose forecast peak is within 10% and 20% of the actual one.
PEAK_TOLERANCES: tuple[float, ...] = (0.10, 0.20)
#: The MASE floor before logs, so an intermittent all-zero window cannot dominate a geometric mean.
MASE_FLOOR = 0.1


def _as_peer(result: ForecastResult, quantiles: Sequence[float], peak: float) -> PeerForecast:
    frame = result.frame
    return PeerForecast(
        mean=frame["mean"].to_numpy(),
        quantiles={q: frame[quantile_column(q)].to_numpy() for q in quantiles},
        peak=peak,
    )


def capacity_method(freq: str) -> Callable[[pd.Series, int, int, Sequence[float]], PeerForecast]:
    """This engine as a benchmark method: automatic selection, as users get it."""

    def fit(train: pd.Series, horizon: int, day: int, quantiles: Sequence[float]) -> PeerForecast:
        spec = ForecastSpec(horizon=horizon, freq=freq, quantiles=tuple(quantiles))
        result = forecast_series(train, spec)
        ts = pd.DatetimeIndex(result.frame["ts"])
        # the risk table's peak p50: the calibrated weekly peaks of a long-range forecast, else the paths' maxima
        peak = window_peak(ts, result.frame, result.paths, result.peaks).p50
        return _as_peer(result, quantiles, peak)

    return fit


def fold_cutoffs(n: int, horizon: int, folds: int) -> list[int]:
    """Positions of the fold cutoffs, oldest first: ``n - (K - k + 1) * horizon`` for ``k = 1..K``."""
    return [n - (folds - k + 1) * horizon for k in range(1, folds + 1)]


def score_fold(actual: np.ndarray, forecast: PeerForecast, scale: float) -> dict[str, float]:
    """The per-fold metrics of one method's forecast."""
    q = forecast.quantiles
    peak = float(np.max(forecast.mean)) if forecast.peak is None else forecast.peak
    top = float(np.max(actual))
    return {
        "peak_ape": abs(peak - top) / abs(top) if top != 0 else float(peak != 0),
        "mase": mase(actual, forecast.mean, scale),
        "smape": smape(actual, forecast.mean),
        "spl": scaled_pinball(actual, {p: q[p] for p in PINBALL_QUANTILES}, scale),
        "coverage_80": coverage(actual, q[0.1], q[0.9]),
        "coverage_95": coverage(actual, q[0.025], q[0.975]),
    }


def needed_steps(horizon: int, folds: int) -> int:
    """The fewest steps a series needs to be scored: three horizons of training before the first of ``folds``
    test windows."""
    return (3 + folds) * horizon


def evaluate_series(
    y: pd.Series, horizon: int, folds: int, methods: Sequence[str], freq: str
) -> dict[str, Any]:
    """Run every method on every fold of one regular series; returns ``{"skipped", "methods"}``."""
    n = len(y)
    cutoffs = fold_cutoffs(n, horizon, folds)
    if n < needed_steps(horizon, folds):
        return {
            "skipped": f"{n} steps: under 3 horizons of training before the first cutoff "
            f"(needs {needed_steps(horizon, folds)})",
            "methods": {},
        }
    day = steps_per(freq, "1D")
    fns = {m: capacity_method(freq) if m == "capacity" else PEERS[m] for m in methods}
    out: dict[str, Any] = {}
    for method, fn in fns.items():
        rows = []
        try:
            for c in cutoffs:
                train, actual = y.iloc[:c], y.iloc[c : c + horizon].to_numpy(dtype="float64")
                started = time.perf_counter()
                forecast = fn(train, horizon, day, BENCH_QUANTILES)
                seconds = time.perf_counter() - started
                if not np.isfinite(forecast.mean).all():
                    raise ValueError("forecast is not finite")
                row = score_fold(actual, forecast, seasonal_scale(train.to_numpy(dtype="float64"), day))
                row["seconds"] = seconds
                rows.append(row)
        except PeerUnavailable as exc:
            out[method] = {"error": str(exc)}
            continue
        except (CapacityError, ValueError, RuntimeError, np.linalg.LinAlgError) as exc:
            out[method] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
            continue
        out[method] = {k: float(np.mean([r[k] for r in rows])) for k in METRIC_KEYS}
        out[method]["peak_apes"] = [r["peak_ape"] for r in rows]
    return {"skipped": None, "methods": out}


def _gmean(values: Sequence[float]) -> float:
    return float(np.exp(np.mean(np.log(np.maximum(values, MASE_FLOOR))))) if len(values) else float("nan")


def summarize(series: Sequence[Mapping[str, Any]], methods: Sequence[str]) -> dict[str, Any]:
    """The per-method summary over the series on which every method ran."""
    complete = [
        s
        for s in series
        if s["skipped"] is None and all(m in s["methods"] and "error" not in s["methods"][m] for m in methods)
    ]
    summary: dict[str, Any] = {}
    for m in methods:
        rows = [s["methods"][m] for s in complete]
        mases = [r["mase"] for r in rows]
        relative = {}
        for other in methods:
            if other == m:
                continue
            ratios = [
                max(s["methods"][m]["mase"], MASE_FLOOR) / max(s["methods"][other]["mase"], MASE_FLOOR)
                for s in complete
            ]
            relative[other] = float(np.exp(np.mean(np.log(ratios)))) if ratios else float("nan")
        seconds = [r["seconds"] for r in rows]
        apes = np.array([a for r in rows for a in r.get("peak_apes", [r["peak_ape"]])], dtype="float64")
        peaks = {
            f"peak_within_{round(t * 100)}": float(np.mean(apes <= t + 1e-12)) if len(apes) else float("nan")
            for t in PEAK_TOLERANCES
        }
        summary[m] = {
            "series": len(rows),
            "mase_gmean": _gmean(mases),
            "relative_mase_gmean": relative,
            "coverage_80": float(np.mean([r["coverage_80"] for r in rows])) if rows else float("nan"),
            "coverage_95": float(np.mean([r["coverage_95"] for r in rows])) if rows else float("nan"),
            "spl_mean": float(np.mean([r["spl"] for r in rows])) if rows else float("nan"),
            **peaks,
            "seconds_median": float(np.median(seconds)) if rows else float("nan"),
            "seconds_total": float(np.sum(seconds)) if rows else float("nan"),
        }
    return summary


def run_accuracy(
    series: Mapping[str, pd.Series],
    *,
    horizon: int,
    folds: int,
    methods: Sequence[str],
    freq: str = "1h",
    config: Mapping[str, Any] | None = None,
    on_series: Callable[[str, Mapping[str, Any]], None] | None = None,
    on_partial: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run the benchmark over regular series (already resampled to ``freq``); returns the JSON-ready result.

    Args:
        series: name -> regular series.
        horizon: test-window length in steps.
        folds: number of folds.
        methods: ``capacity`` and peer names (see :data:`capacity.bench.peers.PEERS`).
        freq: the step of the series.
        config: extra configuration recorded in the result.
        on_series: called with each series' name and entry as soon as it is done (progress).
        on_partial: called with the result so far (``config.complete`` false) after each series, so an
            interrupted run keeps what it measured.

    Returns:
        ``{"config", "series", "summary"}`` in the shape documented in the module docstring.
    """
    conf = {
        "horizon_steps": horizon,
        "folds": folds,
        "freq": freq,
        "methods": list(methods),
        **(config or {}),
    }
    entries: list[dict[str, Any]] = []
    for name, y in series.items():
        entry = {"name": name, **evaluate_series(y, horizon, folds, methods, freq)}
        entries.append(entry)
        if on_series is not None:
            on_series(name, entry)
        if on_partial is not None:
            partial = {**conf, "complete": False, "series_done": len(entries), "series_total": len(series)}
            on_partial({"config": partial, "series": entries, "summary": summarize(entries, methods)})
    return {"config": {**conf, "complete": True}, "series": entries, "summary": summarize(entries, methods)}


def resample(frame: pd.DataFrame, freq: str, agg: str = "mean") -> pd.Series:
    """A ``timestamp,value`` frame resampled to ``freq`` with ``agg`` (``mean``, ``max``, ``p95``; empty steps
    interpolated).

    Raises:
        ValueError: for an unknown aggregation.
    """
    if agg not in AGGREGATIONS:
        raise ValueError(f"agg must be one of {', '.join(AGGREGATIONS)}, got {agg!r}")
    ts = pd.to_datetime(frame["timestamp"], utc=True)
    s = pd.Series(pd.to_numeric(frame["value"], errors="coerce").to_numpy(dtype="float64"), index=ts)
    s = s[np.isfinite(s.to_numpy())].sort_index()
    grouped = s.resample(freq)
    out = grouped.mean() if agg == "mean" else grouped.max() if agg == "max" else grouped.quantile(0.95)
    return out.interpolate(limit_direction="both")


def markdown_table(result: Mapping[str, Any]) -> str:
    """The summary as a Markdown table."""
    summary = result["summary"]
    methods = list(summary)
    head = [
        "method",
        "series",
        "MASE (gmean)",
        *[f"rel. {m}" for m in methods],
        "cov 80%",
        "cov 95%",
        "peak ±10%",
        "peak ±20%",
        "SPL",
        "median s",
        "total s",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in methods:
        s = summary[m]
        rel = [("-" if o == m else f"{s['relative_mase_gmean'].get(o, float('nan')):.3f}") for o in methods]
        lines.append(
            "| "
            + " | ".join(
                [
                    m,
                    str(s["series"]),
                    f"{s['mase_gmean']:.3f}",
                    *rel,
                    f"{s['coverage_80']:.3f}",
                    f"{s['coverage_95']:.3f}",
                    f"{s['peak_within_10']:.3f}",
                    f"{s['peak_within_20']:.3f}",
                    f"{s['spl_mean']:.3f}",
                    f"{s['seconds_median']:.2f}",
                    f"{s['seconds_total']:.1f}",
                ]
            )
            + " |"
        )
    return "\n".join(lines) + "\n"
