"""Fleet risks feed the breach probability model only the history before the forecast's start (real SQLite store)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from capacity.config import SeriesConfig
from capacity.forecast.types import ForecastSpec
from capacity.schema import validate_history
from capacity.services.fleet_risk import load_fleet_risks
from capacity.services.forecasting import forecast_stored
from capacity.store import Store

END = pd.Timestamp("2026-03-01", tz="UTC")


def test_data_ingested_after_the_forecast_does_not_move_its_breach_probability(tmp_path: Path):
    rng = np.random.default_rng(7)
    idx = pd.date_range(END - pd.Timedelta(days=56), END, freq="h", inclusive="left")
    value = 50 + 10 * np.sin((idx.hour.to_numpy() - 6) / 24 * 2 * np.pi) + rng.normal(0, 2, len(idx))
    history = validate_history(pd.DataFrame({"service": "web", "metric": "cpu", "ts": idx, "value": value}))
    store = Store.open(str(tmp_path / "fleet.db"))
    try:
        store.series.ingest(history)
        store.series.configure_series([SeriesConfig("web", "cpu", threshold=62.0)])
        spec = ForecastSpec(horizon=48, models=("seasonal_mean",))
        assert all(o.ok for o in forecast_stored(store, [("web", "cpu")], spec))

        def probability() -> float:
            return float(load_fleet_risks(store).frame.iloc[0]["breach_probability"])

        before = probability()
        assert 0.0 < before < 1.0  # the history model is in use, not a certainty
        # A huge spike lands after the forecast's start; until the series is forecast again, its probability
        # still rests on what was known when the forecast was made.
        spike = history.tail(1).assign(ts=END + pd.Timedelta(hours=1), value=99.0)
        store.series.ingest(validate_history(spike))
        assert probability() == before
    finally:
        store.close()
