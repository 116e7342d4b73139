"""A month ahead, the risk table's window peak is the daily-peak model's, whatever the step the series is stored at.

The planner's question "what is the peak in the next 30 days" gets one answer: a risk run over an hourly series'
stored 30-day forecast shows the calibrated weekly peaks of its daily maxima (what a daily-peak forecast of the
same samples shows), not the median of its hourly paths' maxima.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from capacity.forecast.pipeline import forecast_series
from capacity.forecast.types import ForecastSpec
from capacity.risk.peaks import window_peak
from capacity.services.fleet_risk import load_fleet_risks
from capacity.services.forecasting import forecast_stored
from capacity.store import Store
from tests.support.yearly import hourly_cpu, store_series


def test_a_risk_run_over_an_hourly_month_shows_the_daily_peak_models_peak(tmp_path) -> None:  # type: ignore[no-untyped-def]
    values = hourly_cpu(2.2, seed=3)
    store = Store.open(str(tmp_path / "long.db"))
    store_series(store, values, threshold=60.0)
    (outcome,) = forecast_stored(store, [("grid", "cpu")], ForecastSpec(horizon=24 * 30, n_paths=100))
    assert outcome.ok, outcome
    run = load_fleet_risks(store)
    (row,) = run.frame.to_dict(orient="records")
    stored = run.forecasts[("grid", "cpu")]
    assert stored.peaks is not None and stored.freq == "1h"

    daily = forecast_series(values, ForecastSpec(horizon=30, freq="1D", agg="max", n_paths=100))
    assert daily.peaks is not None
    for column, level in (("peak_p50", 0.5), ("peak_p90", 0.9), ("peak_p95", 0.95)):
        assert row[column] == pytest.approx(float(np.max(daily.peaks.levels[level])))
    assert row["headroom"] == pytest.approx(60.0 - row["peak_p95"])
    # and not what the hourly paths' maxima say
    ts = pd.DatetimeIndex(stored.frame["ts"])
    assert row["peak_p50"] != pytest.approx(window_peak(ts, stored.frame, stored.paths).p50, rel=1e-3)
