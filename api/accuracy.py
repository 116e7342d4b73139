"""Live accuracy: every stored forecast of a series scored against the actuals that arrived after it.

Each run's forecast mean is compared with the actuals regularized to the run's step (with the series'
aggregation): MASE (scaled by the seasonal naive error of the history the run saw) and the coverage of its 80%
interval (10%..90% quantiles, or the outermost stored). The drift flag is raised when the live MASE, weighted by
the number of scored steps, exceeds the backtest MASE of the newest run by the drift ratio (20% by default).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from api.http.render import iso
from capacity.forecast.metrics import coverage, mase, seasonal_scale
from capacity.schema import MEAN, TS, quantile_column, quantile_of
from capacity.store import Store


def _regular(values: pd.Series, freq: str, agg: str) -> pd.Series:
    if values.empty:
        return values
    how: Any = {"mean": "mean", "max": "max"}.get(agg, lambda x: x.quantile(0.95))
    return values.sort_index().resample(freq).agg(how).dropna()


def _interval(frame: pd.DataFrame) -> tuple[str, str] | None:
    cols = sorted((q, c) for c in frame.columns if (q := quantile_of(c)) is not None)
    if not cols:
        return None
    if quantile_column(0.1) in frame.columns and quantile_column(0.9) in frame.columns:
        return quantile_column(0.1), quantile_column(0.9)
    return cols[0][1], cols[-1][1]


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 6)


def live_accuracy(
    store: Store, service: str, metric: str, drift_ratio: float, limit: int = 20
) -> dict[str, Any]:
    """Backtest scores of the newest forecast and live scores of up to ``limit`` stored forecasts.

    Raises:
        UnknownSeries: when the series does not exist.
    """
    info = store.series.describe(service, metric)
    runs = store.forecasts.forecast_history(service, metric, limit=limit)
    history = store.series.load_history(service, metric)
    rows = []
    weighted, weight = 0.0, 0
    regular_cache: dict[str, pd.Series] = {}
    for run in runs:
        if run.history_end is None or run.frame.empty:
            continue
        regular = regular_cache.get(run.freq)
        if regular is None:
            regular = _regular(history, run.freq, info.agg)
            regular_cache[run.freq] = regular
        actual = regular[regular.index > run.history_end]
        joined = run.frame.set_index(TS).join(actual.rename("actual"), how="inner")
        n = len(joined)
        period = int((run.scores.get("periods") or [1])[0] or 1)
        train = regular[regular.index <= run.history_end].to_numpy()
        row: dict[str, Any] = {
            "run_id": run.run_id,
            "created_at": iso(run.created_at),
            "history_end": iso(run.history_end),
            "model": run.model,
            "scored_steps": n,
            "mase": None,
            "coverage_80": None,
        }
        if n:
            scale = seasonal_scale(train, period) if len(train) else 1.0
            a = joined["actual"].to_numpy()
            row["mase"] = _finite(mase(a, joined[MEAN].to_numpy(), scale))
            interval = _interval(joined)
            if interval is not None:
                row["coverage_80"] = _finite(
                    coverage(a, joined[interval[0]].to_numpy(), joined[interval[1]].to_numpy())
                )
            if row["mase"] is not None:
                weighted += row["mase"] * n
                weight += n
        rows.append(row)
    newest = runs[0] if runs else None
    chosen = (newest.scores.get("chosen") or {}) if newest is not None else {}
    backtest_mase = chosen.get("mase") if isinstance(chosen, dict) else None
    live_mase = weighted / weight if weight else None
    drift = bool(
        live_mase is not None
        and isinstance(backtest_mase, int | float)
        and math.isfinite(backtest_mase)
        and live_mase > drift_ratio * max(float(backtest_mase), 1e-9)
    )
    return {
        "service": service,
        "metric": metric,
        "backtest": {
            "run_id": newest.run_id if newest is not None else None,
            "model": newest.model if newest is not None else None,
            "scores": {k: _finite(v) for k, v in chosen.items() if isinstance(v, int | float)}
            if isinstance(chosen, dict)
            else {},
            "candidates": {
                name: {k: _finite(v) for k, v in sc.items() if isinstance(v, int | float)}
                for name, sc in (
                    (newest.scores.get("candidates") or {}) if newest is not None else {}
                ).items()
                if isinstance(sc, dict)
            },
        },
        "live": {
            "mase": _finite(live_mase),
            "scored_steps": weight,
            "runs": rows,
        },
        "drift_ratio": drift_ratio,
        "drift": drift,
    }


def drift_summary(store: Store, drift_ratio: float) -> list[dict[str, Any]]:
    """Live MASE and drift flag of every series that has forecasts (for ``/metrics``)."""
    out = []
    for info in store.series.list_series():
        try:
            acc = live_accuracy(store, info.service, info.metric, drift_ratio, limit=5)
        except Exception:  # one bad series must not hide the others' gauges
            continue
        out.append(
            {
                "service": info.service,
                "metric": info.metric,
                "capacity_live_forecast_mase": acc["live"]["mase"],
                "capacity_forecast_drift": 1.0 if acc["drift"] else 0.0,
            }
        )
    return out
