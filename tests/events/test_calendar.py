"""Fleet config and events calendar parsing: good files load, bad ones name the entry and the value."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from capacity.config import load_fleet_config, parse_fleet_config
from capacity.errors import InvalidConfig, UnknownEvent
from capacity.events.calendar import next_occurrence, parse_events_csv, past_occurrences
from tests.support.data import SHARED_DATA


def test_parse_fleet_config() -> None:
    cfg = parse_fleet_config(
        {
            "series": [{"service": "web", "metric": "cpu", "threshold": 80, "instances": 4, "agg": "max"}],
            "events": [{"name": "BF", "start": "2025-11-28", "end": "2025-11-28", "multiplier_low": 2}],
        }
    )
    assert cfg.series[0].threshold == 80.0 and cfg.series[0].agg == "max"
    ev = cfg.events[0]
    assert (ev.multiplier_low, ev.multiplier_high) == (2.0, 2.0)
    assert ev.end - ev.start == pd.Timedelta(days=1)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"series": [{"service": "web", "metric": "cpu", "threshold": 140}]},
            "threshold for cpu must be in (0, 100], got 140",
        ),
        ({"series": [{"service": "web", "metric": "rps", "threshold": -1}]}, "threshold must be > 0, got -1"),
        (
            {"series": [{"service": "web", "metric": "cpu", "instances": 0}]},
            "instances must be a whole number >= 1",
        ),
        (
            {"series": [{"service": "web", "metric": "cpu", "agg": "median"}]},
            "agg must be one of mean, max, p95",
        ),
        ({"series": [{"service": "web", "metric": "cpu", "colour": "red"}]}, "unknown key 'colour'"),
        ({"series": [{"service": "w b", "metric": "cpu"}]}, "service may hold only"),
        (
            {"events": [{"name": "X", "start": "2025-01-02", "end": "2025-01-01T00:00"}]},
            "end must be after start",
        ),
        ({"events": [{"name": "X", "start": "soon", "end": "2025-01-01"}]}, "start is not a timestamp"),
        (
            {"events": [{"name": "X", "start": "2025-01-01", "end": "2025-01-02", "multiplier_low": "lots"}]},
            "multiplier_low must be a number",
        ),
        ({"tables": []}, "unknown table 'tables'"),
    ],
)
def test_bad_fleet_config(raw: dict, message: str) -> None:
    with pytest.raises(InvalidConfig) as info:
        parse_fleet_config(raw)
    assert message in str(info.value)


def test_load_fleet_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidConfig, match="does not exist"):
        load_fleet_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[series]\nservice=")
    with pytest.raises(InvalidConfig, match="not a valid TOML file"):
        load_fleet_config(bad)


def test_events_csv_and_lookup() -> None:
    text = "event,start,end,multiplier_low,multiplier_high\nBF,2024-11-29 00:00:00,2024-11-29 23:59:00,,\nBF,2025-11-28,2025-11-28,2,3\n"
    cal = parse_events_csv(text)
    assert cal[0].end == pd.Timestamp("2024-11-30", tz="UTC")
    assert cal[1].multiplier_high == 3.0
    now = pd.Timestamp("2025-06-01", tz="UTC")
    assert next_occurrence(cal, "bf", now).start == pd.Timestamp("2025-11-28", tz="UTC")
    assert len(past_occurrences(cal, "BF", now)) == 1
    with pytest.raises(UnknownEvent, match="known events: BF"):
        next_occurrence(cal, "Christmas", now)
    with pytest.raises(InvalidConfig, match="events row 2: end must be after start"):
        parse_events_csv("event,start,end\nX,2024-01-02 00:00,2024-01-01 00:00\n")
    with pytest.raises(InvalidConfig, match="missing column 'end'"):
        parse_events_csv("event,start\nX,2024-01-01\n")


def test_shared_events_file_parses() -> None:
    path = SHARED_DATA / "events-us.csv"
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared benchmark data is not on this machine)")
    cal = parse_events_csv(path.read_text(), source=path.name)
    assert sum(e.name == "Black Friday" for e in cal) == 7
