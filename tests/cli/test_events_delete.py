"""``capacity events delete``: removes an event's occurrences through the store and stales the forecasts they fed.

A real SQLite store with three series and real (seasonal-mean) forecasts, built once and copied per test; the
command runs through click's runner, and once in a real subprocess on a pseudo-terminal for the confirmation.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from capacity.cli import cli
from capacity.errors import UnknownEvent
from capacity.events.calendar import EventOccurrence
from capacity.forecast.types import ForecastSpec
from capacity.services.forecasting import forecast_stored
from capacity.services.staleness import stale_keys
from capacity.store import Store
from tests.support.data import hourly_history

KEYS = [("cart", "cpu"), ("checkout", "cpu"), ("search", "cpu")]
#: A delete that needs confirming (run in a subprocess on a pseudo-terminal).
ARGS = ("events", "delete", "Launch", "--service", "search")


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


#: History runs 2024-01-01 .. 2024-01-21; the 2024-01-22 occurrences fall inside the 24 h forecast horizon.
CALENDAR = (
    EventOccurrence("Sale", ts("2024-01-03"), ts("2024-01-04"), 1.5, 2.0),
    EventOccurrence("Sale", ts("2024-01-11"), ts("2024-01-12"), 1.5, 2.0),
    EventOccurrence("Sale", ts("2024-01-22"), ts("2024-01-23"), 1.5, 2.0),
    EventOccurrence("Sale", ts("2024-01-22"), ts("2024-01-23"), 2.0, 3.0, service="checkout"),
    EventOccurrence("Launch", ts("2024-01-10 06:00"), ts("2024-01-10 18:00"), service="search"),
    EventOccurrence("Launch", ts("2024-01-22 06:00"), ts("2024-01-22 18:00"), 2.0, 3.0, service="search"),
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("events-delete") / "template.db"
    store = Store.open(path)
    store.series.ingest(
        pd.concat([hourly_history(s, m, seed=i) for i, (s, m) in enumerate(KEYS)], ignore_index=True)
    )
    store.events.add_events(CALENDAR, source="test")
    outcomes = forecast_stored(store, KEYS, ForecastSpec(horizon=24, models=("seasonal_mean",)))
    assert all(o.ok for o in outcomes), [o for o in outcomes if not o.ok]
    assert stale_keys(store, KEYS) == []
    store.close()
    return path


@pytest.fixture
def db(template: Path, tmp_path: Path) -> str:
    path = tmp_path / "fleet.db"
    shutil.copyfile(template, path)
    return str(path)


def delete(db: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["events", "delete", *args, "--db", db])


def flat(text: str) -> str:
    return " ".join(text.split())  # the console folds long lines


def stored(db: str) -> list[tuple[str, str, str]]:
    store = Store.open(db)
    try:
        return [(o.name, f"{o.start:%Y-%m-%d %H:%M}", o.service or "*") for o in store.events.list_events()]
    finally:
        store.close()


def stale(db: str) -> list[tuple[str, str]]:
    store = Store.open(db)
    try:
        return stale_keys(store, KEYS)
    finally:
        store.close()


def test_deleting_every_occurrence_stales_every_series_using_it(db: str) -> None:
    out = delete(db, "sale", "--yes")  # names match in any case, as in the API
    assert out.exit_code == 0, out.output
    text = flat(out.output)
    assert "deleted 4 occurrences of event 'Sale'" in text
    assert "the events of 3 series changed; forecasts now stale: 3" in text
    assert "capacity forecast --all --stale" in text
    assert {name for name, _, _ in stored(db)} == {"Launch"}
    assert stale(db) == KEYS


def test_deleting_one_services_occurrences_stales_only_that_service(db: str) -> None:
    out = delete(db, "Sale", "--service", "checkout", "--yes")
    assert out.exit_code == 0, out.output
    text = flat(out.output)
    assert "deleted 1 occurrences of event 'Sale' for service 'checkout'" in text
    assert "the events of 1 series changed; forecasts now stale: 1" in text
    left = stored(db)
    assert ("Sale", "2024-01-22 00:00", "checkout") not in left
    assert ("Sale", "2024-01-22 00:00", "*") in left  # the fleet-wide occurrence of the same day stays
    assert len(left) == len(CALENDAR) - 1
    assert stale(db) == [("checkout", "cpu")]


def test_deleting_by_start_date_matches_the_whole_utc_day(db: str) -> None:
    out = delete(db, "Launch", "--start", "2024-01-22", "--yes")  # the occurrence starts at 06:00
    assert out.exit_code == 0, out.output
    text = flat(out.output)
    assert "deleted 1 occurrences of event 'Launch' starting on 2024-01-22" in text
    assert "forecasts now stale: 1" in text
    assert [o for o in stored(db) if o[0] == "Launch"] == [("Launch", "2024-01-10 06:00", "search")]
    assert stale(db) == [("search", "cpu")]

    both = delete(db, "Sale", "--start", "2024-01-22", "--yes")  # the fleet-wide and checkout's occurrence
    assert both.exit_code == 0, both.output
    assert "deleted 2 occurrences of event 'Sale' starting on 2024-01-22" in flat(both.output)
    assert sorted(s for n, s, _ in stored(db) if n == "Sale") == ["2024-01-03 00:00", "2024-01-11 00:00"]
    assert stale(db) == KEYS


def test_service_and_start_together_narrow_the_match(db: str) -> None:
    out = delete(db, "Sale", "--service", "checkout", "--start", "2024-01-22", "--yes")
    assert out.exit_code == 0, out.output
    assert "deleted 1 occurrences of event 'Sale' for service 'checkout' starting on 2024-01-22" in flat(
        out.output
    )
    assert len(stored(db)) == len(CALENDAR) - 1


def test_an_unknown_event_is_one_line_naming_it_and_the_known_events(db: str) -> None:
    out = delete(db, "Black Friday", "--yes")
    assert out.exit_code == 2
    lines = out.output.strip().splitlines()
    assert lines == ["error: unknown event 'Black Friday'; known events: Launch, Sale"]
    assert len(stored(db)) == len(CALENDAR)


def test_filters_that_match_nothing_say_what_the_event_has(db: str) -> None:
    out = delete(db, "Launch", "--service", "cart", "--yes")
    assert out.exit_code == 2
    assert out.output.strip() == (
        "error: no occurrence of event 'Launch' for service 'cart'; it has 2 "
        "(scopes: search; starting on: 2024-01-10, 2024-01-22)"
    )
    wrong_day = delete(db, "Sale", "--start", "2024-01-04", "--yes")
    assert wrong_day.exit_code == 2
    assert (
        "no occurrence of event 'Sale' starting on 2024-01-04; it has 4 (scopes: checkout, fleet-wide;"
        in (wrong_day.output)
    )
    assert len(stored(db)) == len(CALENDAR)
    assert stale(db) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["Sale", "--start", "22/01/2024"],
            "error: --start must be a date like 2026-11-27, got '22/01/2024'",
        ),
        (["Sale", "--service", "bad name"], "error: service may hold only"),
        (["<b>", "--yes"], "error: event may not hold control characters or < >"),
    ],
)
def test_bad_arguments_are_one_line_errors(db: str, args: list[str], message: str) -> None:
    out = delete(db, *args)
    assert out.exit_code == 2
    assert out.output.startswith(message) and len(out.output.strip().splitlines()) == 1
    assert "Traceback" not in out.output


def test_without_yes_and_no_terminal_it_refuses_and_deletes_nothing(db: str) -> None:
    out = CliRunner().invoke(cli, ["events", "delete", "Sale", "--db", db], input="y\n")  # piped: not a tty
    assert out.exit_code == 2
    assert out.output.strip() == (
        "error: not deleting 4 of the 4 occurrences of event 'Sale': stdin is not a terminal to confirm on; "
        "add --yes"
    )
    assert len(stored(db)) == len(CALENDAR)
    assert stale(db) == []


def confirm_on_a_terminal(db: str, answer: str) -> subprocess.CompletedProcess[bytes]:
    """Run the real command with stdin on a pseudo-terminal and type ``answer`` at the prompt."""
    leader, follower = os.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from capacity.cli import main; main()", *ARGS, "--db", db],
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        os.write(leader, answer.encode() + b"\n")  # the terminal buffers it until the prompt reads
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(follower)
        os.close(leader)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_on_a_terminal_it_asks_first(db: str) -> None:
    declined = confirm_on_a_terminal(db, "n")
    assert declined.returncode == 1, declined.stderr
    assert (
        "delete 2 of the 2 occurrences of event 'Launch' for service 'search'? [y/N]"
        in declined.stdout.decode()
    )
    assert "nothing deleted" in declined.stdout.decode()
    assert len(stored(db)) == len(CALENDAR)

    accepted = confirm_on_a_terminal(db, "y")
    assert accepted.returncode == 0, accepted.stderr
    assert "deleted 2 occurrences of event 'Launch' for service 'search'" in flat(accepted.stdout.decode())
    assert [o for o in stored(db) if o[0] == "Launch"] == []
    assert stale(db) == [("search", "cpu")]


def test_the_store_filters_are_the_ones_the_api_delete_uses(db: str) -> None:
    store = Store.open(db)
    try:
        with pytest.raises(UnknownEvent, match="no occurrence of event 'Sale' for service 'cart'"):
            store.events.delete_event("Sale", service="cart")
        assert len(store.events.list_events("sale", start_day=dt.date(2024, 1, 22))) == 2
        assert store.events.delete_event("SALE", start_day=dt.date(2024, 1, 3)) == 1
        assert (
            store.events.delete_event("Sale") == 3
        )  # no filter: every occurrence left, as DELETE /api/v1/events/Sale
        with pytest.raises(UnknownEvent, match="unknown event 'Sale'"):
            store.events.delete_event("Sale")
    finally:
        store.close()
