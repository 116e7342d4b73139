"""Output people can read: plain Markdown, a report table that may wrap, charts without partial days and with a
readable hourly panel at long horizons."""

from __future__ import annotations

from typing import Any

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from capacity.report.plan_section import plan_cells, plan_html
from capacity.report.plots import (
    HOURLY_MAX_DAYS,
    ZOOM_DAYS,
    ChartSpec,
    chart_figure,
    render_chart,
    whole_days,
    zoom_range,
)
from capacity.report.render import ReportInput, render_html, render_markdown
from capacity.risk.assess import BREACH_LIKELY, RISK_COLUMNS
from capacity.risk.peaks import WindowPeak

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _frame(note: str) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                **dict.fromkeys(RISK_COLUMNS),
                "service": "ads & search",
                "metric": "cpu",
                "status": BREACH_LIKELY,
                "breach_probability": 0.9,
                "note": note,
            }
        ],
        columns=list(RISK_COLUMNS),
    )


def test_markdown_is_plain_markdown_without_html_entities() -> None:
    report = ReportInput(
        title="Peak readiness: Black Friday & Cyber Monday",
        window="until end of Black Friday (2026-11-30)",
        frame=_frame("p95 > threshold | <b>x</b> & 'quoted' \"too\""),
        uplifts={("ads & search", "cpu"): ["Black Friday (2025-11-28): 1.4x"]},
    )
    md = render_markdown(report)
    assert "&amp;" not in md and "&lt;" not in md and "&#x27;" not in md and "&quot;" not in md
    assert "# Peak readiness: Black Friday & Cyber Monday" in md
    assert "ads & search" in md and r"\<b\>x\</b\>" in md and r"threshold \| " in md
    html = render_html(report)
    assert "ads &amp; search" in html and '<div class="scroll"><table>' in html


def _hourly(start: str, end: str) -> pd.Series:
    idx = pd.date_range(start, end, freq="h", tz="UTC", inclusive="left")
    return pd.Series(50 + 10 * np.sin(np.arange(len(idx)) / 24 * 2 * np.pi), index=idx)


def test_partial_first_and_last_days_are_not_drawn_as_daily_peaks() -> None:
    series = _hourly("2024-01-01 15:00", "2024-01-05 04:00")  # starts mid-day, ends at 03:00
    days = whole_days(series)
    assert [d.day for d in days.index] == [2, 3, 4]
    whole = _hourly("2024-01-01", "2024-01-05")
    assert len(whole_days(whole)) == 4


def _forecast(start: pd.Timestamp, days: int) -> pd.DataFrame:
    ts = pd.date_range(start, periods=days * 24, freq="h", tz="UTC")
    mean = 50 + 10 * np.sin(np.arange(len(ts)) / 24 * 2 * np.pi)
    return pd.DataFrame(
        {"ts": ts, "mean": mean, "q0.025": mean - 8, "q0.1": mean - 5, "q0.9": mean + 5, "q0.975": mean + 8}
    )


def test_a_long_forecast_zooms_the_hourly_panel_on_the_event() -> None:
    end = pd.Timestamp("2024-06-01", tz="UTC")
    short = _forecast(end, HOURLY_MAX_DAYS - 5)
    assert zoom_range(end, short, ChartSpec(title="t", unit="")) is None
    long = _forecast(end, 150)
    bf = pd.Timestamp("2024-10-10", tz="UTC")
    spec = ChartSpec(
        title="t", unit="", event_name="Launch", event_start=bf, event_end=bf + pd.Timedelta(days=1)
    )
    zoomed = zoom_range(end, long, spec)
    assert zoomed is not None
    start, stop, what = zoomed
    assert stop == bf + pd.Timedelta(days=2) and stop - start == pd.Timedelta(days=ZOOM_DAYS)
    assert "Launch" in what
    plain = zoom_range(end, long, ChartSpec(title="t", unit=""))
    assert plain is not None and plain[0] == end - pd.Timedelta(days=7)
    early = ChartSpec(**{**spec.__dict__, "first_breach": end + pd.Timedelta(days=30)})  # outside the zoom
    for drawn in (spec, early):
        assert render_chart(_hourly("2024-01-01", "2024-06-01"), long, drawn).startswith(PNG_MAGIC)


def test_an_uplift_line_is_shown_once_even_when_it_holds_a_semicolon() -> None:
    # The shape of a real note (the demo's checkout/rps): learned uplifts shrunk towards the calendar's carry a
    # "; level x..." part inside their own line, then a note of the risk run follows.
    uplifts = [
        "Black Friday (2026-11-27): learned from 1 past occurrence, peak-hour x2.55 (log sd 0.19); level x1.60, "
        "shrunk from x1.65 towards the calendar's x1.52",
        "Cyber Monday (2026-11-30): learned from 1 past occurrence, peak-hour x2.08 (log sd 0.19); level x1.64, "
        "shrunk from x1.73 towards the calendar's x1.52",
    ]
    extra = "forecast covers the window only until 2026-12-13 00:00"
    report = ReportInput(
        title="Peak readiness: Black Friday",
        window="until end of Black Friday (2026-11-30)",
        frame=_frame("; ".join([*uplifts, extra])),
        uplifts={("ads & search", "cpu"): uplifts},
    )
    page = render_html(report)
    md = render_markdown(report)
    for line in uplifts:
        assert page.count(line.replace("'", "&#x27;")) == 1
        assert md.count(line) == 1
    assert f'<p class="note">{extra}</p>' in page and f"- note: {extra}" in md


