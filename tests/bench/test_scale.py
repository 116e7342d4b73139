"""``capacity bench scale`` runs on a tiny fleet and writes the JSON contract; the synthetic fleet has its cycles."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from capacity.bench.scale import summarize, synthetic_fleet
from capacity.errors import InvalidInput
from capacity.services.forecasting import SeriesOutcome

CONTRACT = {"series", "seconds_total", "series_per_second", "peak_memory_mb", "fallback_share", "failed"}


def test_synthetic_fleet_has_daily_and_weekly_cycles() -> None:
    fleet = synthetic_fleet(5, weeks=4, seed=3)
    assert list(fleet.columns) == ["service", "metric", "ts", "value"]
    assert len(fleet) == 5 * 4 * 168 and fleet["service"].nunique() == 5
    assert fleet["value"].between(0, 100).all()
    for _, part in fleet.groupby("service"):
        y = part["value"].to_numpy() - part["value"].mean()
        assert np.corrcoef(y[:-24], y[24:])[0, 1] > 0.5  # a day ago looks like now
        assert np.corrcoef(y[:-168], y[168:])[0, 1] > 0.5  # so does a week ago
    assert synthetic_fleet(5, 4, seed=3).equals(fleet)
    with pytest.raises(InvalidInput, match="series must be at least 1, got 0"):
        synthetic_fleet(0, 4)


def test_summary_counts_failures_fallbacks_and_sums_memory() -> None:
    outcomes = [
        SeriesOutcome("a", "cpu", True, "theta", False, seconds=1.0, cpu_seconds=0.5),
        SeriesOutcome("b", "cpu", True, "naive", True, seconds=3.0, cpu_seconds=1.5),
        SeriesOutcome("c", "cpu", False, error="boom", seconds=2.0, cpu_seconds=1.0),
    ]
    result = summarize(
        outcomes,
        seconds=2.0,
        process_peaks_mb={"parent": 100.0, "worker 1": 50.0},
        backend="local pool",
        workers=2,
        weeks=8,
        horizon_steps=336,
        ingest_seconds=0.5,
    )
    assert (result.series, result.failed, result.fallback_share) == (3, 1, 0.5)
    assert (result.series_per_second, result.peak_memory_mb, result.series_seconds_median) == (
        1.5,
        150.0,
        2.0,
    )


def test_bench_scale_runs_on_a_tiny_fleet_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "capacity.cli",
            "bench",
            "scale",
            "--series",
            "3",
            "--weeks",
            "2",
            "--horizon",
            "24h",
            "--workers",
            "2",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "series per second" in run.stdout and "peak memory (all processes)" in run.stdout
    result = json.loads(out.read_text())
    assert result.keys() >= CONTRACT
    assert result["series"] == 3 and result["failed"] == 0 and 0 <= result["fallback_share"] <= 1
    assert result["seconds_total"] > 0 and result["series_per_second"] > 0
    assert result["series_cpu_seconds_median"] > 0 and result["cpu_seconds_total"] > 0
    roles = [name.split()[0] for name in result["memory_by_process_mb"]]
    assert roles.count("parent") == 1 and roles.count("worker") == 2  # the pool's processes are counted too
    assert result["peak_memory_mb"] == pytest.approx(sum(result["memory_by_process_mb"].values()), abs=1)
