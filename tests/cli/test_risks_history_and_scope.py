"""The risk table as a user meets it on their own exports: short histories, service-scoped events, percent metrics
past 100 (``capacity`` CLI on a real SQLite file; the API serves the same rows)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from click.testing import CliRunner, Result

from capacity.cli import cli
from tests.support.api import make_api

END = pd.Timestamp("2026-03-02", tz="UTC")  # a Monday


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def write_series(path: Path, days: float, *, level: float = 50.0, amp: float = 20.0, seed: int = 3) -> Path:
    """An hourly daily cycle (peak at 14:00) of ``days`` days ending at END, as a timestamp,value export."""
    rng = np.random.default_rng(seed)
    idx = pd.date_range(END - pd.Timedelta(hours=round(days * 24)), END, freq="h", inclusive="left")
    value = level + amp * np.sin((idx.hour.to_numpy() - 8) / 24 * 2 * np.pi) + rng.normal(0, 1.0, len(idx))
    pd.DataFrame({"timestamp": idx.strftime("%Y-%m-%dT%H:%M:%SZ"), "value": value.round(3)}).to_csv(
        path, index=False
    )
    return path


def ingest(db: str, csv: Path, service: str, metric: str, threshold: float) -> None:
    out = invoke(
        "ingest",
        "files",
        str(csv),
        "--service",
        service,
        "--metric",
        metric,
        "--threshold",
        str(threshold),
        "--db",
        db,
        "--create",
    )
    assert out.exit_code == 0, out.output


def risk_rows(db: str, tmp_path: Path, *args: str) -> dict[str, dict[str, Any]]:
    target = tmp_path / "risks.json"
    out = invoke("risks", *args, "--json", str(target), "--db", db)
    assert out.exit_code == 0, out.output
    return {r["service"]: r for r in json.loads(target.read_text())["risks"]}


def test_a_short_history_is_unknown_with_how_much_there_is_and_how_much_is_needed(tmp_path: Path):
    db = str(tmp_path / "short.db")
    # The same real-looking load: a day of it, three days of it; threshold 10 % over the cycle's top (~70).
    ingest(db, write_series(tmp_path / "a.csv", 1), "day", "load", 77.0)
    ingest(db, write_series(tmp_path / "b.csv", 3), "three", "load", 77.0)
    ingest(db, write_series(tmp_path / "c.csv", 1), "hot", "load", 60.0)  # the day already went over 60
    ingest(db, write_series(tmp_path / "d.csv", 1 / 24 * 2), "hour", "load", 77.0)  # 2 samples: no forecast
    out = invoke("forecast", "--all", "--horizon", "7d", "--db", db)
    assert "hour/load" in out.output  # refused with its reason, the rest forecast
    rows = risk_rows(db, tmp_path, "--no-forecast")
    day = rows["day"]
    assert day["status"] == "unknown"
    assert day["breach_probability"] is None and day["peak_p95"] is None and day["first_breach"] is None
    assert "history of 24 hours" in day["note"] and "at least 2 days" in day["note"]
    assert rows["hour"]["status"] == "unknown" and "history of 2 hours" in rows["hour"]["note"]
    # A history that already reached its threshold is never hidden as unknown.
    hot = rows["hot"]
    assert hot["status"] == "breach likely" and "already reached the threshold" in hot["note"]
    # Two days and more: a probability, with a status that agrees with it, and a note on what it rests on.
    three = rows["three"]
    assert three["breach_probability"] is not None and three["status"] in {"ok", "at risk", "breach likely"}
    assert "sample paths recalibrated" in three["note"]
    if three["breach_probability"] >= 0.5:
        assert three["status"] == "breach likely"


def test_an_event_scoped_to_one_service_leaves_the_other_services_status(tmp_path: Path):
    db = str(tmp_path / "scoped.db")
    ingest(db, write_series(tmp_path / "web.csv", 21, seed=1), "web", "rps", 80.0)
    ingest(db, write_series(tmp_path / "api.csv", 21, seed=2), "api", "rps", 68.0)
    added = invoke(
        "events",
        "add",
        "Flash sale",
        "--service",
        "web",
        "--start",
        "2026-03-05",
        "--uplift",
        "1.5..2",
        "--db",
        db,
    )
    assert added.exit_code == 0, added.output
    by_event = risk_rows(db, tmp_path, "--event", "Flash sale")
    by_date = risk_rows(db, tmp_path, "--until", "2026-03-05", "--no-forecast")
    api = by_event["api"]
    assert api["status"] != "unknown"
    assert api["status"] == by_date["api"]["status"]
    assert api["breach_probability"] == by_date["api"]["breach_probability"]
    assert "scoped to web" in api["note"]
    assert "Flash sale" in by_event["web"]["note"] and "scoped" not in by_event["web"]["note"]


def test_a_percent_metric_forecast_past_100_says_so_without_clipping(tmp_path: Path):
    db = str(tmp_path / "api.db")  # the file make_api serves below
    ingest(db, write_series(tmp_path / "cpu.csv", 21, level=70.0, amp=20.0), "shop", "cpu", 95.0)
    added = invoke("events", "add", "Sale", "--start", "2026-03-04", "--uplift", "1.4..1.6", "--db", db)
    assert added.exit_code == 0, added.output
    rows = risk_rows(db, tmp_path, "--event", "Sale")
    shop = rows["shop"]
    assert shop["peak_p95"] > 100.0  # the demand the forecast sees, not clipped
    assert "passes 100%" in shop["note"] and f"p95 {shop['peak_p95']:.1f}%" in shop["note"]
    out = invoke("risks", "--event", "Sale", "--no-forecast", "--db", db)
    assert "passes 100%" in out.output
    api = make_api(tmp_path)
    try:
        served = api.client.get("/api/v1/risks?event=Sale", headers=api.read)
        assert served.status_code == 200
        assert "passes 100%" in served.get_json()["risks"][0]["note"]
    finally:
        api.store.close()
