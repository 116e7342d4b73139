"""Readiness charts (matplotlib, Agg backend): history, forecast bands, threshold, event windows.

One figure per series, two panels:

- **overview** (top): the whole history as daily peaks, the forecast's daily peak, the threshold, the past
  occurrences of the event shaded and labelled, and the upcoming window shaded;
- **zoom** (bottom): the last weeks of hourly history, the forecast mean with its 80% and 95% bands (the frame's
  per-step quantiles, which the sample paths follow), the threshold, the upcoming event window shaded, the
  window's peak as the risk table states it (median to 95th percentile of the paths' maxima) and the first likely
  breach marked (a step where the upper band reaches the threshold): every number the risk row shows is on it.

Pure: :func:`render_chart` returns PNG bytes; writing them is the caller's job.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: no display, no GUI toolkit, the same output everywhere

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd

from capacity.events.calendar import EventOccurrence
from capacity.risk.peaks import WindowPeak
from capacity.schema import MEAN, TS, quantile_column

HISTORY_COLOR = "#4a4a4a"
FORECAST_COLOR = "#1f77b4"
THRESHOLD_COLOR = "#d62728"
EVENT_COLOR = "#ff7f0e"
PAST_COLOR = "#9467bd"
PEAK_COLOR = "#2c2c2c"


@dataclass(frozen=True)
class ChartSpec:
    """What to draw for one series.

    Attributes:
        title: the chart title (service / metric and the window).
        unit: the metric's unit label for the y axis (``%``, ``requests/s`` ...).
        threshold: the threshold line, when known.
        event_name: the event whose window is shaded, when any.
        event_start: start of the upcoming window to shade.
        event_end: end of the upcoming window to shade.
        past: past occurrences of the event to mark.
        first_breach: the first likely breach time to mark, when any.
        peak: the window's peak as the risk table states it (:func:`capacity.risk.peaks.window_peak`), marked at
            the step where it most often falls: the per-hour bands cannot show a window's maximum, which over a
            week usually sits above most hours' 97.5 % quantile.
        zoom_days: days of hourly history shown before the forecast in the zoom panel.
    """

    title: str
    unit: str
    threshold: float | None = None
    event_name: str | None = None
    event_start: pd.Timestamp | None = None
    event_end: pd.Timestamp | None = None
    past: tuple[EventOccurrence, ...] = ()
    first_breach: pd.Timestamp | None = None
    peak: WindowPeak | None = None
    zoom_days: int = 21


def _naive(ts: Any) -> Any:
    """UTC timestamps without tz, so matplotlib's date axis shows UTC."""
    if isinstance(ts, pd.Timestamp):
        return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo else ts
    idx = pd.DatetimeIndex(ts)
    return idx.tz_convert("UTC").tz_localize(None) if idx.tz is not None else idx


def _band(frame: pd.DataFrame, lo: float, hi: float) -> tuple[pd.Series, pd.Series] | None:
    a, b = quantile_column(lo), quantile_column(hi)
    if a in frame.columns and b in frame.columns:
        return frame[a], frame[b]
    return None


def _date_axis(ax: plt.Axes) -> None:
    locator = mdates.AutoDateLocator(minticks=4, maxticks=9)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _shade_event(ax: plt.Axes, spec: ChartSpec, label: bool) -> None:
    if spec.event_start is not None and spec.event_end is not None:
        ax.axvspan(
            _naive(spec.event_start),
            _naive(spec.event_end),
            color=EVENT_COLOR,
            alpha=0.18,
            label=f"{spec.event_name or 'event'} (upcoming)" if label else None,
        )


def _threshold(ax: plt.Axes, spec: ChartSpec) -> None:
    if spec.threshold is not None:
        ax.axhline(
            spec.threshold, color=THRESHOLD_COLOR, lw=1.4, ls="--", label=f"threshold {spec.threshold:g}"
        )


