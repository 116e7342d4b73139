"""The newcomer's path on the command line: the input policy (duplicates, horizon cap, exit codes, a missing
--db), thresholds without a TOML, retail days, ``risks --event`` forecasting far enough by itself, and piped
tables that are not wrapped. Real SQLite files, real forecasts, the command in a subprocess where the pipe
matters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
from click.testing import CliRunner, Result

from capacity.cli import cli
from capacity.events.holidays import holiday_events
from capacity.store import Store
from tests.support.data import hourly_history


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def write_short(path: Path, days: int, start: str = "2024-01-01", seed: int = 0) -> Path:
    """A ``timestamp,value`` file of ``days`` of hourly data."""
    frame = hourly_history(days=days, seed=seed)
    frame["ts"] = pd.date_range(start, periods=len(frame), freq="h", tz="UTC")
    out = frame.assign(timestamp=frame["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))[["timestamp", "value"]]
    out.to_csv(path, index=False)
    return path


def test_duplicates_are_refused_with_rows_and_each_policy_ingests(tmp_path: Path) -> None:
    db = str(tmp_path / "d.db")
    csv = tmp_path / "taxi.csv"
    csv.write_text("timestamp,value\n2024-01-01T00:00Z,10\n2024-01-01T01:00Z,20\n2024-01-01T01:00Z,30\n")
    refused = invoke("ingest", str(csv), "--metric", "rides", "--db", db, "--create")
    assert refused.exit_code == 2
    assert "taxi/rides 2024-01-01 01:00:00 at rows 3, 4" in refused.output
    assert not Path(db).exists()  # nothing stored, not even an empty database
    for policy, value in (("first", 20.0), ("mean", 25.0), ("last", 30.0)):
        ok = invoke("ingest", str(csv), "--metric", "rides", "--duplicates", policy, "--db", db, "--create")
        assert ok.exit_code == 0, ok.output
        assert f"dropped 1 row of repeated timestamps (--duplicates {policy})" in ok.output
        store = Store.open(db)
        try:
            assert store.series.load_history("taxi", "rides").tolist() == [10.0, value]
        finally:
            store.close()


def test_a_missing_db_is_an_error_unless_created_or_initialised(tmp_path: Path) -> None:
    db = tmp_path / "typo.db"
    for args in (["series"], ["events", "list"], ["risks"], ["forecast", "--all"]):
        out = invoke(*args, "--db", str(db))
        assert out.exit_code == 2, (args, out.output)
        assert f"database {db} does not exist" in out.output and "capacity init --db" in out.output
        assert not db.exists()
    assert (
        invoke("series", "--db", str(tmp_path / "no" / "such" / "x.db")).output.count("does not exist") == 2
    )
    init = invoke("init", "--db", str(db))
    assert init.exit_code == 0 and f"created database {db}" in init.output and db.exists()
    assert "is ready (schema up to date)" in invoke("init", "--db", str(db)).output
    assert "no series stored yet" in invoke("series", "--db", str(db)).output
    other = tmp_path / "other.db"
    created = invoke("series", "--db", str(other), "--create")
    assert created.exit_code == 0 and other.exists()


def test_threshold_on_ingest_and_series_set_round_trip(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    csv = write_short(tmp_path / "taxi.csv", days=3)
    ok = invoke(
        "ingest",
        str(csv),
        "--service",
        "nyc",
        "--metric",
        "rides",
        "--threshold",
        "55",
        "--db",
        db,
        "--create",
    )
    assert ok.exit_code == 0, ok.output
    assert "threshold 55 set on nyc/rides" in ok.output
    out = invoke(
        "series",
        "set",
        "nyc",
        "rides",
        "--threshold",
        "60",
        "--instances",
        "4",
        "--instance-capacity",
        "15",
        "--db",
        db,
    )
    assert out.exit_code == 0, out.output
    assert "nyc/rides: threshold 60.0, instances 4, instance capacity 15.0" in out.output
    store = Store.open(db)
    try:
        info = store.series.describe("nyc", "rides")
        assert (info.threshold, info.instances, info.instance_capacity) == (60.0, 4, 15.0)
    finally:
        store.close()
    assert "60.0" in invoke("series", "--db", db).output
    percent = invoke("series", "set", "nyc", "rides", "--agg", "max", "--db", db)
    assert percent.exit_code == 0 and "agg max" in percent.output
    bad = invoke("ingest", str(csv), "--metric", "cpu", "--threshold", "150", "--db", db)
    assert bad.exit_code == 2 and "threshold" in bad.output and "100" in bad.output
    nothing = invoke("series", "set", "nyc", "rides", "--db", db)
    assert nothing.exit_code == 2 and "give at least one of" in nothing.output
    ghost = invoke("series", "set", "ghost", "rides", "--threshold", "1", "--db", db)
    assert ghost.exit_code == 2 and "ghost" in ghost.output


def test_us_holidays_include_the_retail_days() -> None:
    days = {(o.name, o.start.date().isoformat()) for o in holiday_events("US", [2025, 2026])}
    assert {
        ("Black Friday", "2025-11-28"),
        ("Cyber Monday", "2025-12-01"),
        ("Black Friday", "2026-11-27"),
        ("Cyber Monday", "2026-11-30"),
    } <= days
    plain = {o.name for o in holiday_events("US", [2026], retail=False)}
    assert "Black Friday" not in plain and "Thanksgiving Day" in plain
    assert "Black Friday" not in {o.name for o in holiday_events("DE", [2026])}


def test_forecast_exit_codes_and_the_horizon_cap(tmp_path: Path) -> None:
    db = str(tmp_path / "f.db")
    long = tmp_path / "long.csv"
    write_short(long, days=15)
    assert invoke("ingest", str(long), "--metric", "cpu", "--db", db, "--create").exit_code == 0
    ok = invoke("forecast", "--all", "--horizon", "1d", "--workers", "1", "--db", db)
    assert ok.exit_code == 0, ok.output
    too_far = invoke("forecast", "--all", "--horizon", "30d", "--db", db)
    assert too_far.exit_code == 2
    assert (
        "horizon 30d is too long for the history of long/cpu, which spans 14d: at most 14d" in too_far.output
    )
    absurd = invoke("forecast", "--all", "--horizon", "100000d", "--db", db)
    assert absurd.exit_code == 2 and "horizon must be at most 366d" in absurd.output
    # A series with two samples cannot be forecast: one of two failing exits 1, as does every one failing.
    short = tmp_path / "tiny.csv"
    short.write_text("timestamp,value\n2024-01-01T00:00Z,1\n2024-01-01T01:00Z,2\n")
    assert invoke("ingest", str(short), "--metric", "cpu", "--db", db).exit_code == 0
    some = invoke("forecast", "--all", "--horizon", "1d", "--workers", "1", "--db", db)
    assert some.exit_code == 1, some.output
    assert "tiny" in some.output and "at least 3 are needed" in some.output
    every = invoke("forecast", "tiny", "--horizon", "1d", "--db", db)
    assert every.exit_code == 1, every.output


def test_risks_event_forecasts_far_enough_ahead_by_itself(tmp_path: Path) -> None:
    db = str(tmp_path / "r.db")
    csv = write_short(tmp_path / "shop.csv", days=150, start="2024-01-01")  # ends 2024-05-29
    assert (
        invoke("ingest", str(csv), "--metric", "cpu", "--threshold", "90", "--db", db, "--create").exit_code
        == 0
    )
    events = tmp_path / "events.csv"
    events.write_text(
        "event,start,end,multiplier_low,multiplier_high\nLaunch,2024-10-10,2024-10-11,1.2,1.5\n"
    )
    assert invoke("events", "import", str(events), "--db", db).exit_code == 0
    out = invoke("risks", "--event", "Launch", "--db", db)
    assert out.exit_code == 0, out.output
    # The event ends at the end of 2024-10-11 (a date-only end includes the day); a day past it is drawn too.
    hours = (pd.Timestamp("2024-10-12") - pd.Timestamp("2024-05-29 23:00")) / pd.Timedelta(hours=1) + 24
    assert f"forecasting 1 series {int(hours)}h ahead, through Launch" in out.output
    assert hours > 130 * 24
    store = Store.open(db)
    try:
        stored = store.forecasts.latest_forecast("shop", "cpu", with_paths=False)
        assert stored is not None and stored.frame["ts"].iloc[-1] >= pd.Timestamp("2024-10-11", tz="UTC")
    finally:
        store.close()
    again = invoke("risks", "--event", "Launch", "--db", db)
    assert again.exit_code == 0 and "forecasting" not in again.output  # the stored forecast covers it now


def test_piped_tables_are_not_wrapped(tmp_path: Path) -> None:
    db = str(tmp_path / "p.db")
    service = "a-service-name-long-enough-to-overflow-eighty-columns"
    write_short(tmp_path / f"{service}__requests_per_second.csv", days=1)
    assert invoke("ingest", str(tmp_path), "--db", db, "--create").exit_code == 0
    out = subprocess.run(
        [sys.executable, "-m", "capacity.cli", "series", "--db", db],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "80", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    row = [line for line in out.stdout.splitlines() if service in line]
    assert len(row) == 1 and "requests_per_second" in row[0] and len(row[0]) > 80


def test_every_help_lists_the_exit_codes() -> None:
    for args in (["forecast"], ["ingest", "files"], ["series", "set"], ["init"], ["risks"], ["report"]):
        out = invoke(*args, "--help")
        assert out.exit_code == 0 and "Exit codes: 0 ok; 1 some series failed" in out.output, args
    events = invoke("events", "import", "--help").output
    assert "event,start,end,uplift,service" in events  # the example file's header
    assert all(column in events for column in ("multiplier_low", "multiplier_high", "uplift", "service"))
    assert "Black Friday,2026-11-27,2026-11-29" in events
