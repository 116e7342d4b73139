"""One staleness rule: ``capacity forecast --stale`` (``batch.stale_keys``), what a calendar write reports as made
stale (``Store.calendar_stale_series``), the API's stale flag (``capacity.services.staleness.behind``) and the risk notes
(``stale_notes``) agree on every kind of series: fresh, data changed, calendar changed, newest run failed, never
forecast. Real SQLite, real fits, the CLI through click's runner."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from capacity.events.calendar import EventOccurrence
from capacity.forecast.types import ForecastSpec
from capacity.services.forecasting import forecast_stored
from capacity.services.staleness import behind, stale_keys, stale_notes
from capacity.store import Store
from capacity.store.staleness import BEHIND, FAILED, FRESH, NEVER, forecast_behind
from tests.support.data import hourly_history

SPEC = ForecastSpec(horizon=24, models=("seasonal_mean",))
FRESH_KEY, DATA, EVENTS, FAILS, NEW = (
    ("a", "cpu"),
    ("b", "cpu"),
    ("c", "cpu"),
    ("d", "cpu"),
    ("e", "cpu"),
)
KEYS = [FRESH_KEY, DATA, EVENTS, FAILS, NEW]
LAUNCH = EventOccurrence(
    "Launch", pd.Timestamp("2024-01-05", tz="UTC"), pd.Timestamp("2024-01-06", tz="UTC"), 2.0, 3.0, "c"
)


def _fleet(db: Path) -> Store:
    """Five series, one of each kind."""
    store = Store.open(db)
    store.series.ingest(pd.concat([hourly_history(s, m, days=10, seed=i) for i, (s, m) in enumerate(KEYS)]))
    assert all(o.ok for o in forecast_stored(store, KEYS[:4], SPEC))
    later = hourly_history("b", "cpu", days=11, seed=1).tail(24)  # one more day of samples for b
    store.series.ingest(later)
    store.events.add_events([LAUNCH])  # c's calendar changed
    store.forecasts.save_failed_forecast("d", "cpu", SPEC, "the engine gave up")  # d's newest run failed
    return store


def test_every_caller_applies_the_same_rule(tmp_path: Path) -> None:
    store = _fleet(tmp_path / "rule.db")
    try:
        needs = store.forecasts.forecast_staleness()
        assert needs == {FRESH_KEY: FRESH, DATA: BEHIND, EVENTS: BEHIND, FAILS: FAILED, NEW: NEVER}
        expected = [DATA, EVENTS, FAILS, NEW]
        assert stale_keys(store, KEYS) == expected
        assert stale_keys(store, [*KEYS, ("gone", "cpu")]) == [*expected, ("gone", "cpu")]
        assert store.events.calendar_stale_series() == expected
        for key in KEYS[:4]:  # the served forecast (newest ok run) is behind exactly when the rule says so
            info = store.series.describe(*key)
            ok = store.forecasts.latest_forecast(*key, with_paths=False)
            assert ok is not None
            rule = forecast_behind(ok.data_version, ok.events_digest, info.data_version, info.events_digest)
            assert rule == (key in (DATA, EVENTS))
            assert behind(ok.data_version, ok.events_digest, info) == rule
            assert bool(stale_notes(info, ok)) == rule
    finally:
        store.close()


def test_the_count_a_calendar_write_reports_is_what_forecast_stale_then_forecasts(tmp_path: Path) -> None:
    from capacity.cli import cli

    db = tmp_path / "cli.db"
    store = Store.open(db)
    store.series.ingest(pd.concat([hourly_history(s, m, days=10, seed=i) for i, (s, m) in enumerate(KEYS)]))
    assert all(o.ok for o in forecast_stored(store, KEYS[:3], SPEC))  # d and e were never forecast
    store.close()
    (tmp_path / "events.csv").write_text("event,start,end\nSale,2024-01-05,2024-01-06\n")  # fleet-wide
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, [*args, "--db", str(db)])
        assert result.exit_code == 0, result.output
        return " ".join(str(result.output).split())

    out = run("events", "import", str(tmp_path / "events.csv"))
    assert "the events of 5 series changed; forecasts now stale: 5" in out
    assert "forecasting 5 series" in run("forecast", "--all", "--stale", "--horizon", "24h", "--workers", "1")
    assert "nothing to do" in run("forecast", "--all", "--stale", "--horizon", "24h")
