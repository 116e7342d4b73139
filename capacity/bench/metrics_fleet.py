"""A fleet of ``n`` series whose ``/metrics`` gauges are all stored, for ``capacity bench metrics`` to scrape.

Each series gets a few samples, one small stored forecast, its risk gauges and a ledger row, written through the
store's own repositories: the same rows a refresh job and the ledger leave behind, without fitting a model per
series (what a scrape costs does not depend on how the rows were computed). Nothing is left for a server's
background pass to do, so the scrapes are timed on an idle server.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from capacity.forecast.types import ForecastResult, ForecastSpec
from capacity.schema import quantile_column
from capacity.services.accuracy import LIVE_RUNS, summarize
from capacity.store import Store
from capacity.store.gauges import RiskGauge
from capacity.store.ledger import Score

#: Forecast steps stored per series (hourly).
HORIZON = 24
#: The instant the seeded history ends.
HISTORY_END = pd.Timestamp("2026-01-01", tz="UTC")


def series_keys(n: int) -> list[tuple[str, str]]:
    """``n`` (service, metric) pairs: ``svc0000``..., three metrics per service."""
    metrics = ("cpu", "memory", "rps")
    return [(f"svc{i // len(metrics):04d}", metrics[i % len(metrics)]) for i in range(n)]


def seed_metrics_fleet(store: Store, n: int, seed: int = 0) -> list[tuple[str, str]]:
    """Store ``n`` series, each with a forecast, risk gauges and a scored ledger row; returns their keys."""
    rng = np.random.default_rng(seed)
    keys = series_keys(n)
    ts = pd.date_range(HISTORY_END - pd.Timedelta(hours=5), HISTORY_END, freq="1h", tz="UTC")
    store.series.ingest(
        pd.DataFrame(
            {
                "service": [s for s, _ in keys for _ in ts],
                "metric": [m for _, m in keys for _ in ts],
                "ts": list(ts) * n,
                "value": rng.uniform(20, 80, n * len(ts)),
            }
        )
    )
    spec = ForecastSpec(horizon=HORIZON)
    steps = pd.date_range(HISTORY_END + pd.Timedelta(hours=1), periods=HORIZON, freq="1h", tz="UTC")
    gauges = []
    for i, (service, metric) in enumerate(keys):
        mean = rng.uniform(20, 80) + np.zeros(HORIZON)
        frame = pd.DataFrame({"ts": steps, "mean": mean})
        for q in spec.quantiles:
            frame[quantile_column(q)] = mean + 20.0 * (q - 0.5)
        result = ForecastResult(
            frame=frame,
            model="seasonal_naive",
            scores={"mase": 0.8, "smape": 10.0, "wape": 0.1},
            diagnostics=(),
            paths=np.empty((0, HORIZON)),
            periods=(24,),
            history_end=HISTORY_END,
        )
        run_id = store.forecasts.save_forecast(service, metric, result, spec)
        info = store.series.describe(service, metric)
        probability = float(rng.uniform())
        gauges.append(
            RiskGauge(
                service=service,
                metric=metric,
                run_id=run_id,
                threshold=info.threshold,
                instances=info.instances,
                instance_capacity=info.instance_capacity,
                agg=info.agg,
                breach_probability=probability,
                first_breach=HISTORY_END + pd.Timedelta(hours=1 + i % HORIZON) if probability > 0.5 else None,
                headroom_ratio=float(rng.uniform(0.5, 2.0)),
            )
        )
        score = Score(
            run_id=run_id,
            window_end=steps[-1] + pd.Timedelta(hours=1),
            horizon=HORIZON,
            steps=HORIZON,
            complete=True,
            mase=float(rng.uniform(0.5, 1.5)),
            mase_scale=1.0,
            smape=10.0,
            wape=0.1,
            abs_error=HORIZON * 5.0,
            abs_actual=HORIZON * 50.0,
            coverage_80=0.8,
            coverage_95=0.95,
            backtest_mase=0.8,
        )
        store.ledger.save(service, metric, info.data_version, [score], summarize, LIVE_RUNS)
    store.gauges.save_risk(gauges)
    return keys
