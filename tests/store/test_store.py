"""The store on SQLite and on a real PostgreSQL server: round trips, idempotence, one transaction per write."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capacity.config import SeriesConfig
from capacity.errors import InvalidHistory, UnknownEvent, UnknownSeries
from capacity.events.calendar import make_occurrence
from capacity.forecast.pipeline import forecast_series
from capacity.forecast.types import ForecastSpec
from capacity.schema import validate_history
from capacity.store import Store
from capacity.store.series import series_id
from tests.support.data import hourly_history


def test_ingest_round_trip_and_idempotent(any_store: Store) -> None:
    history = validate_history(hourly_history(days=3))
    first = any_store.series.ingest(history)
    assert (first.rows, first.inserted, first.created_series) == (72, 72, 1)
    again = any_store.series.ingest(history)
    assert again.inserted == 0 and again.updated == 72
    assert again.changed_series == 0  # the same values again change nothing
    back = any_store.series.load_history("svc", "cpu")
    assert len(back) == 72
    np.testing.assert_allclose(back.to_numpy(), history["value"].to_numpy())
    assert (back.index == pd.DatetimeIndex(history["ts"])).all()
    info = any_store.series.describe("svc", "cpu")
    assert info.samples == 72 and info.step_seconds == 3600 and info.data_version == 1
    corrected = history.assign(value=history["value"].where(history.index != 5, 99.0))
    assert any_store.series.ingest(corrected).changed_series == 1
    assert any_store.series.describe("svc", "cpu").data_version == 2
    assert any_store.series.load_history("svc", "cpu").iloc[5] == 99.0
    assert info.last_value == pytest.approx(history["value"].iloc[-1])


def test_duplicate_rows_in_one_batch_keep_the_last(any_store: Store) -> None:
    frame = pd.DataFrame(
        {
            "service": "a",
            "metric": "rps",
            "ts": ["2024-01-01T00:00Z", "2024-01-01T00:00Z"],
            "value": [1.0, 5.0],
        }
    )
    report = any_store.series.ingest(validate_history(frame))
    assert report.inserted == 1
    assert any_store.series.load_history("a", "rps").tolist() == [5.0]


def test_failed_transaction_stores_nothing(any_store: Store) -> None:
    any_store.series.ingest(validate_history(hourly_history(service="keep", days=1)))
    good = validate_history(hourly_history(service="new", days=1))
    with pytest.raises(RuntimeError), any_store.write() as conn:
        series_id(conn, "new", "cpu", create=True)
        raise RuntimeError("boom in the middle of a write")
    assert [s.service for s in any_store.series.list_series()] == ["keep"]
    any_store.series.ingest(good)
    assert {s.service for s in any_store.series.list_series()} == {"keep", "new"}


def test_bad_file_row_stores_nothing(store: Store) -> None:
    frame = hourly_history(days=1).astype({"value": object})
    frame.loc[5, "value"] = "oops"
    with pytest.raises(InvalidHistory, match="row 7: value is not a number"):
        store.series.ingest(validate_history(frame, first_row=2))
    assert store.series.list_series() == []


def test_configure_and_update_series(any_store: Store) -> None:
    any_store.series.ingest(validate_history(hourly_history(days=1)))
    any_store.series.configure_series([SeriesConfig("svc", "cpu", threshold=80.0, instances=4, agg="max")])
    info = any_store.series.describe("svc", "cpu")
    assert (info.threshold, info.instances, info.agg) == (80.0, 4, "max")
    info = any_store.series.update_series("svc", "cpu", threshold=70.0)
    assert info.threshold == 70.0
    with pytest.raises(UnknownSeries):
        any_store.series.update_series("nope", "cpu", threshold=1.0)
    with pytest.raises(UnknownSeries):
        any_store.series.describe("nope", "cpu")


def test_forecast_round_trip(any_store: Store) -> None:
    any_store.series.ingest(validate_history(hourly_history(days=14)))
    spec = ForecastSpec(horizon=24, n_paths=50)
    result = forecast_series(any_store.series.load_history("svc", "cpu"), spec)
    run_id = any_store.forecasts.save_forecast("svc", "cpu", result, spec)
    stored = any_store.forecasts.latest_forecast("svc", "cpu")
    assert stored is not None and stored.run_id == run_id and stored.model == result.model
    assert len(stored.frame) == 24
    np.testing.assert_allclose(stored.frame["mean"], result.frame["mean"])
    assert stored.paths is not None and stored.paths.shape == (50, 24)
    any_store.forecasts.save_failed_forecast("svc", "cpu", spec, "numerical trouble")
    status = any_store.forecasts.latest_run_status("svc", "cpu")
    assert status is not None and status["status"] == "failed"
    assert any_store.forecasts.latest_forecast("svc", "cpu").run_id == run_id  # type: ignore[union-attr]


def test_a_long_forecasts_weekly_peaks_survive_the_store(any_store: Store) -> None:
    any_store.series.ingest(validate_history(hourly_history(days=60)))
    spec = ForecastSpec(horizon=24 * 28, n_paths=20)
    result = forecast_series(any_store.series.load_history("svc", "cpu"), spec)
    assert result.peaks is not None
    any_store.forecasts.save_forecast("svc", "cpu", result, spec)
    stored = any_store.forecasts.latest_forecast("svc", "cpu")
    assert stored is not None and stored.peaks is not None
    assert list(stored.peaks.starts) == list(result.peaks.starts) and stored.peaks.days == result.peaks.days
    for level, weeks in result.peaks.levels.items():
        np.testing.assert_allclose(stored.peaks.levels[level], weeks)
    # the weekly peak paths, exactly (a long window's breach probability is read from them)
    assert result.peaks.paths is not None and stored.peaks.paths is not None
    np.testing.assert_array_equal(stored.peaks.paths, result.peaks.paths)


def test_events_crud(any_store: Store) -> None:
    bf = make_occurrence("Black Friday", "2025-11-28", "2025-11-28", 2.0, 3.0)
    launch = make_occurrence("Launch", "2026-06-09", "2026-06-10", service="checkout")
    assert any_store.events.add_events([bf, launch]) == 2
    assert any_store.events.add_events([bf]) == 1  # upsert, not a duplicate
    listed = any_store.events.list_events()
    assert [e.name for e in listed] == ["Black Friday", "Launch"]
    assert listed[0].end == pd.Timestamp("2025-11-29", tz="UTC")
    assert listed[1].service == "checkout"
    assert any_store.events.delete_event("launch") == 1
    with pytest.raises(UnknownEvent):
        any_store.events.delete_event("launch")


def test_integrity_and_ping(store: Store) -> None:
    assert store.ping()
    assert store.integrity_check() == "ok"
    assert store.path is not None and store.path.exists()


values = st.floats(min_value=0, max_value=100, allow_nan=False, allow_infinity=False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.lists(st.tuples(st.integers(min_value=0, max_value=10_000), values), min_size=1, max_size=60),
    name=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,20}", fullmatch=True),
)
def test_ingest_round_trip_property(tmp_path_factory: pytest.TempPathFactory, data: list, name: str) -> None:
    """Whatever valid rows go in come back: last value per timestamp, sorted, exact floats."""
    store = Store.open(tmp_path_factory.mktemp("h") / "p.db")
    frame = pd.DataFrame(
        {
            "service": name,
            "metric": "cpu",
            "ts": [pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(hours=h) for h, _ in data],
            "value": [v for _, v in data],
        }
    )
    store.series.ingest(validate_history(frame))
    store.series.ingest(validate_history(frame))
    expected = frame.drop_duplicates("ts", keep="last").set_index("ts")["value"].sort_index()
    back = store.series.load_history(name, "cpu")
    assert back.index.equals(pd.DatetimeIndex(expected.index))
    assert back.tolist() == expected.tolist()
    store.close()
