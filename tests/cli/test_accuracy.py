"""``capacity accuracy``: the chosen model's backtest scores and the live accuracy of stored forecasts, scored on a
real SQLite store against actuals that arrived after each forecast."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner

from capacity.cli import cli
from capacity.forecast.metrics import score_stored_forecast
from capacity.forecast.pipeline import forecast_series
from capacity.forecast.types import ForecastSpec
from capacity.store import Store


def history(days: int) -> pd.DataFrame:
    ts = pd.date_range("2024-05-06", periods=days * 24, freq="1h", tz="UTC")
    t = np.arange(len(ts))
    value = 50 + 20 * np.sin(2 * np.pi * t / 24) + np.random.default_rng(0).normal(0, 1, len(ts))
    return pd.DataFrame({"service": "shop", "metric": "cpu", "ts": ts, "value": value})


def test_live_accuracy_scores_only_covered_forecasts(tmp_path: Path) -> None:
    db = tmp_path / "cap.db"
    full = history(20)
    store = Store.open(db)
    store.series.ingest(full.iloc[: 24 * 16])
    spec = ForecastSpec(horizon=48)
    past = store.series.load_history("shop", "cpu")
    store.forecasts.save_forecast("shop", "cpu", forecast_series(past, spec), spec)
    store.series.ingest(full.iloc[24 * 16 :])  # four more days arrive: the first forecast is covered
    latest = store.series.load_history("shop", "cpu")
    store.forecasts.save_forecast("shop", "cpu", forecast_series(latest, spec), spec)  # not covered yet
    store.close()

    out = tmp_path / "acc.json"
    result = CliRunner().invoke(cli, ["accuracy", "shop", "cpu", "--db", str(db), "--json", str(out)])
    assert result.exit_code == 0, result.output
    (record,) = json.loads(out.read_text())
    assert record["model"] and record["backtest"]["mase"] > 0
    live = record["live"]
    assert live["forecasts"] == 1 and live["steps"] == 48
    assert live["mase"] < 1.0 and 0.5 <= live["coverage_95"] <= 1.0
    assert "shop" in result.output


def test_unknown_series_is_a_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["accuracy", "nope", "--db", str(tmp_path / "x.db"), "--create"])
    assert result.exit_code == 2 and "nope" in result.output


def test_score_stored_forecast_joins_on_timestamps() -> None:
    ts = pd.date_range("2024-01-01", periods=4, freq="1h", tz="UTC")
    frame = pd.DataFrame({"ts": ts, "mean": [1.0, 2.0, 3.0, 4.0], "q0.1": 0.0, "q0.9": 10.0})
    actual = pd.Series([1.0, 2.0, 5.0], index=ts[:3])
    score = score_stored_forecast(frame, actual, scale=1.0)
    assert (
        score is not None and score["steps"] == 3 and score["mase"] == 2.0 / 3 and score["coverage_80"] == 1.0
    )
    assert score_stored_forecast(frame, actual.iloc[:0], 1.0) is None