def test_a_plan_row_states_its_unit_aggregation_and_crossing_week_as_the_cli_does() -> None:
    row = {
        "service": "catalog",
        "metric": "memory",
        "agg": "max",
        "first_day": "2027-01-01T00:00:00Z",
        "weeks": 13,
        "quarter": "2027Q1",
        "peak_p50": 83.14,
        "peak_p90": 85.66,
        "min_headroom_pct": -0.8,
        "max_instances": None,
        "first_crossing": "2027-03-12T00:00:00Z",
        "first_crossing_probability": 0.51,
        "growth_pct": 9.5,
        "growth_basis": "year over year",
        "created_at": "2026-12-03T23:40:00Z",
        "score": None,
    }
    cells = plan_cells(row)
    assert cells["peak"] == "83.1% / 85.7% (daily max)"
    assert cells["crossing"] == "week of 2027-03-12 (p=0.51)"  # the week's start, as capacity plan prints it
    assert plan_cells({**row, "metric": "rps", "agg": "p95"})["peak"] == "83.1 / 85.7 (daily p95)"
    page = plan_html([row])
    assert page.count('<td class="wrap">') == 5 and '<div class="scroll"><table>' in page


def _peak_lines(ax: plt.Axes) -> list[Any]:
    return [ln for ln in ax.get_lines() if str(ln.get_label()).startswith("window peak p50-p95")]


def _inside(ax: plt.Axes, when: pd.Timestamp) -> bool:
    lo, hi = ax.get_xlim()
    return bool(lo <= mdates.date2num(when.tz_convert("UTC").tz_localize(None)) <= hi)


def _marked(event: str, start: pd.Timestamp, breach: pd.Timestamp, peak: WindowPeak) -> ChartSpec:
    """A percent series' chart with a one-day event, its first likely breach and its window's peak."""
    return ChartSpec(
        title="t",
        unit="%",
        threshold=85.0,
        event_name=event,
        event_start=start,
        event_end=start + pd.Timedelta(days=1),
        first_breach=breach,
        peak=peak,
    )


def test_the_hourly_panel_shows_the_breach_and_peak_the_risk_row_states() -> None:
    # A 90-day forecast ranked over its whole horizon: the first event inside it (shaded) comes two weeks before
    # the breach and the peak, which a campaign makes a month out (cart/memory in the 90-day review).
    end = pd.Timestamp("2024-06-01", tz="UTC")
    long = _forecast(end, 90)
    history = _hourly("2024-01-01", "2024-06-01")
    event = end + pd.Timedelta(days=14)
    breach = end + pd.Timedelta(days=31)
    spec = _marked("Black Friday", event, breach, WindowPeak(110.1, 127.6, 131.0, breach))
    zoomed = zoom_range(end, long, spec)
    assert zoomed is not None and zoomed[0] <= breach <= zoomed[1] and "first likely breach" in zoomed[2]
    no_breach = ChartSpec(**{**spec.__dict__, "first_breach": None})
    around_peak = zoom_range(end, long, no_breach)
    assert around_peak is not None and around_peak[0] <= breach <= around_peak[1] and "peak" in around_peak[2]
    for drawn in (spec, no_breach):
        fig = chart_figure(history, long, drawn)
        try:
            top, zoom = fig.axes[:2]
            assert _inside(zoom, breach) and len(_peak_lines(zoom)) == 1 and not _peak_lines(top)
        finally:
            plt.close(fig)


def test_a_peak_outside_the_hourly_panel_is_marked_on_the_overview() -> None:
    # The event's window decides the hourly panel (the breach is in it), the window's peak came earlier: the
    # bracket is drawn, and listed, where it can be seen, not off the hourly panel's edge.
    end = pd.Timestamp("2024-06-01", tz="UTC")
    long = _forecast(end, 90)
    event = end + pd.Timedelta(days=70)
    peak_at = end + pd.Timedelta(days=3)
    spec = _marked("Launch", event, event, WindowPeak(80.0, 86.0, 90.0, peak_at))
    fig = chart_figure(_hourly("2024-01-01", "2024-06-01"), long, spec)
    try:
        top, zoom = fig.axes[:2]
        assert not _inside(zoom, peak_at) and not _peak_lines(zoom)
        assert len(_peak_lines(top)) == 1 and _inside(top, peak_at)
        legend = top.get_legend()
        assert legend is not None and any(t.get_text().startswith("window peak") for t in legend.get_texts())
    finally:
        plt.close(fig)
