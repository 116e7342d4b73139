"""Every API route is documented in docs/api.md (with a curl example), and ``capacity bench api`` runs on tiny input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from api import create_app
from capacity.schema import validate_history
from tests.support.data import ROOT, hourly_history


def documented_routes() -> list[str]:
    """Every route of the app as ``METHOD /path/{param}`` (HEAD/OPTIONS and the static docs assets left out)."""
    app = create_app({"db": ":memory:", "worker": False})
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static",) or rule.rule.startswith(("/docs/", "/openapi.json/")):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-zA-Z_]+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append(f"{method} {path}")
    return sorted(set(out))


def test_every_route_is_in_the_api_reference() -> None:
    readme = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    routes = documented_routes()
    assert "GET /api/v1/series/{service}/{metric}/forecast" in routes and len(routes) > 20
    missing = [r for r in routes if r not in readme]
    assert not missing, f"routes missing from docs/api.md (write them as 'METHOD /path'): {missing}"


@pytest.mark.slow  # end to end, minutes on 2 cores: `make test-slow` (CI runs it)
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_bench_api_runs_on_tiny_input(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    db = ["--db", str(request.getfixturevalue("pg_database"))] if backend == "postgresql" else []
    frame = pd.concat([hourly_history("web", "rps", days=7), hourly_history("web", "cpu", days=7, seed=2)])
    frame = frame.rename(columns={"ts": "timestamp"})
    frame["timestamp"] = frame["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    fleet = tmp_path / "history.csv"
    frame.to_csv(fleet, index=False)
    out = tmp_path / "api.json"
    cmd = [
        str(Path(sys.executable).with_name("capacity")),
        "bench", "api", "--duration", "6s", "--users", "2", "--ingest-users", "1", "--batch", "500",
        "--series", "1", "--workers", "1", "--fleet", str(fleet), "--config", str(tmp_path / "none.toml"),
        "--json", str(out), *db,
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "cached forecast reads" in result.stdout and "samples/s" in result.stdout
    payload = json.loads(out.read_text())
    cached = [r for r in payload["rows"] if r["endpoint"] == "GET /forecast (cached)"]
    assert cached and cached[0]["requests"] > 0 and cached[0]["failures"] == 0
    assert payload["summary"]["ingest_samples_per_s"] > 0 and payload["summary"]["ingest_failures"] == 0
    assert payload["summary"]["database"] == ("PostgreSQL" if backend == "postgresql" else "SQLite")


def _infinity_queries(node: object) -> list[dict[str, object]]:
    """Every Infinity query (``source: url``) anywhere in the dashboard."""
    found = []
    if isinstance(node, dict):
        if node.get("source") == "url" and "url" in node:
            found.append(node)
        for value in node.values():
            found += _infinity_queries(value)
    elif isinstance(node, list):
        for value in node:
            found += _infinity_queries(value)
    return found


def test_grafana_dashboard_queries_work_against_the_api(tmp_path: Path) -> None:
    from tests.support.api import make_api

    dashboard = json.loads((ROOT / "grafana" / "dashboard.json").read_text(encoding="utf-8"))
    a = make_api(tmp_path)
    a.store.series.ingest(hourly_history("checkout", "cpu", days=10))
    assert (
        a.client.post(
            "/api/v1/events",
            json={"name": "Black Friday", "start": "2024-01-12", "end": "2024-01-12"},
            headers=a.write,
        ).status_code
        == 201
    )
    values = {
        "${service}": "checkout",
        "${metric}": "cpu",
        "${event}": "Black%20Friday",
        "${__from}": str(int(pd.Timestamp("2024-01-05", tz="UTC").timestamp() * 1000)),
        "${__to}": str(int(pd.Timestamp("2024-01-20", tz="UTC").timestamp() * 1000)),
    }
    queries = _infinity_queries(dashboard)
    assert len(queries) >= 7
    for query in queries:
        url = str(query["url"])
        for key, value in values.items():
            url = url.replace(key, value)
        assert "${" not in url, url
        response = a.client.get(url, headers=a.read)
        assert response.status_code == 200, (url, response.get_data(as_text=True)[:300])
        data: object = response.get_json()
        for part in [p for p in str(query["root_selector"]).split(".") if p]:
            assert isinstance(data, dict) and part in data, (url, part)
            data = data[part]
        rows = data if isinstance(data, list) else [data]
        assert rows, url
        for column in query["columns"]:  # type: ignore[attr-defined]
            assert column["selector"] in rows[0], (url, column["selector"], rows[0])


@pytest.mark.slow  # end to end, minutes on 2 cores: `make test-slow` (CI runs it)
def test_bench_api_refuses_a_database_that_holds_series(tmp_path: Path) -> None:
    from capacity.store import Store

    db = tmp_path / "prod.db"
    store = Store.open(db)
    store.series.ingest(validate_history(hourly_history("web", "rps", days=2)))
    store.close()
    cmd = [
        str(Path(sys.executable).with_name("capacity")),
        "bench",
        "api",
        "--db",
        str(db),
        "--duration",
        "5s",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert (
        result.returncode == 2
        and "must be an empty database" in result.stderr
        and "1 series" in result.stderr
    )
    assert "Traceback" not in result.stderr + result.stdout
    store = Store.open(db)
    assert [(s.service, s.metric) for s in store.series.list_series()] == [
        ("web", "rps")
    ]  # nothing loaded into it
    store.close()
