"""Readiness report, charts and the risk commands on a tiny real store (SQLite, real forecasts)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from api import create_app
from capacity.cli import cli
from capacity.config import SeriesConfig
from capacity.events.calendar import EventOccurrence
from capacity.forecast.types import ForecastSpec
from capacity.report.render import ReportInput, render_html, render_markdown
from capacity.risk.assess import BREACH_LIKELY, OK, RISK_COLUMNS
from capacity.schema import validate_history
from capacity.services.fleet_risk import load_fleet_risks
from capacity.services.forecasting import forecast_stored
from capacity.store import Store

END = pd.Timestamp("2026-03-01", tz="UTC")
SALE = pd.Timestamp("2026-03-04", tz="UTC")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _history() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    idx = pd.date_range(END - pd.Timedelta(days=56), END, freq="h", inclusive="left")
    daily = np.sin((idx.hour.to_numpy() - 6) / 24 * 2 * np.pi)
    past_sale = (idx >= pd.Timestamp("2026-01-21", tz="UTC")) & (idx < pd.Timestamp("2026-01-22", tz="UTC"))
    frames = []
    for service, level, amp in (("shop", 55.0, 12.0), ("quiet", 20.0, 5.0)):
        cpu = (level + amp * daily + rng.normal(0, 1.5, len(idx))) * np.where(past_sale, 1.5, 1.0)
        frames.append(
            pd.DataFrame({"service": service, "metric": "cpu", "ts": idx, "value": np.clip(cpu, 0, 100)})
        )
    return validate_history(pd.concat(frames, ignore_index=True))


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("report") / "fleet.db")
    store = Store.open(path)
    store.series.ingest(_history())
    store.series.configure_series(
        [
            SeriesConfig("shop", "cpu", threshold=75.0, instances=10),
            SeriesConfig("quiet", "cpu", threshold=80.0),
        ]
    )
    day = pd.Timedelta(days=1)
    store.events.add_events(
        [
            EventOccurrence(
                "Sale", pd.Timestamp("2026-01-21", tz="UTC"), pd.Timestamp("2026-01-22", tz="UTC")
            ),
            EventOccurrence("Sale", SALE, SALE + day),
            EventOccurrence("Mystery", SALE + 2 * day, SALE + 3 * day, service="quiet"),
        ],
        source="test",
    )
    outcomes = forecast_stored(
        store, [("shop", "cpu"), ("quiet", "cpu")], ForecastSpec(horizon=24 * 8, models=("seasonal_mean",))
    )
    assert all(o.ok for o in outcomes)
    store.close()
    return path


def test_fleet_risks_flag_the_hot_series_and_not_the_quiet_one(db):
    store = Store.open(db)
    run = load_fleet_risks(store, event="sale")
    assert list(run.frame.columns) == list(RISK_COLUMNS)
    by_service = {r["service"]: r for r in run.frame.to_dict(orient="records")}
    assert by_service["shop"]["status"] == BREACH_LIKELY  # 1.5 x (55 + 12) ~ 100 > 75 during the sale
    assert by_service["quiet"]["status"] == OK
    assert run.frame.iloc[0]["service"] == "shop"
    assert run.windows[("shop", "cpu")].end == SALE + pd.Timedelta(days=1)
    assert "learned from 1 past occurrence" in by_service["shop"]["note"]
    # Until a date past the first-time event: the quiet series' Mystery gets the calendar's pooled prior (its Sale
    # was learned), says that the uplift is assumed, and is ranked on its probability like any other series.
    later = load_fleet_risks(store, until=SALE + pd.Timedelta(days=4))
    quiet = later.frame[later.frame["service"] == "quiet"].iloc[0]
    assert quiet["status"] == OK and "Mystery" in quiet["note"] and "uplift assumed" in quiet["note"]


def test_report_renders_and_its_html_references_charts_that_exist(db, tmp_path):
    out = tmp_path / "rep"
    result = CliRunner().invoke(cli, ["report", "--event", "Sale", "--out", str(out), "--db", db])
    assert result.exit_code == 0, result.output
    assert "report.html" in result.output
    html_text = (out / "report.html").read_text(encoding="utf-8")
    images = re.findall(r'<img src="([^"]+)"', html_text)
    assert images, "the at-risk series must have a chart"
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)
    md = (out / "report.md").read_text(encoding="utf-8")
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert linked and all(
        (out / name).is_file() and (out / name).read_bytes().startswith(PNG_MAGIC) for name in linked
    )
    payload = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert payload["event"] == "Sale" and payload["counts"][BREACH_LIKELY] == 1
    assert all((out / f).is_file() for f in payload["charts"].values())
    assert payload["risks"][0]["service"] == "shop"


def test_the_cli_and_the_api_show_the_same_readiness_report(db, tmp_path):
    out = tmp_path / "rep"
    result = CliRunner().invoke(cli, ["report", "--event", "Sale", "--out", str(out), "--db", db])
    assert result.exit_code == 0, result.output
    from_cli = json.loads((out / "report.json").read_text(encoding="utf-8"))
    store = Store.open(db)
    _, secret = store.tokens.create_token(["read"], "same-report")
    store.close()
    app = create_app({"db": db, "worker": False})
    response = app.test_client().get(
        "/api/v1/events/Sale/report?format=json", headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 200
    from_api = response.get_json()
    app.extensions["capacity"].store.close()
    for payload in (from_cli, from_api):
        payload.pop("generated_at")
        payload.pop("charts")  # file names: the CLI writes files, the API embeds the images
    assert from_api == from_cli
    # Both list only the uplifts inside each series' window: the quiet series' Mystery comes after the sale.
    assert not any("Mystery" in line for lines in from_api["uplifts"].values() for line in lines)


def test_risks_and_plot_commands(db, tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["risks", "--event", "Sale", "--db", db, "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    assert "breach likely" in result.output and "shop" in result.output
    assert json.loads((tmp_path / "r.json").read_text())["risks"][0]["status"] == BREACH_LIKELY
    png = tmp_path / "shop.png"
    result = runner.invoke(cli, ["plot", "shop", "cpu", "--event", "Sale", "--out", str(png), "--db", db])
    assert result.exit_code == 0, result.output
    assert png.read_bytes().startswith(PNG_MAGIC)
    bad = runner.invoke(cli, ["risks", "--event", "Nope", "--db", db])
    assert bad.exit_code == 2 and "unknown event 'Nope'" in bad.output and "Traceback" not in bad.output
    both = runner.invoke(cli, ["risks", "--event", "Sale", "--until", "2026-03-10", "--db", db])
    assert both.exit_code == 2 and "not both" in both.output


def test_user_strings_are_escaped():
    frame = pd.DataFrame(
        [
            {
                **dict.fromkeys(RISK_COLUMNS),
                "service": "svc",
                "metric": "cpu",
                "status": BREACH_LIKELY,
                "breach_probability": 0.9,
                "note": '<script>alert("x")</script> & more',
            }
        ],
        columns=list(RISK_COLUMNS),
    )
    report = ReportInput(
        title="Peak <b>readiness</b> & co",
        window="until <i>then</i>",
        frame=frame,
        uplifts={("svc", "cpu"): ["<img src=x onerror=alert(1)>"]},
    )
    page = render_html(report)
    assert "<script>" not in page and "<img src=x" not in page and "<b>readiness" not in page
    assert "&lt;script&gt;" in page and "&amp; co" in page
    assert "<script>" not in render_markdown(report)


def test_chart_files_are_named_safely(tmp_path: Path):
    from capacity.cli.risk import chart_filename

    assert chart_filename("svc:1", "cpu") == "svc_1-cpu.png"


def test_events_import_and_list(tmp_path):
    db = str(tmp_path / "ev.db")
    csv = tmp_path / "events.csv"
    csv.write_text("event,start,end,multiplier_low,multiplier_high\nLaunch,2026-12-01,2026-12-02,2,3\n")
    runner = CliRunner()
    ok = runner.invoke(cli, ["events", "import", str(csv), "--db", db, "--create"])
    assert ok.exit_code == 0 and "imported 1 occurrences of 1 events" in ok.output
    hol = runner.invoke(cli, ["events", "import", "--holidays", "US", "--years", "2025-2026", "--db", db])
    assert hol.exit_code == 0, hol.output
    listed = runner.invoke(cli, ["events", "list", "--after", "2026-11-01", "--db", db])
    assert listed.exit_code == 0
    assert "Launch" in listed.output and "2x-3x" in listed.output and "Thanksgiving Day" in listed.output
    store = Store.open(db)
    thanksgiving = [e for e in store.events.list_events("Thanksgiving Day") if e.start.year == 2026]
    assert thanksgiving[0].start == pd.Timestamp("2026-11-26", tz="UTC")
    assert thanksgiving[0].end == pd.Timestamp("2026-11-27", tz="UTC")
    bad = tmp_path / "bad.csv"
    bad.write_text("event,start,end\nX,2026-13-01,2026-12-02\n")
    failed = runner.invoke(cli, ["events", "import", str(bad), "--db", db])
    assert failed.exit_code == 2 and "row 2" in failed.output and "Traceback" not in failed.output
    neither = runner.invoke(cli, ["events", "import", "--db", db])
    assert neither.exit_code == 2 and "--holidays" in neither.output


def test_risks_say_when_they_rest_on_a_stale_forecast(tmp_path: Path):
    path = str(tmp_path / "stale.db")
    store = Store.open(path)
    try:
        history = _history()
        store.series.ingest(history[history["service"] == "quiet"])
        store.series.configure_series([SeriesConfig("quiet", "cpu", threshold=80.0)])
        spec = ForecastSpec(horizon=24 * 3, models=("seasonal_mean",))
        assert all(o.ok for o in forecast_stored(store, [("quiet", "cpu")], spec))

        def note() -> str:
            return str(load_fleet_risks(store).frame.iloc[0]["note"])

        assert "stale" not in note()
        store.events.add_events([EventOccurrence("Flash", SALE, SALE + pd.Timedelta(days=1))], source="test")
        assert "stale forecast: made before the events calendar changed" in note()
        newer = history[history["service"] == "quiet"].tail(1).assign(ts=END, value=21.0)
        store.series.ingest(newer)
        assert "before the latest data" in note() and "and before the events calendar changed" in note()
        result = CliRunner().invoke(cli, ["risks", "--db", path])
        assert result.exit_code == 0 and "quiet/cpu: stale forecast" in result.output  # shown though it is ok
        assert all(o.ok for o in forecast_stored(store, [("quiet", "cpu")], spec))
        assert "stale" not in note()
    finally:
        store.close()
