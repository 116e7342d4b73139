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
            return len(store.list_series())
        finally:
            store.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(open_close, range(12))) == [0] * 12
