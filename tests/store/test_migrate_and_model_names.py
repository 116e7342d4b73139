"""Store regressions found by the reliability bench."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from capacity.store import Store


def test_stores_opened_from_several_threads_at_once_all_migrate(tmp_path: Path) -> None:
    """Regression: Alembic keeps its environment in module globals, so two threads migrating at once crashed
    with ``KeyError: 'script'`` (the reliability bench opens its databases from parallel checks)."""

    def open_close(i: int) -> int:
        store = Store.open(tmp_path / f"db{i}.db")
        try:
            return len(store.series.list_series())
        finally:
            store.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(open_close, range(12))) == [0] * 12


LONG_MODEL = "ensemble(seasonal_naive_daily+harmonic+mstl_ets+recent_daily_mean+seasonal_median_daily)"


def _save_long_model(store: Store) -> None:
    from dataclasses import replace

    from capacity.forecast.pipeline import forecast_series
    from capacity.forecast.types import ForecastSpec
    from tests.support.data import hourly_history

    history = hourly_history("svc", "cpu", days=7)
    store.series.ingest(history)
    spec = ForecastSpec(horizon=24, models=("seasonal_naive_daily",))
    result = forecast_series(history.set_index("ts")["value"], spec)
    store.forecasts.save_forecast("svc", "cpu", replace(result, model=LONG_MODEL), spec)
    stored = store.forecasts.latest_forecast("svc", "cpu")
    assert stored is not None and stored.model == LONG_MODEL and len(stored.frame) == 24


def test_a_five_member_ensemble_name_is_saved_on_sqlite(store: Store) -> None:
    _save_long_model(store)


def test_a_five_member_ensemble_name_is_saved_on_postgresql(pg_store: Store) -> None:
    """Regression: ``forecast_runs.model`` is VARCHAR(64) and PostgreSQL enforces it, so every forecast whose
    chosen model was a 5-member ensemble (names up to ~90 characters) failed to save with "value too long"."""
    _save_long_model(pg_store)
