"""``capacity bench breach`` runs on tiny folders, writes the documented JSON shape, the tables and the figure; its
references and scores are right on hand-made cases."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from capacity.bench.breach import (
    capacity_answers,
    from_line,
    last_week_answer,
    predict_linear_answer,
    run_breach,
    truth,
)
from capacity.bench.breach_fit import FitCase, fit_cutoffs, fit_model
from capacity.bench.breach_refs import WindowCounts, climatology, record_rate, window_counts
from capacity.bench.breach_score import auc, reliability, summarize
from capacity.cli import cli
from capacity.risk.crossing import seasonal_analogs
from capacity.risk.probability import DEFAULT_MODEL, MIN_ANALOGS, RecentProfile, breach_curve
from tests.support.data import SHARED_DATA

SCORES = {
    "cases", "positives", "brier", "brier_skill", "auc", "precision", "recall", "f1", "precision_at_risk",
    "recall_at_risk", "first_breach_error_hours_median", "levels", "reliability",
}  # fmt: skip


def write_series(folder: Path, name: str, days: int, trend: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-03-01", periods=days * 24 * 2, freq="30min", tz="UTC")
    hours = np.arange(len(ts)) / 2
    value = 50 + 10 * np.sin(hours / 24 * 2 * np.pi) + trend * hours / 24 + rng.normal(0, 1, len(ts))
    pd.DataFrame({"timestamp": ts.strftime("%Y-%m-%d %H:%M:%S"), "value": value}).to_csv(
        folder / f"{name}.csv", index=False
    )


@pytest.fixture()
def folders(tmp_path: Path) -> tuple[Path, Path]:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    write_series(one, "rising", 50, trend=2.0, seed=1)
    write_series(one, "short", 3, trend=0.0, seed=3)
    write_series(two, "flat", 50, trend=0.0, seed=2)
    return one, two


def run_cli(*args: str) -> object:
    return CliRunner().invoke(cli, ["bench", "breach", *args])


def test_bench_breach_pools_folders_and_writes_the_json_shape_tables_and_figure(folders, tmp_path: Path):
    one, two = folders
    out, md, png = tmp_path / "breach.json", tmp_path / "breach.md", tmp_path / "reliability.png"
    result = CliRunner().invoke(
        cli,
        [
            "bench", "breach", "--data", str(one), "--data", str(two), "--horizon", "7d", "--folds", "2",
            "--agg", "max", "--methods", "capacity,predict_linear,last_week_peak", "--json", str(out),
            "--markdown", str(md), "--figure", str(png),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert set(data) == {"config", "summary", "by_folder", "cases"}
    assert "short" in data["config"]["skipped"]
    assert data["config"]["data"] == [str(one), str(two)]
    assert data["config"]["roles"] == {str(one): "shipped constants", str(two): "shipped constants"}
    methods = ["capacity", "climatology", "record_rate", "predict_linear", "last_week_peak"]
    assert list(data["summary"]) == methods
    for m in methods:
        s = data["summary"][m]
        assert set(s) == SCORES
        assert s["cases"] == 2 * 2 * 3  # 2 series x 2 folds x 3 levels
        assert set(s["levels"]) == {"0.9", "1", "1.1"}
        assert len(s["reliability"]) == 10 and sum(r["cases"] for r in s["reliability"]) == s["cases"]
    assert data["summary"]["climatology"]["brier_skill"] == 0.0
    assert set(data["by_folder"]) == {str(one), str(two)}
    for case in data["cases"]:
        assert set(case) == {"series", "fold", "level", "breached", "folder", *methods}
        assert case["folder"] == str(one if case["series"] == "rising" else two)
        assert all(0.0 <= case[m] <= 1.0 for m in methods)
    # A steadily rising series breaches 0.9x and 1.0x its recent max, and this engine rates it above a flat one.
    rising = [c for c in data["cases"] if c["series"] == "rising" and c["level"] <= 1.0]
    assert all(c["breached"] for c in rising)

    def at_max(series: str) -> float:
        return float(
            np.mean([c["capacity"] for c in data["cases"] if c["series"] == series and c["level"] == 1.0])
        )

    assert at_max("rising") > at_max("flat") + 0.2
    text = md.read_text()
    assert "| capacity |" in text and "Reliability" in text and "Per folder" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fit_on_refits_the_model_and_marks_each_folder_held_out_or_fitted_on(folders, tmp_path: Path):
    _, two = folders
    fit = tmp_path / "fit"
    fit.mkdir()
    write_series(fit, "a", 70, trend=0.5, seed=4)  # 6 weekly fitting origins each (28 days of history first)
    write_series(fit, "b", 70, trend=0.0, seed=5)
    out, md = tmp_path / "held.json", tmp_path / "held.md"
    result = run_cli(
        "--data", str(two), "--data", str(fit), "--fit-on", str(fit), "--folds", "1", "--methods", "capacity",
        "--json", str(out), "--markdown", str(md), "--figure", str(tmp_path / "held.png"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["config"]["fit_on"] == [str(fit)]
    assert data["config"]["roles"] == {str(two): "held out", str(fit): "fitted on"}
    model = data["config"]["breach_model"]
    assert min(model["location"][1:]) >= 0 and model["paths"][1] >= 0 and model["paths"][2] <= 0
    assert model != asdict(DEFAULT_MODEL)
    assert set(data["by_folder"]) == {str(two), str(fit)}
    # The held-out scores pool the held-out folders' cases only (here: the one folder not fitted on).
    assert data["held_out"]["capacity"] == data["by_folder"][str(two)]["capacity"]
    assert data["held_out"]["capacity"]["cases"] < data["summary"]["capacity"]["cases"]
    text = md.read_text()
    assert "mixes held-out and fitted-on series" in text
    assert f"| {two} | held out | capacity |" in text and f"| {fit} | fitted on | capacity |" in text


def test_fit_on_every_scored_folder_is_refused(folders, tmp_path: Path):
    one, _ = folders
    result = run_cli("--data", str(one), "--fit-on", str(one), "--json", str(tmp_path / "x.json"))
    assert result.exit_code != 0 and "held-out" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x.json").exists()


def test_the_same_series_name_in_two_folders_is_refused(folders, tmp_path: Path):
    one, two = folders
    write_series(two, "rising", 5, trend=0.0, seed=9)
    result = run_cli("--data", str(one), "--data", str(two), "--json", str(tmp_path / "x.json"))
    assert result.exit_code != 0 and "'rising'" in result.output and "Traceback" not in result.output


def test_folds_go_up_to_twelve(folders, tmp_path: Path):
    one, _ = folders
    assert run_cli("--data", str(one), "--folds", "13", "--json", str(tmp_path / "x.json")).exit_code == 2


def test_window_counts_by_hand():
    # windows of 2 steps with the 2 steps before them as reference, stepped by 1 back from the end:
    #   start 4: ahead max(3.0, 1) = 3.0 vs before max(2, 1) = 2  -> reaches 0.9x, 1.0x, 1.1x
    #   start 3: ahead max(1, 3.0) = 3.0 vs before max(1, 2) = 2   -> reaches all three
    #   start 2: ahead max(2, 1) = 2     vs before max(4, 1) = 4   -> reaches none
    y = np.array([4.0, 1.0, 2.0, 1.0, 3.0, 1.0])
    assert window_counts(y, 2, 2, 1, (0.9, 1.0, 1.1)) == WindowCounts((2, 2, 2), 3)
    #   with 2.1 at the end instead: start 4 ahead 2.1 vs 2 -> 0.9x and 1.0x only (2.1 < 2.2)
    y2 = np.array([4.0, 1.0, 2.0, 1.0, 2.1, 1.0])
    assert window_counts(y2, 2, 2, 1, (0.9, 1.0, 1.1)) == WindowCounts((2, 2, 0), 3)
    # stepped by 2: starts 4 and 2 only
    assert window_counts(y2, 2, 2, 2, (1.0,)) == WindowCounts((1,), 2)
    # too short for one window
    assert window_counts(y[:3], 2, 2, 1, (1.0,)) == WindowCounts((0,), 0)


def test_climatology_pools_windows_over_series_and_record_rate_falls_back_to_it():
    counts = {
        "a": [WindowCounts((3, 1), 4), WindowCounts((4, 2), 5)],
        "b": [WindowCounts((1, 0), 6), WindowCounts((0, 0), 0)],
    }
    shares = climatology(counts, (0.9, 1.1))
    assert shares[0] == [pytest.approx(4 / 10), pytest.approx(1 / 10)]
    assert shares[1] == [pytest.approx(4 / 5), pytest.approx(2 / 5)]
    assert record_rate(counts["a"][0], 1, 0.33) == pytest.approx(1 / 4)
    assert record_rate(counts["b"][1], 0, 0.8) == 0.8


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


def test_scores_by_hand():
    cases = [
        {"level": 0.9, "breached": True, "m": 0.9, "climatology": 0.5, "_timing": {"_truth": 10, "m": 14}},
        {"level": 0.9, "breached": True, "m": 0.2, "climatology": 0.5, "_timing": {"_truth": 5, "m": None}},
        {"level": 1.1, "breached": False, "m": 0.7, "climatology": 0.5, "_timing": {"_truth": None, "m": 3}},
        {
            "level": 1.1,
            "breached": False,
            "m": 0.0,
            "climatology": 0.5,
            "_timing": {"_truth": None, "m": None},
        },
    ]
    s = summarize(cases, ["m", "climatology"], (0.9, 1.1), at_risk=0.1)["m"]
    assert s["cases"] == 4 and s["positives"] == 2
    assert s["precision"] == 0.5 and s["recall"] == 0.5 and s["f1"] == 0.5
    assert s["precision_at_risk"] == pytest.approx(2 / 3, abs=1e-4) and s["recall_at_risk"] == 1.0
    brier = (0.01 + 0.64 + 0.49 + 0.0) / 4
    assert s["brier"] == pytest.approx(brier, abs=1e-4)
    assert s["brier_skill"] == pytest.approx(1 - brier / 0.25, abs=1e-4)
    assert s["first_breach_error_hours_median"] == 4.0
    assert s["auc"] == 0.75  # three of the four breach/non-breach pairs are ordered right
    assert s["levels"]["0.9"] == {"cases": 2, "mean_probability": 0.55, "observed_rate": 1.0}
    assert s["levels"]["1.1"] == {"cases": 2, "mean_probability": 0.35, "observed_rate": 0.0}


def test_reliability_bins():
    p = np.array([0.0, 0.05, 0.15, 0.95, 1.0])
    o = np.array([False, True, False, True, True])
    bins = reliability(p, o)
    assert [b["cases"] for b in bins] == [2, 1, 0, 0, 0, 0, 0, 0, 0, 2]
    assert bins[0]["mean_probability"] == 0.025 and bins[0]["observed_rate"] == 0.5
    assert bins[2]["mean_probability"] is None
    assert bins[9]["observed_rate"] == 1.0


def test_auc_orders_and_ties():
    assert auc(np.array([0.9, 0.8, 0.1]), np.array([True, True, False])) == 1.0
    assert auc(np.array([0.5, 0.5]), np.array([True, False])) == 0.5
    assert auc(np.array([0.1, 0.9]), np.array([True, False])) == 0.0
    assert auc(np.array([0.3]), np.array([True])) is None


def test_fit_cutoffs_leave_a_month_of_history_and_cap_the_origins():
    assert fit_cutoffs(24 * 42, 168, 24) == [672, 840]  # 6 weeks: the week after each cutoff observed
    many = fit_cutoffs(24 * 7 * 300, 168, 24)
    assert len(many) == 40 and many[-1] == 24 * 7 * 299 and many[0] >= 672


def test_fit_model_recovers_a_monotone_model_from_synthetic_cases():
    rng = np.random.default_rng(0)
    cases = []
    for i in range(60):
        level = rng.uniform(0.7, 1.0)  # how high this series' weeks typically reach, relative to its peak
        analogs = np.full((6, 24), 100.0 * level) * rng.uniform(0.95, 1.05, (6, 1))
        ahead = 100.0 * level * math.exp(rng.normal(0, 0.05))
        paths = 100.0 * level * np.exp(rng.normal(0, 0.1, (50, 24)))
        profile = RecentProfile(100.0, 0.2, math.log(0.05))
        cases.append(FitCase(f"s{i}", profile, analogs, paths, ahead))
    model = fit_model(cases, (0.9, 1.0, 1.1))
    assert min(model.location[1:]) >= 0 and model.paths[1] >= 0 and model.paths[2] <= 0
    assert 0.0 <= model.history_weight <= 1.0
    # the history tracks the series: a series whose weeks reach 0.95 is likelier to reach 0.9 than one at 0.75
    high = breach_curve(cases[0].paths, np.full((6, 24), 95.0), cases[0].profile, 90.0, model)[-1]
    low = breach_curve(cases[0].paths, np.full((6, 24), 75.0), cases[0].profile, 90.0, model)[-1]
    assert high > low + 0.3


def test_bad_input_is_one_line(tmp_path: Path):
    result = run_cli("--data", str(tmp_path / "nope"), "--json", "x.json")
    assert result.exit_code == 2 and "does not exist" in result.output and "Traceback" not in result.output


def hourly(days: int, seed: int, trend: float = 0.0) -> pd.Series:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-03-01", periods=days * 24, freq="h", tz="UTC")
    hours = np.arange(len(ts), dtype="float64")
    value = 50 + 10 * np.sin(hours / 24 * 2 * np.pi) + trend * hours / 24 + rng.normal(0, 2, len(ts))
    return pd.Series(value, index=ts)


def test_nothing_after_a_cutoff_reaches_any_method_or_reference():
    """Rewrite everything after the last cutoff of one series (its last test window): every probability of every
    method, the references included, stays the same on every case; only the outcomes change."""
    methods = ["capacity", "predict_linear", "last_week_peak"]
    horizon, folds = 168, 2
    a, b = hourly(40, seed=11, trend=0.5), hourly(40, seed=12)
    changed = a.copy()
    changed.iloc[-horizon:] = 10 * a.max()  # the last window now breaches every level
    before = run_breach({"a": a, "b": b}, horizon=horizon, folds=folds, methods=methods)
    after = run_breach({"a": changed, "b": b}, horizon=horizon, folds=folds, methods=methods)
    every = [*methods, "climatology", "record_rate"]
    assert len(before["cases"]) == len(after["cases"]) == 2 * folds * 3
    for old, new in zip(before["cases"], after["cases"], strict=True):
        assert {m: old[m] for m in every} == {m: new[m] for m in every}
        if old["series"] == "a" and old["fold"] == folds:
            assert new["breached"]
    assert not all(c["breached"] for c in before["cases"] if c["series"] == "a" and c["fold"] == folds)


def test_real_series_from_the_shared_data(tmp_path: Path):
    """Two real series (one of real/, one of real-vms/), one fold: the documented shape, probabilities in [0, 1]
    that never rise with the threshold level, and every reference scored."""
    picks = [SHARED_DATA / "real" / "nab-nyc_taxi.csv", SHARED_DATA / "real-vms" / "bitbrains-vm226-cpu.csv"]
    missing = [str(p) for p in picks if not p.exists()]
    if missing:
        pytest.skip(f"{missing[0]} is absent (the shared benchmark data is not on this machine)")
    folders = []
    for i, path in enumerate(picks):  # link, never copy, the shared data
        folder = tmp_path / f"d{i}"
        folder.mkdir()
        (folder / path.name).symlink_to(path)
        folders += ["--data", str(folder)]
    out = tmp_path / "real.json"
    result = run_cli(
        *folders, "--horizon", "7d", "--folds", "1", "--agg", "max", "--methods", "capacity,last_week_peak",
        "--json", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    methods = ["capacity", "climatology", "record_rate", "last_week_peak"]
    assert list(data["summary"]) == methods
    assert {c["series"] for c in data["cases"]} == {"nab-nyc_taxi", "bitbrains-vm226-cpu"}
    for m in methods:
        assert set(data["summary"][m]) == SCORES
        assert {"brier", "auc", "precision", "recall", "brier_skill"} <= set(data["summary"][m])
    for series in ("nab-nyc_taxi", "bitbrains-vm226-cpu"):
        rows = sorted((c for c in data["cases"] if c["series"] == series), key=lambda c: c["level"])
        assert [c["level"] for c in rows] == [0.9, 1.0, 1.1]
        for m in methods:
            p = [c[m] for c in rows]
            assert all(0.0 <= v <= 1.0 for v in p) and p[0] >= p[1] >= p[2], (series, m, p)


def test_a_short_history_falls_back_to_the_crossing_paths_and_stays_sane():
    """Ten days: too few past weeks for the history model (under MIN_ANALOGS analogs), so the engine's own paths
    decide; far below the recent peak is near certain, far above it near impossible, and never rising with it."""
    train = hourly(10, seed=21)
    ahead = pd.date_range(train.index[-1] + pd.Timedelta(hours=1), periods=48, freq="h")
    analogs = seasonal_analogs(train, ahead, count=12)
    assert analogs is None or len(analogs) < MIN_ANALOGS
    answer = capacity_answers(train, 48)["capacity"]
    peak = float(train.max())
    p = [answer(level * peak)[0] for level in (0.5, 0.9, 1.0, 1.1, 2.0)]
    assert all(0.0 <= v <= 1.0 for v in p)
    assert all(a >= b for a, b in itertools.pairwise(p))
    assert p[0] > 0.9 and p[-1] < 0.1
