"""``capacity bench events`` runs on a tiny folder and calendar and writes the documented JSON shape."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner

from capacity.bench.events import cases_for
from capacity.cli import cli
from capacity.events.calendar import parse_events_csv

START = pd.Timestamp("2024-01-01", tz="UTC")
SALE_DAYS = (30, 58, 86, 114)


def write_fixture(folder: Path) -> Path:
    rng = np.random.default_rng(5)
    ts = pd.date_range(START, periods=20 * 7 * 24, freq="h")
    value = 100 + 30 * np.sin((ts.hour.to_numpy() - 6) / 24 * 2 * np.pi) + rng.normal(0, 2, len(ts))
    for d in SALE_DAYS:
        day = START + pd.Timedelta(days=d)
        value[(ts >= day) & (ts < day + pd.Timedelta(days=1))] *= 1.8
    data = folder / "data"
    data.mkdir()
    pd.DataFrame({"timestamp": ts.strftime("%Y-%m-%d %H:%M:%S"), "value": value}).to_csv(
        data / "shop.csv", index=False
    )
    lines = ["event,start,end"] + [
        f"Sale,{(START + pd.Timedelta(days=d)):%Y-%m-%d} 00:00:00,{(START + pd.Timedelta(days=d)):%Y-%m-%d} 23:59:00"
        for d in SALE_DAYS
    ]
    (folder / "events.csv").write_text("\n".join(lines) + "\n")
    return data


def test_bench_events_runs_and_the_uplift_helps(tmp_path: Path):
    data = write_fixture(tmp_path)
    out = tmp_path / "events.json"
    result = CliRunner().invoke(
        cli,
        [
            "bench", "events", "--data", str(data), "--events", str(tmp_path / "events.csv"), "--lead", "2d",
            "--json", str(out), "--markdown", str(tmp_path / "events.md"),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert set(payload) == {"config", "summary", "summary_by_series", "occurrences"}
    methods = [
        m
        for m in ("capacity_events", "capacity_plain", "seasonal_naive", "prophet_holidays")
        if m in payload["summary"]
    ]
    assert methods[:3] == ["capacity_events", "capacity_plain", "seasonal_naive"]
    for m in methods:
        assert set(payload["summary"][m]) == {
            "occurrences",
            "peak_ape_median",
            "peak_ape_mean",
            "peak_ape_median_paths",
            "peak_ape_mean_paths",
        }
    assert set(payload["summary_by_series"]) == {"shop"}
    assert payload["summary_by_series"]["shop"]["capacity_events"]["occurrences"] == 3
    # Only the occurrences with an earlier one and at least 56 days of training: days 58, 86 and 114.
    assert [o["start"][:10] for o in payload["occurrences"]] == ["2024-02-28", "2024-03-27", "2024-04-24"]
    for occ in payload["occurrences"]:
        assert set(occ) == {
            "series",
            "event",
            "start",
            "actual_peak",
            *methods,
            *(f"{m}_paths" for m in methods),
        }
        # Seasonal naive's one trajectory is its only path: both rules give the same peak.
        assert occ["seasonal_naive"] == occ["seasonal_naive_paths"]
    summary = payload["summary"]
    for rule in ("peak_ape_median", "peak_ape_median_paths"):
        assert summary["capacity_events"][rule] < 15.0
        assert summary["capacity_events"][rule] < summary["capacity_plain"][rule] / 2
    table = (tmp_path / "events.md").read_text()
    assert "max of the point forecast" in table and "| shop |" in table


def test_cases_need_an_earlier_occurrence_in_training():
    idx = pd.date_range(START, periods=200 * 24, freq="h")
    y = pd.Series(1.0, index=idx)
    calendar = parse_events_csv(
        "event,start,end\nA,2024-03-01,2024-03-01\nA,2024-05-01,2024-05-01\nB,2024-05-10,2024-05-10\n"
    )
    picked = cases_for(y, calendar, lead=24)
    assert [(o.name, f"{o.start:%m-%d}") for o, _, _ in picked] == [("A", "05-01")]
    occ, cutoff, first = picked[0]
    assert idx[cutoff] == occ.start - pd.Timedelta(hours=24) and first == 0
