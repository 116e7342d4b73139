"""``capacity plan`` end to end on a temporary SQLite database: the week-by-week table (unfolded when piped), the
JSON, a PNG chart per series, the plan stored, then scored by ``capacity accuracy --plans`` once the actuals
arrive; bad options give one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from capacity.cli import cli
from capacity.store import Store
from tests.support.yearly import hourly_cpu, store_series

CUT = pd.Timestamp("2023-01-02", tz="UTC")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "plan.db"
    store = Store.open(path)
    full = hourly_cpu(2.3, seed=2)
    store_series(store, full[full.index < CUT], "shop", "cpu", threshold=50.0, instances=6, agg="max")
    store.close()
    return path


def test_plan_prints_writes_json_and_charts_then_accuracy_scores_it(db: Path, tmp_path: Path) -> None:
    out, charts = tmp_path / "plan.json", tmp_path / "charts"
    result = CliRunner().invoke(
        cli, ["plan", "--horizon", "6w", "--db", str(db), "--json", str(out), "--chart", str(charts)]
    )
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("│")]
    assert len(rows) == 6, result.output  # one line per week
    assert all(line.count("│") == 8 for line in rows), "a table row was folded"
    assert sum(1 for line in result.output.splitlines() if line.startswith("┃")) == 1  # a one-line header
    assert (
        "shop/cpu daily max of hourly maxima, threshold 50%" in result.output
        and "1 plan(s), 1 stored" in result.output
    )
    (record,) = json.loads(out.read_text())
    # the table states the JSON's weeks, with the unit the risk table gives a percent metric
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in rows]
    assert [c[1:3] for c in cells] == [[f"{w['p50']:.1f}%", f"{w['p90']:.1f}%"] for w in record["weeks"]]
    assert record["service"] == "shop" and len(record["weeks"]) == 6
    assert record["weeks"][0]["start"].startswith("2023-01-02")
    for week in record["weeks"]:
        assert week["p50"] <= week["p90"] and week["instances_needed"] >= 1
        assert 0.0 <= week["crossing_probability"] <= week["cumulative_probability"] <= 1.0
    png = (charts / "plan-shop-cpu.png").read_bytes()
    assert png.startswith(b"\x89PNG")

    pending = CliRunner().invoke(cli, ["accuracy", "--plans", "--db", str(db)])
    assert pending.exit_code == 0 and "no plan week has actuals yet" in pending.output
    store = Store.open(db)
    full = hourly_cpu(2.3, seed=2)
    store_series(store, full[full.index >= CUT], "shop", "cpu")
    store.close()
    acc = tmp_path / "acc.json"
    scored = CliRunner().invoke(cli, ["accuracy", "--plans", "--db", str(db), "--json", str(acc)])
    assert scored.exit_code == 0, scored.output
    doc = json.loads(acc.read_text())
    assert doc["summary"]["weeks"] == 6 and doc["summary"]["plans"] == 1
    (plan,) = doc["plans"]
    assert plan["score"]["weeks_scored"] == 6 and len(plan["scored_weeks"]) == 6
    assert 0.0 <= plan["score"]["within_10"] <= plan["score"]["within_20"] <= 1.0
    assert "6/6" in scored.output and "within ±10%" in scored.output


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (["--horizon", "13d"], "horizon"),
        (["--quarter", "2022Q1"], "quarter"),
        (["--service", "nope"], "nope"),
    ],
)
def test_bad_plan_options_are_one_line_and_exit_2(db: Path, args: list[str], word: str) -> None:
    result = CliRunner().invoke(cli, ["plan", "--db", str(db), *args])
    assert result.exit_code == 2
    assert word in result.output and "Traceback" not in result.output
    store = Store.open(db)
    assert store.plans.list_plans() == []  # nothing half stored
    store.close()
