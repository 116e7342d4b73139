"""One computation behind every number shown for a series, on a real series: the risk row, the chart and the API's
forecast come from the same sample paths and quantiles.

The issue's new-user case: an hourly request-rate-like real series (NYC taxi demand, NAB, 30-minute samples)
through 2014-11-19, its threshold at 1.2 x its hourly 90th percentile, the US holiday calendar, Black Friday ahead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from capacity.config import SeriesConfig
from capacity.events.calendar import parse_events_csv
from capacity.forecast.types import ForecastSpec
from capacity.report.plots import ChartSpec
from capacity.risk.assess import BREACH_LIKELY, RiskSettings
from capacity.risk.peaks import UPPER_LEVEL
from capacity.schema import TS, quantile_column, validate_history
from capacity.services import readiness
from capacity.services.fleet_risk import load_fleet_risks
from capacity.services.forecasting import forecast_stored
from capacity.store import Store
from tests.support.data import SHARED_DATA

TAXI = SHARED_DATA / "real" / "nab-nyc_taxi.csv"
EVENTS = SHARED_DATA / "events-us.csv"
CUT = pd.Timestamp("2014-11-20", tz="UTC")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    if not (TAXI.exists() and EVENTS.exists()):
        pytest.skip(f"{TAXI} or {EVENTS} is absent (the shared real data is not on this machine)")
    raw = pd.read_csv(TAXI)
    ts = pd.to_datetime(raw["timestamp"], utc=True)
    history = raw.assign(ts=ts)[ts < CUT]
    frame = pd.DataFrame({"service": "shop", "metric": "rps", "ts": history["ts"], "value": history["value"]})
    hourly = frame.set_index("ts")["value"].resample("1h").mean()
    threshold = round(1.2 * float(hourly.quantile(0.9)), 1)
    out = Store.open(str(tmp_path_factory.mktemp("taxi") / "taxi.db"))
    out.series.ingest(validate_history(frame))
    out.series.configure_series([SeriesConfig("shop", "rps", threshold=threshold)])
    out.events.add_events(parse_events_csv(EVENTS.read_text(), source=EVENTS.name), source="test")
    (outcome,) = forecast_stored(out, [("shop", "rps")], ForecastSpec(horizon=24 * 14))
    assert outcome.ok
    return out


def test_the_risk_row_the_chart_and_the_forecast_agree_on_a_real_series(store: Store, monkeypatch) -> None:
    # A first likely breach once a quarter of the paths have crossed: the test is about where it falls, and must
    # not depend on how the breach probability model weighs the paths against the series' past weeks.
    settings = RiskSettings(risk_level=0.25)
    run = load_fleet_risks(store, event="Black Friday", settings=settings)
    (row,) = run.frame.to_dict(orient="records")
    stored = run.forecasts[("shop", "rps")]
    frame, paths = stored.frame, stored.paths
    ts = pd.DatetimeIndex(frame[TS])
    inside = np.asarray((ts >= row["window_start"]) & (ts < row["window_end"]))
    upper = frame[quantile_column(UPPER_LEVEL)].to_numpy()

    # The API's forecast and the chart's bands are the frame; the sample paths follow its quantiles step by step
    # (to within the sampling error of the stored paths).
    assert paths is not None and paths.shape[1] == len(frame)
    assert float(np.median(np.abs(np.quantile(paths, UPPER_LEVEL, axis=0) / upper - 1.0))) < 0.05

    # The chart marks the table's numbers: capture what run_chart hands to the renderer.
    drawn: list[ChartSpec] = []
    monkeypatch.setattr(readiness, "render_chart", lambda history, forecast, spec: drawn.append(spec) or b"")
    readiness.run_chart(store, run, "shop", "rps")
    (spec,) = drawn
    assert spec.peak is not None and spec.first_breach == row["first_breach"]
    assert (spec.peak.p50, spec.peak.p95) == (row["peak_p50"], row["peak_p95"])

    # The table's peak p95 lies within the chart's 95 % range over the window: the per-hour band and the window's
    # peak marker (the paths' maxima), whose top is the table's p95, at a step inside the window.
    assert row["peak_p50"] <= row["peak_p95"]
    assert row["peak_p95"] <= max(float(upper[inside].max()), spec.peak.p95)
    assert row["window_start"] <= spec.peak.at < row["window_end"]

    # The first likely breach lies where the chart's upper band reaches the threshold (a daily peak, not a low).
    assert row["first_breach"] is not None
    at = int(np.flatnonzero(ts == row["first_breach"])[0])
    assert upper[at] >= row["threshold"]
    assert frame["mean"].iloc[at] > float(np.quantile(frame["mean"][inside], 0.75))
    # Thanksgiving and Black Friday have no past occurrence in 140 days: their uplift is the calendar's prior, said
    # so, and it does not hide a likely breach.
    assert "Black Friday" in row["note"] and "uplift assumed" in row["note"]
    assert row["status"] == BREACH_LIKELY or row["breach_probability"] < settings.breach_likely
