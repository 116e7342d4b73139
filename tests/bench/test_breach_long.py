"""The breach benchmark at four weeks and more: whole days, the folds a series has room for, the weekly-paths
probability beside the short-window blend, dev windows before the benchmark folds, and a forecast cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner

from capacity.bench import breach
from capacity.bench.accuracy import fold_cutoffs
from capacity.cli import cli
from capacity.forecast.types import ForecastResult

DAYS = 230
HORIZON = 30 * 24


def hourly(days: int = DAYS, seed: int = 4) -> pd.Series:
    """Hourly load with a daily cycle, a weekly one and a slow rise, ending mid-day (a partial last day)."""
    ts = pd.date_range("2024-01-01", periods=days * 24 + 13, freq="1h", tz="UTC")
    h = np.arange(len(ts), dtype="float64")
    rng = np.random.default_rng(seed)
    value = 100 + 15 * np.sin(2 * np.pi * h / 24) + 8 * np.sin(2 * np.pi * h / 168) + 0.01 * h
    return pd.Series(value + rng.normal(0, 3, len(ts)), index=ts)


def test_long_windows_use_whole_days_and_dev_windows_end_before_the_benchmark_folds() -> None:
    y = hourly()
    trained: dict[bool, list[pd.Timestamp]] = {True: [], False: []}

    def run(dev: bool, folds: int) -> list[dict]:  # type: ignore[type-arg]
        def forecast(name: str, train: pd.Series, horizon: int) -> ForecastResult:
            trained[dev].append(pd.Timestamp(train.index[-1]))
            return breach.default_forecast(name, train, horizon)

        cases, counts, reason = breach.evaluate_series(
            "s", y, horizon=HORIZON, folds=folds, methods=["capacity", "capacity_blend"], unavailable={},
            dev=dev, forecast=forecast,
        )  # fmt: skip
        assert reason is None and len(counts) == folds
        return cases

    whole = breach.whole_days(y)
    assert whole.index[-1].hour == 23 and len(whole) == DAYS * 24
    bench = run(dev=False, folds=2)
    assert sorted({c["fold"] for c in bench}) == [1, 2]
    assert all(0.0 <= c["capacity"] <= 1.0 and 0.0 <= c["capacity_blend"] <= 1.0 for c in bench)
    assert all(t.hour == 23 for t in trained[False])  # every cutoff at a day's end
    dev = run(dev=True, folds=2)
    first_bench_cut = whole.index[fold_cutoffs(len(whole), HORIZON, 2)[0]]
    assert dev and len(trained[True]) == 2
    assert all(t + pd.Timedelta(hours=HORIZON) < first_bench_cut for t in trained[True])


def test_the_cli_takes_a_csv_file_and_a_cache_that_gives_the_same_cases(tmp_path: Path) -> None:
    y = hourly()
    csv = tmp_path / "load.csv"
    pd.DataFrame({"timestamp": y.index.strftime("%Y-%m-%d %H:%M:%S"), "value": y.to_numpy()}).to_csv(
        csv, index=False
    )
    cache = tmp_path / "cache"
    outputs = []
    for k in range(2):
        out = tmp_path / f"long{k}.json"
        result = CliRunner().invoke(
            cli,
            [
                "bench", "breach", "--data", str(csv), "--horizon", "30d", "--folds", "12",
                "--methods", "capacity,capacity_blend", "--cache", str(cache), "--json", str(out),
            ],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        outputs.append(json.loads(out.read_text()))
    files = sorted(cache.glob("*.pkl"))
    assert len(files) == breach.max_folds(DAYS * 24, HORIZON, 12)
    assert outputs[0]["cases"] == outputs[1]["cases"]
    assert {"capacity", "capacity_blend", "climatology"} <= set(outputs[0]["summary"])
    assert outputs[0]["config"]["windows"] == "bench"
    # a series with room for fewer folds than asked keeps the latest ones, numbered to end at the last fold
    fits = breach.max_folds(DAYS * 24, HORIZON, 12)
    assert 1 <= fits < 12
    assert sorted({c["fold"] for c in outputs[0]["cases"]}) == list(range(13 - fits, 13))
