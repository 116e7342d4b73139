"""The forecast ledger on a real SQLite store: a stored run is scored as its actuals arrive (partial, then complete),
re-sending the same samples changes nothing, and the vectorised scoring of a p95 series equals a slow reference that
aggregates one step at a time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from capacity.config import SeriesConfig
from capacity.forecast.regularize import regularize
from capacity.forecast.types import ForecastResult, ForecastSpec
from capacity.schema import DEFAULT_QUANTILES, quantile_column
from capacity.services.accuracy import DRIFT_MIN_STEPS, drift, score_ingested, series_accuracy, summarize
from capacity.store import Store
from capacity.store.ledger import Score

SERVICE, METRIC = "shop", "cpu"
START = pd.Timestamp("2024-01-01", tz="UTC")
HISTORY_END = pd.Timestamp("2024-01-18 23:00", tz="UTC")  # the last hourly step the run saw
HORIZON = 48
STEP = pd.Timedelta(hours=1)


def five_minute_samples(days: int = 21, seed: int = 3) -> pd.DataFrame:
    """Raw 5-minute samples with a daily cycle, noise and a few short spikes (what p95 per hour summarizes)."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range(START, periods=days * 288, freq="5min", tz="UTC")
    hours = ((ts - START) / pd.Timedelta(hours=1)).to_numpy()
    value = 50 + 20 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 3, len(ts))
    value[rng.random(len(ts)) < 0.02] += 25  # short bursts inside some hours
    return pd.DataFrame({"service": SERVICE, "metric": METRIC, "ts": ts, "value": value})


def stored_run(store: Store, backtest_mase: float = 0.5) -> ForecastResult:
    """Save a run made at HISTORY_END: a daily-cycle mean with fixed-width quantiles."""
    ts = pd.date_range(HISTORY_END + STEP, periods=HORIZON, freq="1h", tz="UTC")
    hours = ((ts - START) / pd.Timedelta(hours=1)).to_numpy()
    mean = 52 + 18 * np.sin(2 * np.pi * hours / 24)
    frame = pd.DataFrame({"ts": ts, "mean": mean})
    for q in DEFAULT_QUANTILES:
        frame[quantile_column(q)] = mean + 8.0 * (q - 0.5) * 2
    result = ForecastResult(
        frame=frame,
        model="harmonic",
        scores={"mase": backtest_mase, "smape": 5.0, "wape": 0.05},
        diagnostics=(),
        paths=np.empty((0, HORIZON)),
        periods=(24,),
        history_end=HISTORY_END,
    )
    store.forecasts.save_forecast(SERVICE, METRIC, result, ForecastSpec(horizon=HORIZON, agg="p95"))
    return result


def reference(raw: pd.Series, frame: pd.DataFrame) -> dict[str, float]:
    """The scores computed slowly: each step's actuals picked out and aggregated on their own."""
    sampled = pd.Timedelta(minutes=5)
    newest = raw.index[-1]
    actual, forecast, lo80, hi80, lo95, hi95 = [], [], [], [], [], []
    for _, row in frame.iterrows():
        inside = raw[(raw.index >= row["ts"]) & (raw.index < row["ts"] + STEP)]
        if inside.empty or row["ts"] + STEP - sampled > newest:
            continue
        actual.append(float(np.percentile(inside.to_numpy(), 95)))
        forecast.append(row["mean"])
        lo80.append(row["q0.1"])
        hi80.append(row["q0.9"])
        lo95.append(row["q0.025"])
        hi95.append(row["q0.975"])
    a, f = np.array(actual), np.array(forecast)
    seen = raw[(raw.index > HISTORY_END - pd.Timedelta(days=28)) & (raw.index < HISTORY_END + STEP)]
    y = regularize(seen, "1h", "p95").values.to_numpy()
    scale = float(np.mean(np.abs(y[24:] - y[:-24])))
    return {
        "steps": len(a),
        "mase": float(np.mean(np.abs(a - f)) / scale),
        "mase_scale": scale,
        "smape": float(100 * np.mean(2 * np.abs(a - f) / (np.abs(a) + np.abs(f)))),
        "wape": float(np.sum(np.abs(a - f)) / np.sum(np.abs(a))),
        "coverage_80": float(np.mean((a >= np.array(lo80)) & (a <= np.array(hi80)))),
        "coverage_95": float(np.mean((a >= np.array(lo95)) & (a <= np.array(hi95)))),
    }


@pytest.fixture
def p95_store(store: Store) -> tuple[Store, pd.DataFrame]:
    samples = five_minute_samples()
    store.series.configure_series([SeriesConfig(SERVICE, METRIC, threshold=90.0, agg="p95")])
    store.series.ingest(samples[samples["ts"] < HISTORY_END + STEP])
    return store, samples


