"""Hostile and broken input: a clear 4xx problem document (or CLI error), nothing stored, nothing leaked."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from api import create_app
from capacity.bench.reliability.hostile import (
    SAMPLES,
    Answer,
    Case,
    cases,
    check_answer,
    run_cases,
    run_injection_roundtrip,
)
from capacity.events.calendar import EventOccurrence
from capacity.store import Store
from tests.support.data import ROOT, hourly_history

TABLES = ("series", "samples", "events", "tokens", "jobs", "forecast_runs")


def counts(store: Store) -> dict[str, int]:
    """Rows per table (what a rejected request must leave unchanged)."""
    names = set(sa.inspect(store.engine).get_table_names())
    with store.engine.connect() as conn:
        return {
            t: int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one())
            for t in TABLES
            if t in names
        }


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[Any, Store, str]]:
    store = Store.open(tmp_path / "hostile.db")
    _, token = store.tokens.create_token(["admin"], "hostile")
    app = create_app({"db": str(tmp_path / "hostile.db"), "worker": False}, store=store)
    yield app, store, token
    store.close()


def sender(app: Any) -> Any:
    client = app.test_client()

    def send(method: str, path: str, headers: dict[str, str], body: bytes | None) -> Answer:
        resp = client.open(path, method=method, headers=headers, data=body)
        return resp.status_code, {k.lower(): v for k, v in resp.headers.items()}, resp.get_data()

    return send


def test_every_hostile_request_gets_a_problem_document_and_stores_nothing(
    api: tuple[Any, Store, str],
) -> None:
    app, store, token = api
    result = run_cases(sender(app), lambda: counts(store), token)
    assert result.cases == len(cases()) >= 45
    assert result.failures == 0 and result.stored == 0, "\n".join(result.problems)


def test_deeply_nested_json_is_a_400_not_a_500(api: tuple[Any, Store, str]) -> None:
    """Regression: ``[[[[...`` raised RecursionError in the JSON decoder, which reached the 500 handler."""
    app, store, token = api
    send = sender(app)
    for path in (SAMPLES, "/api/v1/events", "/api/v1/jobs/forecasts"):
        answer = send(
            "POST",
            path,
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            b"[" * 20_000,
        )
        assert answer[0] == 400, (path, answer)
        assert not check_answer(path, answer, (400,))
    assert counts(store)["samples"] == 0


def test_injection_strings_are_stored_verbatim_and_escaped_in_the_report(api: tuple[Any, Store, str]) -> None:
    app, store, token = api
    history = hourly_history("hostile", "cpu", days=14)
    history["ts"] = (
        history["ts"] + (pd.Timestamp("2026-01-01", tz="UTC") - history["ts"].max()) - pd.Timedelta(hours=1)
    )
    store.series.ingest(history)
    result = run_injection_roundtrip(sender(app), token)
    assert result.failures == 0, "\n".join(result.problems)
    assert set(counts(store)) >= {"events", "samples"}  # the tables are all still there


class CountingStream(io.RawIOBase):
    """A request body that claims 10 million CSV rows and counts how much of it the server reads."""

    ROW = b"2026-01-01T00:00:00Z,41.5\n"

    def __init__(self, rows: int) -> None:
        self.size = len(b"timestamp,value\n") + rows * len(self.ROW)
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.read_bytes

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.size - self.read_bytes)
        buffer[:n] = (self.ROW * (n // len(self.ROW) + 1))[:n]
        self.read_bytes += n
        return n


def test_ten_million_rows_get_413_without_the_body_being_read(api: tuple[Any, Store, str]) -> None:
    app, store, token = api
    stream = CountingStream(10_000_000)
    resp = app.test_client().post(
        SAMPLES,
        environ_overrides={"wsgi.input": stream, "CONTENT_LENGTH": str(stream.size)},
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"},
    )
    assert resp.status_code == 413 and resp.mimetype == "application/problem+json"
    assert "limit" in resp.get_json()["detail"]
    assert stream.read_bytes < 1_000_000, f"the server read {stream.read_bytes:,} of {stream.size:,} bytes"
    assert counts(store)["samples"] == 0


def test_mixed_utc_offsets_are_each_converted_to_utc(api: tuple[Any, Store, str]) -> None:
    """Timestamps with different offsets name exact instants: each is stored as its own UTC time."""
    app, store, token = api
    body = b'{"ts":["2026-01-01T02:00:00+02:00","2026-01-01T01:00:00Z","2026-01-01T00:00:00-03:00"],"value":[1,2,3]}'
    answer = sender(app)(
        "POST", SAMPLES, {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}, body
    )
    assert answer[0] == 201, answer
    stored = store.series.load_history("hostile", "cpu")
    assert [t.isoformat() for t in stored.index] == [
        "2026-01-01T00:00:00+00:00",
        "2026-01-01T01:00:00+00:00",
        "2026-01-01T03:00:00+00:00",
    ]


def test_naive_and_zoned_timestamps_mixed_are_refused(api: tuple[Any, Store, str]) -> None:
    """A timestamp without a zone next to ones with a zone is ambiguous: 422 naming the row, nothing stored."""
    app, store, token = api
    body = b'{"ts":["2026-01-01T01:00:00Z","2026-01-01 02:00:00"],"value":[1,2]}'
    answer = sender(app)(
        "POST", SAMPLES, {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}, body
    )
    assert answer[0] == 422, answer
    assert "mixed time zones" in str(answer)
    assert counts(store)["samples"] == 0


def test_report_out_path_with_traversal_in_event_name_writes_only_under_out(tmp_path: Path) -> None:
    """``capacity report --out DIR``: files land in DIR whatever the event and series names hold."""
    db = tmp_path / "r.db"
    store = Store.open(db)
    history = hourly_history("svc", "cpu", days=14)
    store.series.ingest(history)
    name = "../../escape/'; DROP TABLE events;--"
    end = history["ts"].max()
    store.events.add_events([EventOccurrence(name, end + pd.Timedelta(days=1), end + pd.Timedelta(days=2))])
    store.close()
    capacity = str(Path(sys.executable).with_name("capacity"))
    subprocess.run(
        [capacity, "forecast", "--all", "--db", str(db)], check=True, capture_output=True, cwd=tmp_path
    )
    out = tmp_path / "deep" / "out"
    run = subprocess.run(
        [capacity, "report", "--event", name, "--out", str(out), "--db", str(db)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    written = {
        p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in {".html", ".md", ".json", ".png"}
    }
    assert written and all(out in p.parents for p in written), written
    assert not (tmp_path / "escape").exists() and not (tmp_path.parent / "escape").exists()
    html = (out / "report.html").read_text()
    assert "DROP TABLE events;--" in html and "'; DROP" not in html  # present, quote escaped


@pytest.mark.parametrize(
    "args",
    [
        ["ingest", "{csv}"],
    ],
)
def test_cli_rejects_a_broken_csv_with_one_line_and_stores_nothing(tmp_path: Path, args: list[str]) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_bytes(
        b"timestamp,service,metric,value\n2026-01-01T00:00:00Z,svc,cpu,1\n2026-01-01T01:00:00Z,svc,cpu,nan\n"
    )
    db = tmp_path / "c.db"
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("capacity")),
            *[a.format(csv=csv) for a in args],
            "--db",
            str(db),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert run.returncode != 0
    assert "Traceback" not in run.stderr and "row" in (run.stderr + run.stdout)
    store = Store.open(db)
    assert counts(store)["samples"] == 0
    store.close()


def test_case_names_are_unique() -> None:
    names = [c.name for c in cases()]
    assert len(names) == len(set(names))
    assert all(isinstance(c, Case) for c in cases())
