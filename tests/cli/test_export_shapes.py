"""Real exports shaped differently from ours: ``capacity ingest`` and the benchmarks read every form of one series
as the same samples, and refuse what they cannot read with one line naming the file, row and value, exit 2 and
nothing stored or written. Files on disk, a real SQLite file, the CLI through its entry point's error boundary."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from capacity.cli import cli
from capacity.store import Store

DAYS = 6
EVENTS = b"event,start,end\nSale,2024-03-05,2024-03-05\n"


def series(days: int = DAYS, freq: str = "1h") -> pd.DataFrame:
    """A daily cycle with noise, in UTC."""
    ts = pd.date_range(
        "2024-03-04", periods=int(pd.Timedelta(days=days) / pd.Timedelta(freq)), freq=freq, tz="UTC"
    )
    t = np.arange(len(ts)) * pd.Timedelta(freq) / pd.Timedelta(hours=1)
    noise = np.random.default_rng(3).normal(0, 2, len(ts))
    value = np.round(300 + 120 * np.sin(2 * np.pi * t / 24) + noise, 2)
    return pd.DataFrame({"ts": ts, "value": value})


def iso(frame: pd.DataFrame) -> list[str]:
    return [f"{t:%Y-%m-%d %H:%M:%S},{v}" for t, v in zip(frame["ts"], frame["value"], strict=True)]


def berlin(frame: pd.DataFrame) -> list[str]:
    local = frame["ts"].dt.tz_convert("Europe/Berlin")
    return [f"{t.isoformat()},{v}" for t, v in zip(local, frame["value"], strict=True)]


def epoch(unit: int) -> Callable[[pd.DataFrame], list[str]]:
    def rows(frame: pd.DataFrame) -> list[str]:
        secs = frame["ts"].astype("int64") // 10**9
        return [f"{s * unit},{v}" for s, v in zip(secs, frame["value"], strict=True)]

    return rows


#: name -> the file's bytes for a frame: the same samples in the forms real exports take.
SHAPES: dict[str, Callable[[pd.DataFrame], bytes]] = {
    "plain": lambda f: ("timestamp,value\n" + "\n".join(iso(f)) + "\n").encode(),
    "bom_crlf": lambda f: ("\ufefftimestamp,value\r\n" + "\r\n".join(iso(f)) + "\r\n").encode(),
    "semicolons": lambda f: (
        "timestamp;value\n" + "\n".join(r.replace(",", ";") for r in iso(f)) + "\n"
    ).encode(),
    "tabs": lambda f: (
        "timestamp\tvalue\n" + "\n".join(r.replace(",", "\t") for r in iso(f)) + "\n"
    ).encode(),
    "capitalized_quoted": lambda f: (
        '"Timestamp","Value"\n' + "\n".join('"' + r.replace(",", '","') + '"' for r in iso(f)) + "\n"
    ).encode(),
    "offsets_+01_+02": lambda f: ("timestamp,value\n" + "\n".join(berlin(f)) + "\n").encode(),
    "epoch_seconds": lambda f: ("timestamp,value\n" + "\n".join(epoch(1)(f)) + "\n").encode(),
    "epoch_milliseconds": lambda f: ("timestamp,value\n" + "\n".join(epoch(1000)(f)) + "\n").encode(),
    "prophet_ds_y": lambda f: ("ds,y\n" + "\n".join(iso(f)) + "\n").encode(),
    "cloudwatch_timestamp_value_unit": lambda f: (
        "Timestamp,Value,Unit\n"
        + "\n".join(r.replace(" ", "T").replace(",", "Z,") + ",Count" for r in iso(f))
    ).encode(),
    "grafana_time_column_epoch_ms": lambda f: ('"Time","web"\r\n' + "\r\n".join(epoch(1000)(f))).encode(),
    "grafana_excel_utf16_tabs": lambda f: (
        '\ufeff"Time"\t"web"\r\n' + "\r\n".join(r.replace(",", "\t") for r in epoch(1000)(f))
    ).encode("utf-16-le"),
    "unsorted_with_repeats": lambda f: (
        "timestamp,value\n" + "\n".join(reversed(iso(f) + iso(f.iloc[:5]))) + "\n"
    ).encode(),
}


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def write(folder: Path, name: str, content: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_export_shape_ingests_as_the_same_samples(shape: str, tmp_path: Path) -> None:
    frame = series()
    path = write(tmp_path, "web.csv", SHAPES[shape](frame))
    db = tmp_path / "cap.db"
    code, out = run("ingest", str(path), "--metric", "rps", "--db", str(db), "--create")
    assert code == 0, out
    store = Store.open(db)
    stored = store.series.load_history("web", "rps")
    store.close()
    assert stored.index.equals(pd.DatetimeIndex(frame["ts"])), shape
    assert np.allclose(stored.to_numpy(), frame["value"].to_numpy())


def test_every_export_shape_scores_the_same_in_bench_accuracy(tmp_path: Path) -> None:
    frame = series()
    scores = {}
    for shape, content in SHAPES.items():
        write(tmp_path / shape, "web.csv", content(frame))
        out = tmp_path / f"{shape}.json"
        code, text = run(
            "bench", "accuracy", "--data", str(tmp_path / shape), "--horizon", "24h", "--folds", "1",
            "--peers", "", "--json", str(out),
        )  # fmt: skip
        assert code == 0, (shape, text)
        scores[shape] = json.loads(out.read_text())["summary"]["seasonal_naive"]["mase_gmean"]
    assert len(set(scores.values())) == 1, scores


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["01.03.2024 00:00,5", "02.03.2024 00:00,6"], "row 2: ts is not an ISO 8601 timestamp"),
        (["03/01/2024 00:00,5"], "day-first and month-first dates are ambiguous, got '03/01/2024 00:00'"),
        (["2024-03-01 00:00:00,5", "2024-03-01 01:00:00,"], "row 3: value is not a number, got ''"),
        (["2024-03-01 00:00:00,5", "2024-03-01 01:00:00,NaN"], "row 3: value must be a finite number"),
        (["2024-03-01 00:00:00,5", "2024-03-01 01:00:00,4,5"], "not a readable CSV file"),
        (["2024-03-01 00:00:00;5,5"], "row 2: value is not a number (a decimal comma? write a point: 85.5)"),
    ],
)
def test_unreadable_rows_are_one_line_naming_the_row_and_nothing_is_stored_or_written(
    rows: list[str], message: str, tmp_path: Path
) -> None:
    header = "timestamp;value" if ";" in rows[0] else "timestamp,value"
    path = write(tmp_path / "data", "web.csv", (header + "\n" + "\n".join(rows) + "\n").encode())
    db = tmp_path / "cap.db"
    code, out = run("ingest", str(path), "--metric", "rps", "--db", str(db), "--create")
    assert code == 2 and message in out and "Traceback" not in out, out
    store = Store.open(db)
    assert store.series.list_series() == []
    store.close()
    json_out = tmp_path / "b.json"
    code, out = run("bench", "breach", "--data", str(tmp_path / "data"), "--json", str(json_out))
    assert code == 2 and message in out and not json_out.exists(), out


def test_daily_samples_are_refused_by_the_hourly_benchmarks_and_scored_at_a_daily_step(
    tmp_path: Path,
) -> None:
    write(tmp_path / "daily", "peaks.csv", SHAPES["plain"](series(days=200, freq="1D")))
    data = str(tmp_path / "daily")
    for args in (
        ("bench", "breach", "--data", data),
        ("bench", "events", "--data", data, "--events", str(write(tmp_path, "ev.csv", EVENTS))),
        ("bench", "accuracy", "--data", data, "--peers", ""),
    ):
        code, out = run(*args, "--json", str(tmp_path / "x.json"))
        assert (
            code == 2 and "peaks.csv: samples are 24h apart (median), coarser than the benchmark's" in out
        ), out
        assert not (tmp_path / "x.json").exists()
    assert "give --freq 1d" in out
    code, out = run(
        "bench", "accuracy", "--data", data, "--freq", "1d", "--horizon", "14d", "--folds", "1", "--peers", "",
        "--json", str(tmp_path / "x.json"),
    )  # fmt: skip
    assert code == 0, out


def test_series_too_short_for_any_case_are_an_error_not_an_empty_table(tmp_path: Path) -> None:
    write(tmp_path / "short", "web.csv", SHAPES["plain"](series(days=2)))
    data = str(tmp_path / "short")
    events = write(tmp_path, "ev.csv", EVENTS)
    for args, message in (
        (("bench", "accuracy", "--data", data, "--peers", ""), "no series is long enough to score"),
        (("bench", "breach", "--data", data), "no case to score: every series was skipped"),
        (("bench", "events", "--data", data, "--events", str(events)), "no event occurrence to score"),
    ):
        code, out = run(*args, "--json", str(tmp_path / "x.json"))
        assert code == 2 and message in out and "nan" not in out, out
        assert not (tmp_path / "x.json").exists()


def test_a_folder_export_reads_its_csv_files_only_and_names_an_empty_one(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    write(folder, "web.CSV", SHAPES["plain"](series()))
    write(folder, "README.md", b"# exported\n")
    write(folder, ".DS_Store", b"\x00\x01Bud1")
    write(folder / "old", "stale.csv", b"garbage")
    code, out = run("bench", "accuracy", "--data", str(folder), "--folds", "1", "--peers", "", "--json",
                    str(tmp_path / "a.json"))  # fmt: skip
    assert code == 0 and "web: MASE" in out, out
    write(folder, "empty.csv", b"")
    for args in (("ingest", str(folder), "--db", str(tmp_path / "c.db"), "--create"),
                 ("bench", "breach", "--data", str(folder), "--json", str(tmp_path / "b.json"))):  # fmt: skip
        code, out = run(*args)
        assert code == 2 and "empty.csv: the file is empty" in out, out


def test_ingest_notes_a_percent_given_as_a_fraction_and_samples_coarser_than_hours(tmp_path: Path) -> None:
    fraction = series().assign(value=lambda f: (f["value"] / 1000).round(4))
    write(tmp_path / "in", "vm__cpu.csv", SHAPES["plain"](fraction))
    write(tmp_path / "in", "site__rps.csv", SHAPES["plain"](series(days=60, freq="1D")))
    code, out = run("ingest", str(tmp_path / "in"), "--db", str(tmp_path / "c.db"), "--create")
    assert code == 0, out
    assert "note: vm/cpu: every value lies between 0 and 1, but 'cpu' is a percent (0..100)" in out
    assert "note: site/rps: samples are 24h apart (median); forecasts are hourly" in out
    assert "note: vm/cpu: samples" not in out and "note: site/rps: every value" not in out


def test_weekly_samples_are_refused_by_the_hourly_forecast_and_planned_on_daily_peaks(tmp_path: Path) -> None:
    weekly = series(days=7 * 60, freq="7D")
    path = write(tmp_path, "site__load.csv", SHAPES["plain"](weekly))
    db = str(tmp_path / "c.db")
    code, out = run("ingest", str(path), "--threshold", "500", "--db", db, "--create")
    assert code == 0 and "note: site/load: samples are 7d apart (median): too coarse for the hourly" in out, (
        out
    )
    code, out = run("forecast", "--all", "--workers", "1", "--db", db)
    assert code == 1 and "samples are 7 days apart (median): too coarse to forecast in steps of 1h" in out, (
        out
    )
    code, out = run("risks", "--db", db, "--json", str(tmp_path / "r.json"))
    (row,) = json.loads((tmp_path / "r.json").read_text())["risks"]
    assert row["status"] == "unknown" and row["peak_p95"] is None, out
    code, out = run("plan", "--horizon", "4w", "--no-save", "--db", db)
    assert code == 0 and "1 plan(s)" in out, out


def test_a_file_name_that_is_no_service_name_is_blamed_on_the_file_name_not_a_row(tmp_path: Path) -> None:
    path = write(tmp_path, "my export (1).csv", SHAPES["plain"](series(days=1)))
    code, out = run("ingest", str(path), "--db", str(tmp_path / "c.db"), "--create")
    assert code == 2 and "row" not in out, out
    assert (
        "my export (1).csv: service may hold only letters" in out
        and "rename the file or give --service" in out
    )
    code, out = run("ingest", str(path), "--service", "web", "--db", str(tmp_path / "c.db"), "--create")
    assert code == 0, out


def test_bench_accuracy_refuses_a_step_the_engine_cannot_forecast_in(tmp_path: Path) -> None:
    write(tmp_path / "weekly", "peaks.csv", SHAPES["plain"](series(days=7 * 80, freq="7D")))
    data = str(tmp_path / "weekly")
    for freq, message in (
        ("7d", "--freq must divide a day (1d, 1h, 15min ...): the engine forecasts in such steps, got '7d'"),
        ("fortnight", "--freq must be a step like 1h, 15min or 1d, got 'fortnight'"),
        ("1d", "peaks.csv: samples are 7d apart (median), coarser than the benchmark's 1d step"),
    ):
        code, out = run(
            "bench", "accuracy", "--data", data, "--freq", freq, "--peers", "", "--json", "x.json"
        )
        assert code == 2 and message in out, out
    assert "the engine's coarsest step is a day: give daily data" in out


def test_local_time_with_tz_and_prometheus_json_score_the_same_in_the_benchmarks(tmp_path: Path) -> None:
    frame = series(days=8)  # crosses New York's change to summer time (2024-03-10 07:00 UTC)
    local = frame["ts"].dt.tz_convert("America/New_York")
    write(tmp_path / "utc", "web.csv", SHAPES["plain"](frame))
    rows = [f"{t:%Y-%m-%d %H:%M:%S},{v}" for t, v in zip(local, frame["value"], strict=True)]
    write(tmp_path / "local", "web.csv", ("timestamp,value\n" + "\n".join(rows) + "\n").encode())
    pairs = [[int(t.timestamp()), str(v)] for t, v in zip(frame["ts"], frame["value"], strict=True)]
    body = {
        "status": "success",
        "data": {"resultType": "matrix", "result": [{"metric": {}, "values": pairs}]},
    }
    write(tmp_path / "prom", "web.json", json.dumps(body).encode())
    scores = {}
    for folder, extra in (("utc", ()), ("local", ("--tz", "America/New_York")), ("prom", ())):
        out = tmp_path / f"{folder}.json"
        code, text = run(
            "bench", "accuracy", "--data", str(tmp_path / folder), "--horizon", "24h", "--folds", "1",
            "--peers", "", "--json", str(out), *extra,
        )  # fmt: skip
        assert code == 0, (folder, text)
        scores[folder] = json.loads(out.read_text())["summary"]["seasonal_naive"]["mase_gmean"]
    assert len(set(scores.values())) == 1, scores
    code, text = run(
        "bench", "accuracy", "--data", str(tmp_path / "local"), "--peers", "", "--tz", "Mars/Olympus"
    )
    assert code == 2 and "tz must be an IANA time zone name" in text, text


def test_a_benchmark_file_of_several_series_is_refused_naming_them(tmp_path: Path) -> None:
    frame = series()
    ms = epoch(1000)(frame)
    text = '"Time","web-1","web-2"\r\n' + "\r\n".join(f"{r},{r.split(',')[1]}" for r in ms)
    write(tmp_path / "grafana", "cpu.csv", text.encode())
    code, out = run(
        "bench", "breach", "--data", str(tmp_path / "grafana"), "--json", str(tmp_path / "b.json")
    )
    assert code == 2 and not (tmp_path / "b.json").exists(), out
    assert "cpu.csv: 2 series in one file (web-1, web-2): the benchmarks score one series per file" in out