def test_a_run_is_scored_as_its_actuals_arrive_partial_then_complete(
    p95_store: tuple[Store, pd.DataFrame],
) -> None:
    store, samples = p95_store
    frame = stored_run(store).frame
    before = series_accuracy(store, SERVICE, METRIC)["live"]
    assert before["scored_steps"] == 0 and before["runs"][0]["complete"] is False
    assert before["runs"][0]["mase_scale"] > 0  # the scale of the history the run saw, found at first scoring

    first = samples[
        (samples["ts"] >= HISTORY_END + STEP) & (samples["ts"] < pd.Timestamp("2024-01-20 12:00", tz="UTC"))
    ]
    store.series.ingest(first)
    assert score_ingested(store, first) == 1
    partial = series_accuracy(store, SERVICE, METRIC)["live"]["runs"][0]
    assert partial["complete"] is False and partial["scored_steps"] == 36  # 2024-01-19 00:00 .. 01-20 11:00
    raw = store.series.load_history(SERVICE, METRIC)
    expected = reference(raw, frame)
    assert expected["steps"] == 36
    for key in ("mase", "mase_scale", "smape", "wape", "coverage_80", "coverage_95"):
        assert partial[key] == pytest.approx(expected[key], abs=1e-6), key

    rest = samples[samples["ts"] >= pd.Timestamp("2024-01-20 12:00", tz="UTC")]
    store.series.ingest(rest)
    assert score_ingested(store, rest) == 1
    done = series_accuracy(store, SERVICE, METRIC)
    run = done["live"]["runs"][0]
    assert run["complete"] is True and run["scored_steps"] == HORIZON
    expected = reference(store.series.load_history(SERVICE, METRIC), frame)
    for key in ("mase", "smape", "wape", "coverage_80", "coverage_95"):
        assert run[key] == pytest.approx(expected[key], abs=1e-6), key
    assert run["mase_scale"] == partial["mase_scale"]  # kept from the first scoring
    assert done["live"]["mase"] == pytest.approx(run["mase"], abs=1e-6) and done["live"]["runs_complete"] == 1


def test_re_sending_the_same_samples_changes_nothing(p95_store: tuple[Store, pd.DataFrame]) -> None:
    store, samples = p95_store
    stored_run(store)
    later = samples[samples["ts"] >= HISTORY_END + STEP]
    store.series.ingest(later)
    score_ingested(store, later)
    first = series_accuracy(store, SERVICE, METRIC)
    store.series.ingest(later)  # the same rows again: no sample changes, so the data version stays
    assert score_ingested(store, later) == 0
    assert series_accuracy(store, SERVICE, METRIC) == first


def test_a_correction_inside_a_complete_runs_window_rescores_it(
    p95_store: tuple[Store, pd.DataFrame],
) -> None:
    store, samples = p95_store
    stored_run(store)
    later = samples[samples["ts"] >= HISTORY_END + STEP]
    store.series.ingest(later)
    score_ingested(store, later)
    good = series_accuracy(store, SERVICE, METRIC)["live"]
    fixed = later.iloc[:60].assign(value=later["value"].iloc[:60] + 40.0)  # the first five hours were wrong
    store.series.ingest(fixed)
    assert score_ingested(store, fixed) == 1
    worse = series_accuracy(store, SERVICE, METRIC)["live"]
    assert worse["mase"] > good["mase"] and worse["runs"][0]["complete"] is True


def test_a_run_stored_before_the_ledger_is_scored_on_first_read(
    p95_store: tuple[Store, pd.DataFrame],
) -> None:
    store, samples = p95_store
    stored_run(store)
    store.series.ingest(
        samples[samples["ts"] >= HISTORY_END + STEP]
    )  # straight into the store: nothing scored
    assert store.ledger.read(SERVICE, METRIC, 20).entries == []
    live = series_accuracy(store, SERVICE, METRIC)["live"]
    assert live["scored_steps"] == HORIZON and live["runs"][0]["complete"] is True
    assert len(store.ledger.read(SERVICE, METRIC, 20).entries) == 1  # stored: the next read is a read


def _score(steps: int, mase: float | None, backtest: float | None, **kw: float) -> Score:
    return Score(
        run_id=steps,
        window_end=START,
        horizon=48,
        steps=steps,
        complete=True,
        mase=mase,
        backtest_mase=backtest,
        **kw,
    )


def test_the_series_summary_weights_runs_by_steps_and_drift_needs_a_day_of_evidence() -> None:
    scores = [
        _score(30, 1.0, 0.5, smape=10.0, abs_error=30.0, abs_actual=300.0),
        _score(10, 3.0, 1.5, smape=20.0, abs_error=50.0, abs_actual=100.0),
        _score(5, None, None, smape=40.0, abs_error=5.0, abs_actual=100.0),  # no scale: no MASE
        _score(0, None, 0.5),  # nothing scored yet
    ]
    summary = summarize(scores)
    assert summary["live_runs"] == 3 and summary["live_steps"] == 45
    assert summary["live_mase"] == pytest.approx((30 * 1.0 + 10 * 3.0) / 40)
    assert summary["live_backtest_mase"] == pytest.approx((30 * 0.5 + 10 * 1.5) / 40)
    assert summary["live_smape"] == pytest.approx((300 + 200 + 200) / 45)
    assert summary["live_wape"] == pytest.approx(85 / 500)
    assert drift(summary, 1.2) is True and drift(summary, 2.0) is False
    assert drift(summarize([_score(DRIFT_MIN_STEPS - 1, 9.0, 0.5)])) is False  # too little evidence yet
    assert drift(summarize([_score(DRIFT_MIN_STEPS, 9.0, 0.5)])) is True