def render_chart(history: pd.Series, forecast: pd.DataFrame | None, spec: ChartSpec) -> bytes:
    """Draw one series' readiness chart and return it as PNG bytes.

    Args:
        history: the series' history (UTC index), raw or regularized.
        forecast: the forecast frame (``ts``, ``mean``, quantile columns), or None to draw history only.
        spec: title, unit, threshold, windows and markers.

    Returns:
        The PNG image.
    """
    fig, (top, zoom) = plt.subplots(
        2, 1, figsize=(11, 7.5), gridspec_kw={"height_ratios": [1, 1.6]}, constrained_layout=True
    )
    try:
        fig.suptitle(spec.title, fontsize=12)
        ylabel = f"value ({spec.unit})" if spec.unit else "value"
        hist = history.sort_index()
        # Overview: daily peaks keep a year of hourly data readable.
        daily = hist.resample("1D").max().dropna()
        top.plot(
            _naive(daily.index), daily.to_numpy(), color=HISTORY_COLOR, lw=1.0, label="history (daily peak)"
        )
        if forecast is not None and len(forecast):
            fdaily = forecast.set_index(TS)[MEAN].resample("1D").max()
            top.plot(
                _naive(fdaily.index),
                fdaily.to_numpy(),
                color=FORECAST_COLOR,
                lw=1.4,
                label="forecast (daily peak)",
            )
        for i, occ in enumerate(spec.past):
            top.axvspan(
                _naive(occ.start),
                _naive(occ.end),
                color=PAST_COLOR,
                alpha=0.35,
                label=f"past {occ.name}" if i == 0 else None,
            )
            top.annotate(
                f"{occ.start:%Y-%m-%d}",
                xy=(_naive(occ.start), 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(2, -12),
                textcoords="offset points",
                fontsize=7,
                color=PAST_COLOR,
            )
        _shade_event(top, spec, label=True)
        _threshold(top, spec)
        top.set_ylabel(ylabel)
        top.set_title("whole history and forecast (daily peaks)", fontsize=9, loc="left")
        top.grid(alpha=0.3)
        _date_axis(top)
        top.legend(loc="upper left", fontsize=7, ncol=3, framealpha=0.85)

        # Zoom: the last weeks of hourly history, then the forecast with its bands.
        if len(hist):
            since = hist.index[-1] - pd.Timedelta(days=spec.zoom_days)
            recent = hist[hist.index > since]
            zoom.plot(
                _naive(recent.index), recent.to_numpy(), color=HISTORY_COLOR, lw=0.8, label="history (hourly)"
            )
        if forecast is not None and len(forecast):
            x = _naive(forecast[TS])
            band95 = _band(forecast, 0.025, 0.975)
            band80 = _band(forecast, 0.1, 0.9)
            if band95 is not None:
                zoom.fill_between(
                    x, band95[0], band95[1], color=FORECAST_COLOR, alpha=0.15, lw=0, label="95% interval"
                )
            if band80 is not None:
                zoom.fill_between(
                    x, band80[0], band80[1], color=FORECAST_COLOR, alpha=0.3, lw=0, label="80% interval"
                )
            zoom.plot(x, forecast[MEAN], color=FORECAST_COLOR, lw=1.2, label="forecast (mean)")
        _shade_event(zoom, spec, label=True)
        _threshold(zoom, spec)
        if spec.peak is not None and spec.peak.at is not None:
            _peak_marker(zoom, spec.peak)
        if spec.first_breach is not None:
            zoom.axvline(
                _naive(spec.first_breach),
                color=THRESHOLD_COLOR,
                lw=1.0,
                ls=":",
                label=f"first likely breach {spec.first_breach:%m-%d %H:%M} UTC",
            )
        zoom.set_ylabel(ylabel)
        zoom.set_xlabel("time (UTC)")
        zoom.set_title(f"last {spec.zoom_days} days and forecast (hourly)", fontsize=9, loc="left")
        zoom.grid(alpha=0.3)
        _date_axis(zoom)
        zoom.legend(loc="upper left", fontsize=7, ncol=2, framealpha=0.85)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        return buf.getvalue()
    finally:
        plt.close(fig)


def _number(value: float) -> str:
    """A value as the risk table prints it: one decimal, thousands separated."""
    return f"{value:,.1f}"


def _peak_marker(ax: plt.Axes, peak: WindowPeak) -> None:
    """The window's peak, median to 95th percentile, as a bracket at the step where it most often falls."""
    x = _naive(peak.at)
    ax.vlines(x, peak.p50, peak.p95, color=PEAK_COLOR, lw=2.2, zorder=5)
    ax.plot(
        [x, x],
        [peak.p50, peak.p95],
        ls="none",
        marker="_",
        markersize=12,
        mew=2.2,
        color=PEAK_COLOR,
        zorder=5,
        label=f"window peak p50-p95 (risk table) {_number(peak.p50)}-{_number(peak.p95)}",
    )


def past_of(
    calendar: Sequence[EventOccurrence],
    name: str | None,
    before: pd.Timestamp,
    service: str,
    after: pd.Timestamp | None = None,
) -> tuple[EventOccurrence, ...]:
    """Past occurrences of ``name`` (ended before ``before``, and ending after ``after`` when given: inside the
    history drawn) that apply to ``service``; empty when no name."""
    if not name:
        return ()
    key = name.lower()
    return tuple(
        sorted(
            (
                e
                for e in calendar
                if e.name.lower() == key
                and e.end <= before
                and (after is None or e.end > after)
                and e.applies_to(service)
            ),
            key=lambda e: e.start,
        )
    )
