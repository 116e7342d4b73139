"""``capacity accuracy``: the chosen model's backtest scores and the live accuracy of stored forecasts, read from the
forecast ledger on a real SQLite file; the CLI and the API's ``GET .../accuracy`` print the same numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner

from api import create_app
from capacity.cli import cli
from capacity.forecast.pipeline import forecast_series
from capacity.forecast.types import ForecastSpec
from capacity.store import Store
from tests.support.api import columns_body


def history(days: int) -> pd.DataFrame:
    ts = pd.date_range("2024-05-06", periods=days * 24, freq="1h", tz="UTC")
    t = np.arange(len(ts))
    value = 50 + 20 * np.sin(2 * np.pi * t / 24) + np.random.default_rng(0).normal(0, 1, len(ts))
    return pd.DataFrame({"service": "shop", "metric": "cpu", "ts": ts, "value": value})


def test_the_cli_and_the_api_print_the_same_live_accuracy(tmp_path: Path) -> None:
    db = tmp_path / "cap.db"
    full = history(20)
    store = Store.open(db)
    store.series.ingest(full.iloc[: 24 * 16])
    spec = ForecastSpec(horizon=48)
    store.forecasts.save_forecast(
        "shop", "cpu", forecast_series(store.series.load_history("shop", "cpu"), spec), spec
    )
    store.close()
    # One more day through `capacity ingest` (scored at ingest), the rest through the API's samples route.
    day = tmp_path / "day.csv"
    full.iloc[24 * 16 : 24 * 17].to_csv(day, index=False)
    ingested = CliRunner().invoke(cli, ["ingest", str(day), "--db", str(db)])
    assert ingested.exit_code == 0 and "scored 1 stored forecast(s)" in ingested.output, ingested.output
    app = create_app({"db": str(db), "worker": False})
    client = app.test_client()
    _, secret = app.extensions["capacity"].store.tokens.create_token(["write"], "test")
    auth = {"Authorization": f"Bearer {secret}"}
    rest = client.post(
        "/api/v1/series/shop/cpu/samples", json=columns_body(full.iloc[24 * 17 :]), headers=auth
    )
    assert rest.status_code == 200

    out = tmp_path / "acc.json"
    result = CliRunner().invoke(cli, ["accuracy", "shop", "cpu", "--db", str(db), "--json", str(out)])
    assert result.exit_code == 0, result.output
    (record,) = json.loads(out.read_text())
    api = client.get("/api/v1/series/shop/cpu/accuracy", headers=auth).get_json()
    assert record == api
    live = record["live"]
    assert live["runs_scored"] == live["runs_complete"] == 1 and live["scored_steps"] == 48
    assert 0 < live["mase"] < 1.0 and 0.5 <= live["coverage_95"] <= 1.0
    assert record["backtest"]["model"] and record["backtest"]["scores"]["mase"] > 0
    assert "shop" in result.output


def test_unknown_series_is_a_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["accuracy", "nope", "--db", str(tmp_path / "x.db"), "--create"])
    assert result.exit_code == 2 and "nope" in result.output
