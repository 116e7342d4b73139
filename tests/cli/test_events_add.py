"""``capacity events add`` and the events CSV's ``uplift`` column: a planner band for one occurrence, bad bands refused
with a clear error and nothing stored."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from capacity.cli import cli
from capacity.errors import InvalidConfig
from capacity.events.calendar import parse_events_csv, parse_uplift
from capacity.store import Store


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_add_stores_one_occurrence_with_its_band(tmp_path: Path) -> None:
    db = str(tmp_path / "ev.db")
    code, out = invoke(
        "events",
        "add",
        "Partner launch",
        "--start",
        "2026-12-03",
        "--uplift",
        "1.3..1.8",
        "--db",
        db,
        "--create",
    )
    assert code == 0, out
    assert "Partner launch 2026-12-03 00:00 to 2026-12-03 23:59 UTC (fleet), planner band 1.3x-1.8x" in out
    code, out = invoke(
        "events", "add", "Summer sale", "--start", "2026-07-01", "--end", "2026-07-03", "--uplift", "2",
        "--service", "shop", "--db", db,
    )  # fmt: skip
    assert code == 0, out
    stored = {e.name: e for e in Store.open(db).events.list_events()}
    launch, sale = stored["Partner launch"], stored["Summer sale"]
    assert (launch.multiplier_low, launch.multiplier_high, launch.service) == (1.3, 1.8, None)
    assert launch.end - launch.start == pd.Timedelta(days=1)
    assert (sale.multiplier_low, sale.multiplier_high, sale.service) == (2.0, 2.0, "shop")
    assert sale.end == pd.Timestamp("2026-07-04", tz="UTC")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--start", "2026-12-03", "--uplift", "1.8..1.3"),
            "must run from low to high (like 1.3..1.8), got '1.8..1.3'",
        ),
        (("--start", "2026-12-03", "--uplift", "abc"), "uplift must be a number, got 'abc'"),
        (("--start", "2026-12-03", "--uplift", "1..2..3"), "must be a multiplier band like 1.3..1.8"),
        (("--start", "2026-12-03", "--uplift", "0..2"), "must be in (0, 1000], got '0'"),
        (
            (
                "--start",
                "2026-12-03 10:00",
            ),
            "--end is needed when --start is a timestamp",
        ),
        (("--start", "2026-12-04", "--end", "2026-12-03"), "end must be after start"),
    ],
)
def test_a_bad_occurrence_is_refused_and_nothing_is_stored(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    db = str(tmp_path / "ev.db")
    code, out = invoke("events", "add", "X", *args, "--db", db)
    assert code == 2 and message in out and "Traceback" not in out, out
    assert Store.open(db).events.list_events() == []


def test_the_csv_uplift_column_is_a_band_and_cannot_be_given_twice() -> None:
    text = "event,start,end,uplift,service\nLaunch,2026-12-03,2026-12-04,1.3..1.8,search\nHoliday,2026-12-25,2026-12-25,,\n"
    launch, holiday = parse_events_csv(text, source="ev.csv")
    assert (launch.multiplier_low, launch.multiplier_high, launch.service) == (1.3, 1.8, "search")
    assert not holiday.has_multiplier
    assert parse_uplift("1.5") == (1.5, 1.5) and parse_uplift("") is None
    both = "event,start,end,uplift,multiplier_low\nLaunch,2026-12-03,2026-12-03,1.3..1.8,1.2\n"
    with pytest.raises(
        InvalidConfig, match=r"ev\.csv row 2: give uplift or multiplier_low/multiplier_high, not both"
    ):
        parse_events_csv(both, source="ev.csv")
    with pytest.raises(InvalidConfig, match=r"ev\.csv row 2: uplift must run from low to high"):
        parse_events_csv("event,start,end,uplift\nLaunch,2026-12-03,2026-12-03,2..1\n", source="ev.csv")
