"""A change to the events calendar makes the forecasts it affects stale, and the usual refresh paths renew them.

Real SQLite and a real PostgreSQL server; real engine fits (short series, 24-step horizon); the API through the
Flask test client; the CLI through click's runner on a real database file.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from capacity.events.calendar import EventOccurrence
from capacity.forecast.types import ForecastSpec
from capacity.services.forecasting import forecast_stored
from capacity.services.staleness import stale_keys
from capacity.store import Store
from capacity.store.db import make_engine, migrate
from capacity.store.events import calendar_digest
from tests.support.api import Api, make_api
from tests.support.data import hourly_history

BACKENDS = ["sqlite", "postgres"]
KEYS = [("checkout", "cpu"), ("checkout", "rps"), ("search", "cpu")]
CHECKOUT = KEYS[:2]


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


#: A fleet-wide sale with a past occurrence (inside the history) and an upcoming one (inside the horizon).
SALE = (
    EventOccurrence("Sale", ts("2024-01-03"), ts("2024-01-04"), 1.5, 2.0),
    EventOccurrence("Sale", ts("2024-01-11"), ts("2024-01-12"), 1.5, 2.0),
)
LAUNCH = EventOccurrence(
    "Launch", ts("2024-01-11 06:00"), ts("2024-01-11 18:00"), 2.0, 3.0, service="checkout"
)
#: LAUNCH as the API's events routes take it.
LAUNCH_JSON = {
    "start": "2024-01-11T06:00:00Z",
    "end": "2024-01-11T18:00:00Z",
    "multiplier_low": 2.0,
    "multiplier_high": 3.0,
    "service": "checkout",
}


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database to open: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "cal.db")
    return str(request.getfixturevalue("pg_database"))


@pytest.fixture
def fleet(db_url: str) -> Iterator[Store]:
    """Three series (two of checkout, one of search) with the fleet-wide sale, each forecast once."""
    store = Store.open(db_url)
    store.series.ingest(pd.concat([hourly_history(s, m, days=10, seed=i) for i, (s, m) in enumerate(KEYS)]))
    store.events.add_events(SALE, source="config")
    assert all(o.ok for o in refresh(store))
    assert stale_keys(store, KEYS) == []
    yield store
    store.close()


def refresh(store: Store) -> list[Any]:
    """What ``capacity forecast --all --stale`` does: forecast the stale series only."""
    return forecast_stored(store, KEYS, ForecastSpec(horizon=24), resume=True)


def changed_at(store: Store) -> dict[tuple[str, str], pd.Timestamp | None]:
    return {(s.service, s.metric): s.events_changed_at for s in store.series.list_series()}


def test_changing_a_fleet_event_stales_every_series_and_a_refresh_clears_it(fleet: Store) -> None:
    runs_before = {k: fleet.forecasts.latest_run_status(*k)["id"] for k in KEYS}  # type: ignore[index]
    wider = tuple(EventOccurrence(o.name, o.start, o.end, 2.0, 3.0) for o in SALE)
    fleet.events.add_events(wider, source="api")  # the planner raised the sale's multiplier band
    assert stale_keys(fleet, KEYS) == KEYS
    assert fleet.events.calendar_stale_series() == sorted(KEYS)
    assert all(t is not None for t in changed_at(fleet).values())

    outcomes = refresh(fleet)
    assert sorted((o.service, o.metric) for o in outcomes) == sorted(KEYS) and all(o.ok for o in outcomes)
    assert stale_keys(fleet, KEYS) == [] and fleet.events.calendar_stale_series() == []
    for key in KEYS:
        stored = fleet.forecasts.latest_forecast(*key, with_paths=False)
        assert stored is not None and stored.run_id != runs_before[key]
        assert stored.events_digest == fleet.series.describe(*key).events_digest == calendar_digest(wider)
        assert {e["start"][:10] for e in stored.spec["events"]} == {"2024-01-03", "2024-01-11"}

    fleet.events.delete_event("Sale")  # deleting is a change too
    assert stale_keys(fleet, KEYS) == KEYS
    assert len(refresh(fleet)) == 3 and stale_keys(fleet, KEYS) == []
    assert fleet.series.describe("search", "cpu").events_digest == calendar_digest([])


def test_a_service_event_stales_only_that_services_series(fleet: Store) -> None:
    search_changed = changed_at(fleet)[("search", "cpu")]
    fleet.events.add_events([LAUNCH], source="api")
    assert stale_keys(fleet, KEYS) == CHECKOUT
    assert fleet.events.calendar_stale_series() == sorted(CHECKOUT)
    assert changed_at(fleet)[("search", "cpu")] == search_changed

    assert sorted((o.service, o.metric) for o in refresh(fleet)) == sorted(CHECKOUT)
    assert stale_keys(fleet, KEYS) == []
    # Replacing the event's occurrences with other ones is a change, again only for checkout.
    moved = EventOccurrence("Launch", ts("2024-01-11 08:00"), ts("2024-01-11 20:00"), 2.0, 3.0, "checkout")
    fleet.events.replace_event("Launch", [moved], source="api")
    assert stale_keys(fleet, KEYS) == CHECKOUT
    refresh(fleet)
    # An event for a service without series stales nothing.
    fleet.events.add_events(
        [EventOccurrence("Launch", ts("2024-01-11"), ts("2024-01-12"), service="billing")]
    )
    assert stale_keys(fleet, KEYS) == [] and fleet.events.calendar_stale_series() == []


def test_resending_an_identical_calendar_stales_nothing(fleet: Store) -> None:
    before = {s.service: s.events_digest for s in fleet.series.list_series()}
    stamps = changed_at(fleet)
    fleet.events.add_events(SALE, source="config")  # the fleet config loaded again
    fleet.events.add_events(tuple(reversed(SALE)), source="csv")  # same occurrences, other order and source
    fleet.events.replace_event("sale", SALE, source="api")  # deleted and inserted again, as PUT does
    assert stale_keys(fleet, KEYS) == [] and fleet.events.calendar_stale_series() == []
    assert {s.service: s.events_digest for s in fleet.series.list_series()} == before
    assert changed_at(fleet) == stamps


def test_new_series_start_with_the_calendar_as_it_is(fleet: Store) -> None:
    fleet.series.ingest(hourly_history("cart", "cpu", days=10, seed=7))
    assert fleet.series.describe("cart", "cpu").events_digest == calendar_digest(SALE)
    assert fleet.series.describe("cart", "cpu").events_changed_at is None
    forecast_stored(fleet, [("cart", "cpu")], ForecastSpec(horizon=24))
    assert stale_keys(fleet, [*KEYS, ("cart", "cpu")]) == []


# --- upgrading a database made at migration 0002 -------------------------------------------------------------


def _at_0002(url: str) -> None:
    """Create the schema of migration 0002 and store one series, a fleet event and a forecast run in it."""
    engine = make_engine(url)
    migrate(engine, "0002")
    with engine.begin() as conn:
        assert "events_digest" not in {c["name"] for c in sa.inspect(conn).get_columns("series")}
        conn.execute(
            sa.text(
                "INSERT INTO series (service, metric, unit, data_version, created_at, updated_at, description) "
                "VALUES ('checkout', 'cpu', '%', 1, 0, 0, '')"
            )
        )
        conn.execute(
            sa.text(
                'INSERT INTO events (name, start, "end", multiplier_low, multiplier_high, scope, source) '
                "VALUES ('Sale', :s, :e, 1.5, 2.0, '*', 'config')"
            ),
            {"s": int(SALE[0].start.timestamp()), "e": int(SALE[0].end.timestamp())},
        )
        conn.execute(
            sa.text(
                "INSERT INTO forecast_runs (series_id, created_at, status, model, freq, horizon, data_version) "
                "SELECT id, 0, 'ok', 'seasonal_naive', '1h', 24, 1 FROM series"
            )
        )
    engine.dispose()


def test_upgrading_a_0002_database_keeps_old_forecasts_fresh_and_tracks_changes_after(db_url: str) -> None:
    _at_0002(db_url)
    store = Store.open(db_url)  # migrates to the newest revision
    try:
        info = store.series.describe("checkout", "cpu")
        assert info.events_digest == calendar_digest(SALE[:1]) and info.events_changed_at is None
        assert store.forecasts.latest_run_status("checkout", "cpu")["events_digest"] == info.events_digest  # type: ignore[index]
        assert stale_keys(store, [("checkout", "cpu")]) == []  # upgrading stales nothing
        store.events.add_events(SALE[:1], source="config")  # nor does loading the same calendar again
        assert stale_keys(store, [("checkout", "cpu")]) == []
        store.events.add_events(SALE[1:], source="config")  # a new occurrence does
        assert stale_keys(store, [("checkout", "cpu")]) == [("checkout", "cpu")]
        assert store.series.describe("checkout", "cpu").events_changed_at is not None
    finally:
        store.close()


# --- the API ----------------------------------------------------------------------------------------------------


def _get(a: Api, service: str, metric: str) -> Any:
    return a.client.get(f"/api/v1/series/{service}/{metric}/forecast?horizon=24h", headers=a.read)


def _wait_fresh(a: Api, service: str, metric: str, timeout: float = 180) -> dict[str, Any]:
    """Read until the forecast is served fresh (the background computation was stored)."""
    deadline = time.monotonic() + timeout
    while True:
        response = _get(a, service, metric)
        body: dict[str, Any] = response.get_json() if response.status_code == 200 else {}
        if (body and body["stale"] is False) or time.monotonic() > deadline:
            assert response.status_code == 200 and body["stale"] is False, response.get_data(as_text=True)[
                :300
            ]
            return body
        time.sleep(0.3)


def test_api_serves_a_forecast_made_before_a_calendar_change_as_stale_and_refreshes_it(
    tmp_path: Path, db_url: str
) -> None:
    # A tiny budget: a read after the change answers at once with the stored forecast, marked stale, and the new
    # forecast is computed in the background (as when a real refit takes longer than the budget).
    a = make_api(tmp_path, db=db_url, forecast_budget_s=0.01, freshness_ttl_s=0.01)
    try:
        a.store.series.ingest(
            pd.concat([hourly_history(s, m, days=10, seed=i) for i, (s, m) in enumerate(KEYS)])
        )
        first = {k: _wait_fresh(a, *k) for k in (("checkout", "cpu"), ("search", "cpu"))}

        created = a.client.post(
            "/api/v1/events",
            json={"name": "Launch", **LAUNCH_JSON},
            headers=a.write,
        )
        assert created.status_code == 201
        stale = _get(a, "checkout", "cpu")
        body = stale.get_json()
        assert stale.status_code == 200 and stale.headers["X-Forecast-Stale"] == "true"
        assert body["stale"] is True and body["run_id"] == first[("checkout", "cpu")]["run_id"]
        assert "made before the events calendar changed (changed at 20" in body["stale_reason"]
        assert "latest data" not in body["stale_reason"]
        other = _get(a, "search", "cpu").get_json()  # another service's event: search is untouched
        assert other["stale"] is False and other["run_id"] == first[("search", "cpu")]["run_id"]

        renewed = _wait_fresh(a, "checkout", "cpu")
        assert renewed["run_id"] > body["run_id"] and renewed["stale_reason"] is None

        # PUT of the very same occurrences (delete + insert in the store) changes nothing.
        same = a.client.put(
            "/api/v1/events/Launch",
            json={"occurrences": [LAUNCH_JSON]},
            headers=a.write,
        )
        assert same.status_code == 200
        again = _get(a, "checkout", "cpu").get_json()
        assert again["stale"] is False and again["run_id"] == renewed["run_id"]

        assert a.client.delete("/api/v1/events/Launch", headers=a.admin).status_code == 204
        gone = _get(a, "checkout", "cpu").get_json()
        assert gone["stale"] is True and "events calendar changed" in gone["stale_reason"]
        assert _wait_fresh(a, "checkout", "cpu")["run_id"] > renewed["run_id"]
    finally:
        a.store.close()


def test_stale_reason_names_both_causes_and_a_failed_refit() -> None:
    from capacity.services.staleness import stale_reason

    when = ts("2026-11-27 10:00")
    data = stale_reason(None, 5, 4)
    assert data.startswith("the last good forecast, made before the latest data (data version 4, now 5)")
    events = stale_reason(None, 4, 4, events_stale=True, events_changed_at=when)
    assert "made before the events calendar changed (changed at 2026-11-27T10:00:00Z)" in events
    assert "latest data" not in events
    both = stale_reason(None, 5, 4, events_stale=True)
    assert "latest data (data version 4, now 5) and before the events calendar changed" in both
    failed = {"status": "failed", "data_version": 4, "events_digest": "new", "error": "fit diverged\ntrace"}
    assert stale_reason(failed, 4, 4, events_stale=True, events_digest="new").endswith(
        "forecasting with the new calendar failed: fit diverged"
    )
    # A failure from before the calendar change says nothing about the new calendar: the refit is still pending.
    assert "background" in stale_reason(failed, 4, 4, events_stale=True, events_digest="newer")


# --- the CLI ----------------------------------------------------------------------------------------------------


FLEET_TOML = """
[[events]]
name = "Sale"
start = "2024-01-11"
end = "2024-01-11"
multiplier_low = {low}
multiplier_high = {high}

