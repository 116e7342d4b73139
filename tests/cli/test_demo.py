"""The demo end to end: generated sample fleet -> ingest -> forecasts -> ranked risks -> readiness report.

Also checks the sample fleet's designed story: the at-risk services are flagged and the safe ones are not.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.data import ROOT

CAPACITY = [sys.executable, "-m", "capacity.cli"]

AT_RISK = [("checkout", "cpu"), ("checkout", "rps"), ("payments", "cpu"), ("payments", "rps")]
SAFE = [("auth", "cpu"), ("auth", "rps"), ("cdn-edge", "cpu"), ("cdn-edge", "rps"), ("search", "rps")]


@pytest.mark.slow  # end to end, minutes on 2 cores: `make test-slow` (CI runs it)
def test_demo_end_to_end(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    gen = subprocess.run(
        [sys.executable, str(ROOT / "data" / "generate_fleet.py"), "--out", str(fleet)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert gen.returncode == 0, gen.stderr
    db = tmp_path / "demo.db"
    report = tmp_path / "report"
    out = subprocess.run(
        [
            *CAPACITY,
            "demo",
            "--data",
            str(fleet / "history.csv"),
            "--config",
            str(ROOT / "data" / "fleet.toml"),
            "--db",
            str(db),
            "--out",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "Traceback" not in out.stdout + out.stderr
    for line in ("[1/4] loaded 234,672 rows into 24 series", "[3/4] breach risk", "start the API on it"):
        assert line in out.stdout
    assert (report / "report.html").exists() and any((report / "charts").glob("*.png"))

    risks_json = tmp_path / "risks.json"
    risks = subprocess.run(
        [*CAPACITY, "risks", "--event", "Black Friday", "--db", str(db), "--json", str(risks_json)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert risks.returncode == 0, risks.stderr
    status = {(r["service"], r["metric"]): r["status"] for r in json.loads(risks_json.read_text())["risks"]}
    assert len(status) == 24
    for key in AT_RISK:
        assert status[key] in ("breach likely", "at risk"), (key, status[key])
    for key in SAFE:
        assert status[key] == "ok", (key, status[key])
