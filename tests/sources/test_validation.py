"""Validation at the edges: every bad input gives one line naming the field and the row or value."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from capacity.errors import InvalidHistory, InvalidName, SourceError
from capacity.schema import (
    DEFAULT_QUANTILES,
    duration_steps,
    parse_timestamp,
    quantile_column,
    unit_for,
    validate_history,
    validate_name,
    validate_quantiles,
)
from capacity.sources.files import parse_csv_text, read_path

HEADER = "timestamp,service,metric,value\n"


def csv(*rows: str) -> str:
    return HEADER + "\n".join(rows) + "\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("timestamp,service,metric\n2024-01-01,a,cpu\n", "missing column 'value'"),
        ("service,metric,value\na,cpu,1\n", "missing column 'timestamp'"),
        (HEADER, "header but no rows"),
        (
            csv("2024-01-01 00:00,a,cpu,1", "not-a-date,a,cpu,2"),
            "row 3: ts is not a timestamp, got 'not-a-date'",
        ),
        (csv("2024-01-01 00:00,a,cpu,abc"), "row 2: value is not a number, got 'abc'"),
        (csv("2024-01-01 00:00,a,cpu,nan"), "row 2: value must be a finite number"),
        (csv("2024-01-01 00:00,a,cpu,inf"), "row 2: value must be a finite number"),
        (
            csv("2024-01-01 00:00,a,rps,5", "2024-01-01 01:00,a,rps,-3"),
            "row 3: value must not be negative for 'rps'",
        ),
        (
            csv("2024-01-01 00:00,a,cpu,140"),
            "row 2: value must be at most 100 for 'cpu' (a percent), got '140'",
        ),
        (csv("2024-01-01 00:00,a b,cpu,1"), "row 2: service may hold only letters"),
        (csv("2024-01-01 00:00,a,,1"), "row 2: metric must be a non-empty name"),
        (csv("1890-01-01 00:00,a,cpu,1"), "row 2: ts must lie between 1990 and 2100"),
        ("\x00\x01\x02binary", "not a CSV file"),
        (
            csv("2024-01-01T00:00:00Z,a,cpu,1", "2024-01-01 01:00,a,cpu,2"),
            "row 3: ts has no time zone while row 2 has one (mixed time zones are ambiguous), got '2024-01-01 01:00'",
        ),
        ('timestamp,value\n"2024-01-01,1\n', "not a readable CSV"),
    ],
)
def test_bad_csv_names_field_and_row(text: str, message: str) -> None:
    with pytest.raises(InvalidHistory) as info:
        parse_csv_text(text, source="f.csv", service="svc", metric="cpu")
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("f.csv: ")


def test_good_csv_long_and_short() -> None:
    long = parse_csv_text(
        csv("2024-01-01T00:00:00Z,a,cpu,1.5", "2024-01-01T02:00:00+01:00,a,cpu,2"), source="x"
    )
    assert list(long.columns) == ["service", "metric", "ts", "value"]
    assert str(long["ts"].dtype) == "datetime64[ns, UTC]"
    # mixed offsets are converted to UTC: 02:00+01:00 is 01:00Z (00:00Z twice would be a repeated timestamp)
    assert long["ts"].iloc[1] == pd.Timestamp("2024-01-01T01:00Z")
    short = parse_csv_text("timestamp,value\n2024-01-01 00:00:00,3\n", source="x", service="s", metric="m")
    assert short.iloc[0].to_dict()["service"] == "s"


def test_folder_of_short_files(tmp_path: Path) -> None:
    (tmp_path / "web__rps.csv").write_text("timestamp,value\n2024-01-01 00:00:00,3\n")
    (tmp_path / "db.csv").write_text("timestamp,value\n2024-01-01 00:00:00,4\n")
    (tmp_path / "notes.txt").write_text("ignored")
    frame = read_path(tmp_path, metric="value")
    assert sorted(zip(frame["service"], frame["metric"], strict=True)) == [("db", "value"), ("web", "rps")]


def test_parquet(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"timestamp": pd.date_range("2024-01-01", periods=3, freq="h"), "value": [1.0, 2.0, 3.0]}
    )
    frame.to_parquet(tmp_path / "api__rps.parquet")
    out = read_path(tmp_path / "api__rps.parquet")
    assert out["value"].tolist() == [1.0, 2.0, 3.0]
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(InvalidHistory, match="not a readable Parquet file"):
        read_path(tmp_path / "bad.parquet")


def test_missing_and_non_utf8(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        read_path(tmp_path / "nope.csv")
    (tmp_path / "latin.csv").write_bytes("timestamp,value\n2024-01-01,caf\xe9\n".encode("latin-1"))
    with pytest.raises(InvalidHistory, match="not UTF-8"):
        read_path(tmp_path / "latin.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match=r"no \.csv, \.parquet or \.json"):
        read_path(tmp_path / "empty")


def test_names() -> None:
    assert validate_name("checkout-api.v2", "service") == "checkout-api.v2"
    for bad in ["", "x" * 129, "a;DROP TABLE series", "<script>", "a\nb", "-lead"]:
        with pytest.raises(InvalidName):
            validate_name(bad, "service")


def test_units_and_helpers() -> None:
    assert unit_for("cpu") == "percent" and unit_for("memory") == "percent"
    assert unit_for("rps") == "per_second" and unit_for("latency_ms") == "gauge"
    assert quantile_column(0.025) == "q0.025"
    assert validate_quantiles([0.9, 0.1]) == (0.1, 0.9)
    with pytest.raises(InvalidHistory):
        validate_quantiles([0.5, 1.5])
    assert duration_steps("14d") == 336 and duration_steps("90m") == 2
    with pytest.raises(InvalidHistory, match="horizon must be a duration"):
        duration_steps("soon")
    assert parse_timestamp(0.0 + 1_700_000_000) == pd.Timestamp("2023-11-14 22:13:20", tz="UTC")
    assert len(DEFAULT_QUANTILES) == 9


def test_validate_history_does_not_mutate() -> None:
    frame = pd.DataFrame({"service": ["a"], "metric": ["cpu"], "ts": ["2024-01-01"], "value": ["5"]})
    before = frame.copy()
    out = validate_history(frame)
    pd.testing.assert_frame_equal(frame, before)
    assert out["value"].iloc[0] == 5.0


def test_quantile_columns_are_read_back_only_when_they_hold_a_level() -> None:
    from capacity.schema import quantile_column, quantile_of

    assert [quantile_of(quantile_column(q)) for q in (0.025, 0.5, 0.975)] == [0.025, 0.5, 0.975]
    for other in ("mean", "ts", "q", "qx", "qnan", "qinf", "q0", "q1", "q2", "q-0.1", 0.5, None):
        assert quantile_of(other) is None, other
