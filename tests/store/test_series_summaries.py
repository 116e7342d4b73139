"""The per-series sample summaries (count, first/last timestamp, last value) kept at ingest equal a scan of the
samples after any sequence of ingests, and the migration that adds them fills them from the samples."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capacity.schema import validate_history
from capacity.store import Store
from capacity.store.db import make_engine, migrate

T0 = pd.Timestamp("2026-01-01", tz="UTC")


def _summaries(store: Store) -> dict[tuple[str, str], tuple[int, int | None, int | None, float | None]]:
    """The stored summaries, in the shape of :meth:`SeriesRepository.scan_summaries`."""
    return {
        (s.service, s.metric): (
            s.samples,
            None if s.first_ts is None else int(s.first_ts.timestamp()),
            None if s.last_ts is None else int(s.last_ts.timestamp()),
            s.last_value,
        )
        for s in store.series.list_series()
    }


def _batch(rows: list[tuple[str, int, float]]) -> pd.DataFrame:
    return validate_history(
        pd.DataFrame(
            {
                "service": [r[0] for r in rows],
                "metric": "cpu",
                "ts": [T0 + pd.Timedelta(hours=r[1]) for r in rows],
                "value": [r[2] for r in rows],
            }
        )
    )


ROWS = st.lists(
    st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 40), st.floats(0, 100, allow_nan=False)),
    min_size=1,
    max_size=30,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(ROWS, min_size=1, max_size=5))
def test_summaries_kept_at_ingest_equal_a_scan(
    tmp_path: Path, batches: list[list[tuple[str, int, float]]]
) -> None:
    # batches overlap, go back in time, re-send samples and replace the newest value: every case of the update
    store = Store.open(tmp_path / f"s{abs(hash(str(batches)))}.db")
    try:
        for rows in batches:
            store.series.ingest(_batch(rows))
            assert _summaries(store) == store.series.scan_summaries()
    finally:
        store.close()


def test_a_later_batch_moves_the_span_and_the_last_value(any_store: Store) -> None:
    any_store.series.ingest(_batch([("a", 5, 1.0), ("a", 6, 2.0)]))
    any_store.series.ingest(_batch([("a", 2, 7.0), ("a", 6, 3.0)]))  # earlier sample, and the newest replaced
    info = any_store.series.describe("a", "cpu")
    assert (info.samples, info.first_ts, info.last_ts, info.last_value) == (
        3,
        T0 + pd.Timedelta(hours=2),
        T0 + pd.Timedelta(hours=6),
        3.0,
    )
    assert info.step_seconds == 2 * 3600
    any_store.series.ingest(_batch([("a", 9, 4.0)]))
    assert [(s.samples, s.last_value) for s in any_store.series.list_series()] == [(4, 4.0)]
    assert _summaries(any_store) == any_store.series.scan_summaries()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, not migrated: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "old.db")
    return str(request.getfixturevalue("pg_database"))


def test_the_migration_fills_the_summaries_of_a_store_made_before_it(empty_db: str) -> None:
    engine = make_engine(empty_db)
    migrate(engine, "0005")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO series (id, service, metric, unit, created_at, updated_at) VALUES "
                "(1, 'a', 'cpu', 'percent', 0, 0), (2, 'b', 'cpu', 'percent', 0, 0)"
            )
        )
        conn.execute(sa.text("INSERT INTO samples (series_id, ts, value) VALUES (1, 100, 1.5), (1, 50, 2.5)"))
    engine.dispose()
    store = Store.open(empty_db)
    try:
        assert _summaries(store) == {("a", "cpu"): (2, 50, 100, 1.5), ("b", "cpu"): (0, None, None, None)}
        assert _summaries(store) == store.series.scan_summaries()
    finally:
        store.close()
