"""One computation behind every number shown for a series, on a real series: the risk row, the chart and the API's
forecast come from the same sample paths and quantiles.

The issue's new-user case: an hourly request-rate-like real series (NYC taxi demand, NAB, 30-minute samples)
through 2014-11-19, its threshold at 1.2 x its hourly 90th percentile, the US holiday calendar, Black Friday ahead.
"""

from __future__ import annotations

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from capacity.config import SeriesConfig
from capacity.events.calendar import parse_events_csv
from capacity.forecast.types import ForecastSpec
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

    # The chart marks the table's numbers: draw the real chart through run_chart and read back what it drew.
    figures: list[Figure] = []
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.append(fig))
    png = readiness.run_chart(store, run, "shop", "rps")
    monkeypatch.undo()
    assert png.startswith(b"\x89PNG")
    (figure,) = figures
    try:
        drawn = _drawn(figure)
    finally:
        plt.close(figure)
    start, end = (mdates.date2num(_naive(row[k])) for k in ("window_start", "window_end"))

    # The table's peak p95 lies within the chart's 95 % range over the window: the top of what the chart draws at
    # 95 % there (the per-hour band's upper edge and the window-peak marker, median to p95 of the paths' maxima)
    # is the table's p95, and the marker stands inside the window at the table's p50..p95.
    (marker_x,), (marker_lo, marker_hi) = drawn["peak_x"], drawn["peak_y"]
    assert start <= marker_x < end
    assert (marker_lo, marker_hi) == pytest.approx((row["peak_p50"], row["peak_p95"]), rel=1e-9)
    x, top = drawn["band_x"], drawn["band_top"]
    in_window = (x >= start) & (x < end)
    assert in_window.any()
    assert row["peak_p50"] <= row["peak_p95"] <= max(float(top[in_window].max()), marker_hi) * (1 + 1e-9)
    # The band the chart draws is the frame's q0.975, the API's forecast (the same numbers, not a re-computation).
    assert float(top[in_window].max()) == pytest.approx(float(upper[inside].max()), rel=1e-9)

    # The chart's first-breach marker is the row's, and the drawn upper band reaches the threshold there.
    (breach_x,) = drawn["breach_x"]
    assert breach_x == pytest.approx(mdates.date2num(_naive(row["first_breach"])))
    assert float(top[np.isclose(x, breach_x)].max()) >= row["threshold"]

    # The first likely breach lies where the chart's upper band reaches the threshold (a daily peak, not a low).
    assert row["first_breach"] is not None
    at = int(np.flatnonzero(ts == row["first_breach"])[0])
    assert upper[at] >= row["threshold"]
    assert frame["mean"].iloc[at] > float(np.quantile(frame["mean"][inside], 0.75))
    # Thanksgiving and Black Friday have no past occurrence in 140 days: their uplift is the calendar's prior, said
    # so in the row.
    assert "Black Friday" in row["note"] and "uplift assumed" in row["note"]


def test_an_event_with_no_past_occurrence_keeps_breach_likely_with_the_uplift_assumed(store: Store) -> None:
    # Black Friday has no past occurrence in the history: its uplift is the calendar's pooled prior. With the
    # threshold below most paths' peak the breach is likely, and the assumed uplift is a note, not a status.
    first = load_fleet_risks(store, event="Black Friday").frame.iloc[0]
    threshold = round(0.9 * float(first["peak_p50"]), 1)
    store.series.configure_series([SeriesConfig("shop", "rps", threshold=threshold)])
    try:
        run = load_fleet_risks(store, event="Black Friday")
    finally:
        store.series.configure_series([SeriesConfig("shop", "rps", threshold=float(first["threshold"]))])
    (row,) = run.frame.to_dict(orient="records")
    assert row["breach_probability"] >= RiskSettings().breach_likely
    assert row["status"] == BREACH_LIKELY
    assert "Black Friday" in row["note"] and "uplift assumed" in row["note"]
    assert "unknown uplift" not in row["note"]


def _naive(ts: pd.Timestamp) -> pd.Timestamp:
    return pd.Timestamp(ts).tz_convert("UTC").tz_localize(None)


def _drawn(figure: Figure) -> dict[str, np.ndarray]:
    """What the zoom panel drew: the 95 % band's upper edge (x, top), the window-peak marker and the first-breach
    line, read back from the figure's artists (x in Matplotlib date numbers)."""
    zoom = figure.axes[1]
    (band,) = [c for c in zoom.collections if c.get_label() == "95% interval"]
    vertices = np.concatenate([p.vertices for p in band.get_paths()])
    edges = pd.DataFrame({"x": vertices[:, 0], "y": vertices[:, 1]}).groupby("x")["y"].max()
    (peak,) = [line for line in zoom.lines if str(line.get_label()).startswith("window peak")]
    (breach,) = [line for line in zoom.lines if str(line.get_label()).startswith("first likely breach")]
    return {
        "band_x": edges.index.to_numpy(dtype="float64"),
        "band_top": edges.to_numpy(dtype="float64"),
        "peak_x": np.unique(peak.get_xydata()[:, 0]),
        "peak_y": peak.get_xydata()[:, 1],
        "breach_x": np.unique(breach.get_xydata()[:, 0]),
    }
