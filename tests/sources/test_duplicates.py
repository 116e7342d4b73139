"""The duplicate-timestamp policy of input files: refused by default naming the rows, or resolved as asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from capacity.errors import InvalidHistory, InvalidInput
from capacity.sources.files import parse_csv_text, read_history

SHORT = "timestamp,value\n"


def short(*rows: str) -> str:
    return SHORT + "\n".join(rows) + "\n"


CONFLICT = short(
    "2024-01-01T00:00Z,10",
    "2024-01-01T01:00Z,20",
    "2024-01-01T01:00Z,30",
    "2024-01-01T02:00Z,40",
)


def test_conflicting_values_are_refused_naming_the_series_and_rows() -> None:
    with pytest.raises(InvalidHistory) as err:
        parse_csv_text(CONFLICT, source="taxi.csv", service="taxi", metric="rides")
    message = err.value.message
    assert message.startswith("taxi.csv: 1 timestamp repeated with different values: ")
    assert "taxi/rides 2024-01-01 01:00:00 at rows 3, 4" in message  # lines of the file: the header is line 1
    assert "--duplicates last|first|mean" in message
    assert err.value.row == 3 and err.value.field == "ts"


def test_many_conflicts_name_a_few_and_count_the_rest() -> None:
    rows = [f"2024-01-01T{h:02d}:00Z,{v}" for h in range(6) for v in (1, 2)]
    with pytest.raises(InvalidHistory) as err:
        parse_csv_text(short(*rows), source="f.csv", service="a", metric="b")
    assert "6 timestamps repeated" in err.value.message and "and 3 more" in err.value.message


@pytest.mark.parametrize(("policy", "value"), [("last", 30.0), ("first", 20.0), ("mean", 25.0)])
def test_each_policy_keeps_one_value(policy: str, value: float) -> None:
    frame = parse_csv_text(CONFLICT, source="f.csv", service="a", metric="b", duplicates=policy)
    assert len(frame) == 3
    assert frame.set_index("ts")["value"].iloc[1] == value


def test_exact_repeats_are_stored_once_under_any_policy(tmp_path: Path) -> None:
    path = tmp_path / "svc.csv"
    path.write_text(short("2024-01-01T00:00Z,10", "2024-01-01T00:00Z,10", "2024-01-01T01:00Z,11"))
    frame, dropped = read_history(path, metric="cpu")
    assert len(frame) == 2 and dropped == 1


def test_a_conflict_across_the_files_of_a_folder_names_both_files(tmp_path: Path) -> None:
    (tmp_path / "a__rps.csv").write_text(short("2024-01-01T00:00Z,10", "2024-01-01T01:00Z,11"))
    long = "timestamp,service,metric,value\n2024-01-01T00:00Z,a,rps,10\n2024-01-01T01:00Z,a,rps,99\n"
    (tmp_path / "c.csv").write_text(long)
    with pytest.raises(InvalidHistory) as err:
        read_history(tmp_path)
    assert "a/rps 2024-01-01 01:00:00 has different values in a__rps.csv and c.csv" in err.value.message
    frame, dropped = read_history(tmp_path, duplicates="last")
    assert (
        list(frame.sort_values("ts")["value"]) == [10.0, 99.0] and dropped == 2
    )  # an exact repeat, a conflict


def test_service_names_a_single_file_only(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text(short("2024-01-01T00:00Z,1"))
    frame, _ = read_history(tmp_path / "x.csv", metric="rides", service="taxi")
    assert set(frame["service"]) == {"taxi"} and set(frame["metric"]) == {"rides"}
    with pytest.raises(InvalidInput, match="a folder's file names give theirs"):
        read_history(tmp_path, service="taxi")


def test_an_unknown_policy_is_refused() -> None:
    with pytest.raises(InvalidInput, match="duplicates must be one of reject, last, first, mean"):
        parse_csv_text(CONFLICT, source="f.csv", service="a", metric="b", duplicates="max")
