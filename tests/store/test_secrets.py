"""Server secrets in the database (the chart URL signing key): created once, then the same for every store on the
database (every worker, every restart), on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from capacity.store import Store


def _agree(first: Store, second: Store) -> None:
    key = first.secrets.get_or_create("url-signing-key")
    assert len(key) == 32
    assert second.secrets.get_or_create("url-signing-key") == key  # another pool: another worker, a restart
    assert first.secrets.get_or_create("other") != key  # each name its own secret


def test_a_secret_is_created_once_and_shared_on_sqlite(tmp_path: Path) -> None:
    first, second = Store.open(tmp_path / "s.db"), Store.open(tmp_path / "s.db")
    try:
        _agree(first, second)
    finally:
        first.close()
        second.close()
    reopened, elsewhere = Store.open(tmp_path / "s.db"), Store.open(tmp_path / "t.db")
    try:
        key = reopened.secrets.get_or_create("url-signing-key")
        assert len(key) == 32 and elsewhere.secrets.get_or_create("url-signing-key") != key
    finally:
        reopened.close()
        elsewhere.close()


def test_a_secret_is_created_once_and_shared_on_postgres(pg_store: Store) -> None:
    second = Store.open(pg_store.engine.url.render_as_string(hide_password=False))
    try:
        _agree(pg_store, second)
    finally:
        second.close()
