"""``capacity bench breach`` runs on a tiny folder and writes the documented JSON shape."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from capacity.bench.breach import (
    auc,
    from_line,
    last_week_answer,
    predict_linear_answer,
    summarize,
    truth,
)
from capacity.cli import cli
from capacity.risk.assess import RiskSettings


def write_series(folder: Path, name: str, days: int, trend: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-03-01", periods=days * 24 * 2, freq="30min", tz="UTC")
    hours = np.arange(len(ts)) / 2
    value = 50 + 10 * np.sin(hours / 24 * 2 * np.pi) + trend * hours / 24 + rng.normal(0, 1, len(ts))
    pd.DataFrame({"timestamp": ts.strftime("%Y-%m-%d %H:%M:%S"), "value": value}).to_csv(
        folder / f"{name}.csv", index=False
    )


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    write_series(tmp_path, "rising", 24, trend=2.0, seed=1)
    write_series(tmp_path, "flat", 24, trend=0.0, seed=2)
    write_series(tmp_path, "short", 3, trend=0.0, seed=3)
    return tmp_path


def test_bench_breach_runs_and_writes_the_json_shape(folder: Path, tmp_path: Path):
    out, md = tmp_path / "breach.json", tmp_path / "breach.md"
    result = CliRunner().invoke(
        cli,
        [
            "bench", "breach", "--data", str(folder), "--horizon", "1d", "--folds", "2", "--agg", "max",
            "--methods", "capacity,predict_linear,last_week_peak,prophet", "--json", str(out), "--markdown", str(md),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert set(data) == {"config", "summary", "cases"}
    assert "short" in data["config"]["skipped"]
    methods = [m for m in ("capacity", "predict_linear", "last_week_peak", "prophet") if m in data["summary"]]
    assert methods[:3] == ["capacity", "predict_linear", "last_week_peak"]
    for m in methods:
        assert set(data["summary"][m]) == {
            "cases", "positives", "brier", "precision", "recall", "f1", "first_breach_error_hours_median", "auc",
        }  # fmt: skip
        assert data["summary"][m]["cases"] == 2 * 2 * 3  # 2 series x 2 folds x 3 levels
    for case in data["cases"]:
        assert set(case) == {"series", "fold", "level", "breached", *methods}
        assert all(0.0 <= case[m] <= 1.0 for m in methods)
    # A steadily rising series breaches 0.9x and 1.0x its recent max, and this engine rates it well above a flat one
    # (its past weeks, the seasonal analogs, did not reach those levels, which holds the blend near the paths'
    # weight, 1 - analog_weight).
    rising = [c for c in data["cases"] if c["series"] == "rising" and c["level"] <= 1.0]
    assert all(c["breached"] for c in rising)
    assert np.mean([c["capacity"] for c in rising]) > 0.75 * (1.0 - RiskSettings().analog_weight)

    def at_max(series: str) -> float:
        return float(
            np.mean([c["capacity"] for c in data["cases"] if c["series"] == series and c["level"] == 1.0])
        )

    assert at_max("rising") > at_max("flat") + 0.2
    assert "| capacity |" in md.read_text()


def test_reference_methods_on_hand_made_cases():
    train = pd.Series(
        np.r_[np.zeros(24 * 6), np.arange(24.0)], index=pd.date_range("2024-01-01", periods=24 * 7, freq="h")
    )
    p, first = predict_linear_answer(train, 24, 24)(30.0)  # the last day rises 1 per hour: reaches 30 at +7h
    assert p == 1.0 and first == 6
    assert predict_linear_answer(train, 24, 24)(100.0) == (0.0, None)
    assert last_week_answer(train, 24, 24)(23.0)[0] == 1.0
    assert last_week_answer(train, 24, 24)(23.5) == (0.0, None)
    assert from_line(np.array([1.0, 5.0, 9.0]))(5.0) == (1.0, 1)
    assert truth(np.array([1.0, 2.0, 3.0]), 2.0) == (True, 1)


def test_summary_counts_precision_recall_and_timing():
    cases = [
        {"series": "a", "breached": True, "m": 0.9, "_timing": {"_truth": 10, "m": 14}},
        {"series": "a", "breached": True, "m": 0.2, "_timing": {"_truth": 5, "m": None}},
        {"series": "a", "breached": False, "m": 0.7, "_timing": {"_truth": None, "m": 3}},
        {"series": "a", "breached": False, "m": 0.0, "_timing": {"_truth": None, "m": None}},
    ]
    s = summarize(cases, ["m"])["m"]
    assert s["cases"] == 4 and s["positives"] == 2
    assert s["precision"] == 0.5 and s["recall"] == 0.5 and s["f1"] == 0.5
    assert s["brier"] == pytest.approx((0.01 + 0.64 + 0.49 + 0.0) / 4, abs=1e-4)
    assert s["first_breach_error_hours_median"] == 4.0
    # breaches 0.9 and 0.2 against non-breaches 0.7 and 0.0: three of the four pairs are ordered right
    assert s["auc"] == 0.75


def test_auc_orders_and_ties():
    assert auc(np.array([0.9, 0.8, 0.1]), np.array([True, True, False])) == 1.0
    assert auc(np.array([0.5, 0.5]), np.array([True, False])) == 0.5
    assert auc(np.array([0.1, 0.9]), np.array([True, False])) == 0.0
    assert auc(np.array([0.3]), np.array([True])) is None


def test_bad_input_is_one_line(tmp_path: Path):
    result = CliRunner().invoke(
        cli, ["bench", "breach", "--data", str(tmp_path / "nope"), "--json", "x.json"]
    )
    assert result.exit_code == 2 and "does not exist" in result.output and "Traceback" not in result.output
