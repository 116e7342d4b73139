"""The ``capacity`` command end to end in a subprocess: help, ingest, series, forecast, and clean errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.data import hourly_history

CAPACITY = [sys.executable, "-m", "capacity.cli"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CAPACITY, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_capacity_imports_without_flask_or_locust() -> None:
    code = (
        "import sys, capacity, capacity.schema, capacity.forecast, capacity.store, capacity.cli, capacity.batch\n"
        "bad = [m for m in ('flask', 'apiflask', 'locust', 'gevent') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_capacity_serve_can_name_the_metrics_directory_before_prometheus_client_loads() -> None:
    # capacity serve imports api.shared_dir, sets PROMETHEUS_MULTIPROC_DIR, and only then imports the server (and
    # through it prometheus_client, which picks its multiprocess mode once, at import).
    code = "import sys, capacity.cli, api.shared_dir\nassert 'prometheus_client' not in sys.modules\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_every_command_has_help_with_an_example() -> None:
    from click.testing import CliRunner

    from capacity.cli import cli

    def walk(group, prefix):  # type: ignore[no-untyped-def]
        for name, command in group.commands.items():
            yield (*prefix, name), command
            if hasattr(command, "commands"):
                yield from walk(command, (*prefix, name))

    runner = CliRunner()
    seen = 0
    for path, command in walk(cli, ()):
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        if hasattr(command, "commands"):
            continue
        seen += 1
        assert "capacity " in (command.help or ""), f"capacity {' '.join(path)} --help shows no example"
    assert seen >= 10


def test_ingest_series_forecast(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    frame = hourly_history(days=15)
    frame["ts"] = frame["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    frame.rename(columns={"ts": "timestamp"}).to_csv(tmp_path / "h.csv", index=False)
    out = run("ingest", str(tmp_path / "h.csv"), "--db", db, "--create")
    assert out.returncode == 0, out.stderr
    assert "ingested 360 rows into 1 series (360 new" in out.stdout
    again = run("ingest", str(tmp_path / "h.csv"), "--db", db)
    assert "(0 new, 360 already stored" in again.stdout
    listing = run("series", "--db", db)
    assert "svc" in listing.stdout and "360" in listing.stdout
    fc = run("forecast", "svc", "--metric", "cpu", "--horizon", "24h", "--db", db)
    assert fc.returncode == 0, fc.stderr
    assert "1 forecasts" in fc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "/no/such/file.csv"], "error: /no/such/file.csv does not exist"),
        (["forecast"], "error: give a SERVICE or --all"),
        (["forecast", "ghost", "--horizon", "1d"], "error: unknown series ghost"),
        (["forecast", "--all", "--horizon", "soon"], "error: horizon must be a duration like 24h"),
        (["forecast", "bad name"], "error: service may hold only"),
    ],
)
def test_errors_are_one_line_without_traceback(tmp_path: Path, args: list[str], message: str) -> None:
    out = run(*args, "--db", str(tmp_path / "e.db"), "--create")
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_bad_file_stores_nothing(tmp_path: Path) -> None:
    db = str(tmp_path / "bad.db")
    (tmp_path / "bad.csv").write_text(
        "timestamp,service,metric,value\n2024-01-01T00:00Z,a,cpu,1\n2024-01-01T01:00Z,a,cpu,101\n"
    )
    out = run("ingest", str(tmp_path / "bad.csv"), "--db", db, "--create")
    assert out.returncode == 2
    assert "bad.csv: row 3: value must be at most 100 for 'cpu' (a percent), got '101'" in out.stderr
    assert not Path(db).exists()  # refused before the database was even created
    assert "no series stored yet" in run("series", "--db", db, "--create").stdout


def test_unreachable_database_is_a_clean_error(tmp_path: Path) -> None:
    out = run("series", "--db", "postgresql://nobody:secret@127.0.0.1:1/none")
    assert out.returncode == 2
    assert "cannot reach or migrate the database" in out.stderr
    assert "secret" not in out.stderr and "Traceback" not in out.stderr


def test_every_command_is_in_the_cli_reference() -> None:
    from capacity.cli import cli
    from tests.support.data import ROOT

    readme = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    missing = []
    for name, command in cli.commands.items():
        subs = getattr(command, "commands", None)
        paths = [f"capacity {name} {sub}" for sub in subs if sub != "files"] if subs else [f"capacity {name}"]
        missing += [p for p in paths if p not in readme]
    assert "capacity ingest " in readme
    assert not missing, f"commands missing from docs/cli.md: {missing}"