[[events]]
name = "Launch"
start = "2024-01-11"
end = "2024-01-11"
service = "search"
"""


def test_cli_config_reload_events_import_and_forecast_stale(tmp_path: Path) -> None:
    from capacity.cli import cli

    db = str(tmp_path / "cli.db")
    frame = pd.concat([hourly_history(s, m, days=10, seed=i) for i, (s, m) in enumerate(KEYS)])
    frame["ts"] = frame["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    frame.rename(columns={"ts": "timestamp"}).to_csv(tmp_path / "h.csv", index=False)
    config = tmp_path / "fleet.toml"
    config.write_text(FLEET_TOML.format(low=1.5, high=2.0))
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, [*args, "--db", db])
        assert result.exit_code == 0, result.output
        return " ".join(str(result.output).split())  # the console folds long lines

    run("ingest", str(tmp_path / "h.csv"), "--config", str(config), "--create")
    assert "forecasting 3 series" in run("forecast", "--all", "--horizon", "24h", "--workers", "1")
    run("ingest", str(tmp_path / "h.csv"), "--config", str(config))  # the same config again
    assert "nothing to do" in run("forecast", "--all", "--stale", "--horizon", "24h")

    (tmp_path / "events.csv").write_text("event,start,end,service\nLaunch,2024-01-11,2024-01-11,search\n")
    out = run("events", "import", str(tmp_path / "events.csv"))  # identical to what the config loaded
    assert "imported 1 occurrences" in out and "no series' events changed: no forecast was made stale" in out

    (tmp_path / "events.csv").write_text("event,start,end,service\nLaunch,2024-01-10,2024-01-11,search\n")
    out = run("events", "import", str(tmp_path / "events.csv"))  # a new occurrence for search
    assert "the events of 1 series changed; forecasts now stale: 1" in out
    out = run("forecast", "--all", "--stale", "--horizon", "24h", "--workers", "1")
    assert "forecasting 1 series" in out and "2 already fresh, skipped" in out

    config.write_text(FLEET_TOML.format(low=2.0, high=3.0))  # the planner changed the fleet-wide sale
    run("ingest", str(tmp_path / "h.csv"), "--config", str(config))
    assert "forecasting 3 series" in run("forecast", "--all", "--stale", "--horizon", "24h", "--workers", "1")
    assert "nothing to do" in run("forecast", "--all", "--stale", "--horizon", "24h")
