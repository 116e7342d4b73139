"""The accuracy benchmark runs end to end on two tiny series (its speed is not tested) and keeps its JSON shape."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from capacity.bench import accuracy as bench
from capacity.bench.peers import PEERS
from capacity.cli import cli
from capacity.errors import PeerUnavailable

METHODS = ("capacity", "seasonal_naive", "prophet", "statsforecast_autoets", "statsforecast_mstl")
METRICS = {"mase", "smape", "spl", "coverage_80", "coverage_95", "peak_ape", "peak_apes", "seconds"}


def write_series(folder: Path, name: str, days: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-01-01", periods=days * 24 * 2, freq="30min")  # half-hourly: resampled to 1h
    t = np.arange(len(ts)) / 2.0
    value = 40 + 10 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 1, len(ts))
    pd.DataFrame({"timestamp": ts.strftime("%Y-%m-%d %H:%M:%S"), "value": value}).to_csv(
        folder / f"{name}.csv", index=False
    )


def test_cli_runs_end_to_end_on_two_tiny_series(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_series(data, "alpha", days=6, seed=1)
    write_series(data, "beta", days=6, seed=2)
    write_series(data, "short", days=2, seed=3)
    out, md = tmp_path / "acc.json", tmp_path / "acc.md"
    result = CliRunner().invoke(
        cli,
        ["bench", "accuracy", "--data", str(data), "--horizon", "24h", "--folds", "2",
         "--peers", "prophet,statsforecast", "--json", str(out), "--markdown", str(md)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert set(doc) == {"config", "series", "summary"}
    by_name = {s["name"]: s for s in doc["series"]}
    assert "under 3 horizons" in by_name["short"]["skipped"]
    for name in ("alpha", "beta"):
        entry = by_name[name]
        assert entry["skipped"] is None and set(entry["methods"]) == set(METHODS)
        for metrics in entry["methods"].values():
            assert set(metrics) == METRICS
            assert 0.0 <= metrics["coverage_80"] <= metrics["coverage_95"] + 1.0
    for method in METHODS:
        s = doc["summary"][method]
        assert s["series"] == 2
        assert set(s["relative_mase_gmean"]) == set(METHODS) - {method}
        assert s["mase_gmean"] > 0 and s["seconds_total"] >= s["seconds_median"] > 0
    assert doc["summary"]["capacity"]["mase_gmean"] < 1.0  # a clean daily wave is easy
    assert "| capacity |" in md.read_text()
    assert "cmdstanpy" not in result.output and "plotly" not in result.output  # Prophet is silenced


def test_daily_peaks_a_month_ahead_run_for_every_method_with_the_peak_shares(tmp_path: Path) -> None:
    """Daily peaks (--freq 1d --agg max) at a four-week horizon: every peer gets seasons that fit a daily step
    (MSTL used to get a season of 1 and crash), and the summary gains the shares of windows whose peak is within
    10% and 20%."""
    data = tmp_path / "daily"
    data.mkdir()
    for name, seed in (("alpha", 1), ("beta", 2)):
        rng = np.random.default_rng(seed)
        ts = pd.date_range("2024-01-01", periods=175 * 24, freq="1h")
        day = np.arange(len(ts)) // 24
        value = (
            50 + 8 * (pd.DatetimeIndex(ts).dayofweek < 5) + 10 * np.sin(2 * np.pi * np.arange(len(ts)) / 24)
        )
        value = value + 0.05 * day + rng.normal(0, 1, len(ts))
        frame = pd.DataFrame({"timestamp": ts.strftime("%Y-%m-%d %H:%M:%S"), "value": value})
        frame.to_csv(data / f"{name}.csv", index=False)
    extra = tmp_path / "gamma.csv"  # --data also takes a single file, and repeats
    (data / "alpha.csv").rename(extra)
    out = tmp_path / "daily.json"
    result = CliRunner().invoke(
        cli,
        ["bench", "accuracy", "--data", str(data), "--data", str(extra), "--horizon", "28d", "--freq", "1d",
         "--agg", "max", "--folds", "3", "--peers", "prophet,statsforecast", "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["config"]["agg"] == "max" and doc["config"]["horizon_steps"] == 28
    for entry in doc["series"]:
        assert entry["skipped"] is None and set(entry["methods"]) == set(METHODS), entry
        for metrics in entry["methods"].values():
            assert "error" not in metrics and set(metrics) == METRICS
            assert len(metrics["peak_apes"]) == 3 and all(a >= 0 for a in metrics["peak_apes"])
    for method in METHODS:
        s = doc["summary"][method]
        assert s["series"] == 2
        assert 0.0 <= s["peak_within_10"] <= s["peak_within_20"] <= 1.0
        apes = [a for e in doc["series"] for a in e["methods"][method]["peak_apes"]]
        assert s["peak_within_20"] == pytest.approx(np.mean(np.array(apes) <= 0.2))
    assert "peak ±10%" in result.output


def test_missing_peer_is_reported_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable(*args: object) -> object:
        raise PeerUnavailable("prophet is not installed")

    monkeypatch.setitem(PEERS, "prophet", unavailable)
    t = pd.date_range("2024-01-01", periods=24 * 6, freq="1h", tz="UTC")
    y = pd.Series(10 + np.sin(np.arange(len(t)) * 2 * np.pi / 24), index=t)
    doc = bench.run_accuracy(
        {"one": y}, horizon=24, folds=2, methods=["capacity", "seasonal_naive", "prophet"]
    )
    assert doc["series"][0]["methods"]["prophet"] == {"error": "prophet is not installed"}
    assert doc["summary"]["capacity"]["series"] == 0  # the summary covers series on which every method ran


def test_fold_cutoffs_follow_the_protocol() -> None:
    assert bench.fold_cutoffs(100, 10, 3) == [70, 80, 90]


def test_unknown_peer_is_a_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["bench", "accuracy", "--data", str(tmp_path), "--peers", "nope"])
    assert result.exit_code == 2
    assert "nope" in result.output or "nope" in (result.stderr if result.stderr_bytes else "")
