"""Readiness charts (matplotlib, Agg backend): history, forecast bands, threshold, event windows.

One figure per series, two panels:

- **overview** (top): the whole history as daily peaks, the forecast's daily peak, the threshold, the past
  occurrences of the event shaded and labelled, and the upcoming window shaded. Only whole days are drawn: a day
  the data covers in part (the history's last, the forecast's first) would show a dip that is not there;
- **zoom** (bottom): the last weeks of hourly history, the forecast mean with its 80% and 95% bands (the frame's
  per-step quantiles, which the sample paths follow), the threshold, the upcoming event window shaded, the
  window's peak as the risk table states it (median to 95th percentile of the paths' maxima) and the first likely
  breach marked (a step where the upper band reaches the threshold): every number the risk row shows is on it.
  A forecast longer than :data:`HOURLY_MAX_DAYS` would fill the panel with a solid block of hourly cycles: the
  panel then shows :data:`ZOOM_DAYS` hour by hour around what matters (up to the end of the event, else the first
  likely breach, else the start of the forecast), and the overview marks where that is.

The legends sit to the right of the panels, so they hide no line and no past event's label.

Pure: :func:`render_chart` returns PNG bytes; writing them is the caller's job.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: no display, no GUI toolkit, the same output everywhere

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from capacity.events.calendar import EventOccurrence
from capacity.risk.peaks import WindowPeak
from capacity.schema import MEAN, TS, quantile_column

#: pyplot keeps global state (the current figure): one chart at a time per process (the API serves on threads);
#: every caller that draws (readiness charts, plan charts) holds it.
CHART_LOCK = threading.Lock()

HISTORY_COLOR = "#4a4a4a"
FORECAST_COLOR = "#1f77b4"
THRESHOLD_COLOR = "#d62728"
EVENT_COLOR = "#ff7f0e"
PAST_COLOR = "#9467bd"
ZOOM_COLOR = "#7f7f7f"

#: The longest forecast (in days) the bottom panel draws whole, hour by hour.
HOURLY_MAX_DAYS = 35
#: Days the bottom panel draws hour by hour around the window that matters, for a longer forecast.
ZOOM_DAYS = 28
#: The y axis label of each unit (the metric's name is in the title).
_YLABELS = {"%": "percent", "": "value"}
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


#: Where a title may break: after a space or a separator that names and model ensembles use (``+ / , ( _ . : -``).
_BREAKS = re.compile(r"(?<=[\s+/,(_.:\-])")


def fit_title(fig: Figure, text: str, fontsize: float, share: float = 0.96) -> str:
    """``text`` broken into lines that each fit ``share`` of the figure's width at ``fontsize``.

    constrained_layout makes room for a title's height but not its width: a line wider than the figure is cut at the
    edges (a long service, metric or event name, or an ensemble's model name). Widths are measured with the figure's
    renderer rather than guessed from a character count, since glyph widths vary by a factor of three.
    """
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    font = FontProperties(size=fontsize)
    limit = fig.bbox.width * share

    def width(line: str) -> float:
        return float(renderer.get_text_width_height_descent(line, font, ismath=False)[0])

    lines: list[str] = []
    line = ""
    # A piece with no break inside that is wider than a line on its own (a 128-character name) breaks anywhere.
    pieces = [p for piece in _BREAKS.split(text) for p in (piece if width(piece) > limit else [piece])]
    for piece in pieces:
        if line and width((line + piece).rstrip()) > limit:
            lines.append(line.rstrip())
            line = piece.lstrip()
        else:
            line += piece
    lines.append(line.rstrip())
    return "\n".join(lines)


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


def whole_days(values: pd.Series) -> pd.Series:
    """Daily maxima of the days the series covers whole: the first and last day are dropped when the data starts
    or ends inside them by more than two steps (their maximum would be of a few hours only)."""
    daily = values.resample("1D").max().dropna()
    if len(values) < 2 or daily.empty:
        return daily
    index = values.index
    slack = 2 * pd.Series(index[1:] - index[:-1]).median()
    if index[0] > index[0].floor("1D") + slack:
        daily = daily.iloc[1:]
    if index[-1] < index[-1].floor("1D") + pd.Timedelta(days=1) - slack:
        daily = daily.iloc[:-1]
    return daily


def zoom_range(
    history_end: pd.Timestamp | None, forecast: pd.DataFrame | None, spec: ChartSpec
) -> tuple[pd.Timestamp, pd.Timestamp, str] | None:
    """The span the bottom panel draws hour by hour when the forecast is too long to draw whole, and what it is
    (None: draw the last :attr:`ChartSpec.zoom_days` of history and the whole forecast).

    The span ends a day after the upcoming event when it is inside the forecast, else it is centred on the first
    likely breach, else on the window's peak, else it starts a week before the forecast does. The event gives way
    when the first likely breach (or, without one, the window's peak) comes after it: the event is then only the
    first one inside a forecast ranked over its whole horizon (no event was asked for), and an hourly panel on it
    hid what the risk row states (a 90-day plot of cart/memory zoomed on Black Friday while its 99% breach and its
    110-131% peak were two weeks later)."""
    if forecast is None or len(forecast) == 0:
        return None
    first, last = pd.Timestamp(forecast[TS].iloc[0]), pd.Timestamp(forecast[TS].iloc[-1])
    if last - first <= pd.Timedelta(days=HOURLY_MAX_DAYS):
        return None
    span = pd.Timedelta(days=ZOOM_DAYS)
    breach = (
        spec.first_breach if spec.first_breach is not None and first <= spec.first_breach <= last else None
    )
    peak = spec.peak.at if spec.peak is not None and spec.peak.at is not None else None
    peak = peak if peak is not None and first <= peak <= last else None
    focus = breach if breach is not None else peak
    event_inside = spec.event_start is not None and first <= spec.event_start <= last
    if spec.event_end is not None and event_inside and (focus is None or focus <= spec.event_end):
        end = min(last, spec.event_end + pd.Timedelta(days=1))
        return end - span, end, f"the {ZOOM_DAYS} days to the end of {spec.event_name or 'the event'}"
    if focus is not None:
        start = focus - span / 2
        what = "the first likely breach" if breach is not None else "the window's peak"
        return start, start + span, f"{ZOOM_DAYS} days around {what}"
    start = (history_end or first) - pd.Timedelta(days=7)
    return start, start + span, f"the first {ZOOM_DAYS - 7} days of the forecast"


def _legend(ax: plt.Axes) -> None:
    """The legend right of the panel: inside, it hid lines and the labels of past events."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=7, framealpha=0.85)


def _breach(ax: plt.Axes, when: pd.Timestamp) -> None:
    ax.axvline(
        _naive(when),
        color=THRESHOLD_COLOR,
        lw=1.0,
        ls=":",
        label=f"first likely breach {when:%m-%d %H:%M} UTC",
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
    return png_bytes(chart_figure(history, forecast, spec))


def png_bytes(fig: Figure) -> bytes:
    """``fig`` as PNG bytes (110 dpi, the size every chart is made for); the figure is closed."""
    try:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        return buf.getvalue()
    finally:
        plt.close(fig)


def chart_figure(history: pd.Series, forecast: pd.DataFrame | None, spec: ChartSpec) -> Figure:
    """The figure :func:`render_chart` draws (the caller closes it): its two axes are the overview and the hourly
    panel, in that order."""
    fig, (top, zoom) = plt.subplots(
        2, 1, figsize=(12, 7.5), gridspec_kw={"height_ratios": [1, 1.6]}, constrained_layout=True
    )
    try:
        _draw(fig, top, zoom, history, forecast, spec)
    except Exception:
        plt.close(fig)
        raise
    return fig


def _draw(
    fig: Figure,
    top: plt.Axes,
    zoom: plt.Axes,
    history: pd.Series,
    forecast: pd.DataFrame | None,
    spec: ChartSpec,
) -> None:
    fig.suptitle(fit_title(fig, spec.title, 12), fontsize=12)
    ylabel = _YLABELS.get(spec.unit, spec.unit)
    hist = history.sort_index()
    zoomed = zoom_range(hist.index[-1] if len(hist) else None, forecast, spec)
    # Overview: daily peaks keep a year of hourly data readable.
    daily = whole_days(hist)
    top.plot(_naive(daily.index), daily.to_numpy(), color=HISTORY_COLOR, lw=1.0, label="history (daily peak)")
    if forecast is not None and len(forecast):
        fdaily = whole_days(forecast.set_index(TS)[MEAN])
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
    if zoomed is not None:
        top.axvspan(
            _naive(zoomed[0]), _naive(zoomed[1]), color=ZOOM_COLOR, alpha=0.12, label="hourly panel below"
        )
    _threshold(top, spec)
    # The first likely breach is marked where it can be seen: below, unless the hourly panel shows other days.
    breach_in_zoom = zoomed is None or (
        spec.first_breach is not None and zoomed[0] <= spec.first_breach <= zoomed[1]
    )
    if spec.first_breach is not None and not breach_in_zoom:
        _breach(top, spec.first_breach)
    # The window's peak too: a bracket outside the hourly panel's days was invisible there, yet listed in its
    # legend and stretching its y axis.
    peak_in_zoom = zoomed is None or (
        spec.peak is not None and spec.peak.at is not None and zoomed[0] <= spec.peak.at <= zoomed[1]
    )
    if spec.peak is not None and spec.peak.at is not None and not peak_in_zoom:
        _peak_marker(top, spec.peak)
    top.set_ylabel(ylabel)
    top.set_title("whole history and forecast (daily peaks of whole days)", fontsize=9, loc="left")
    top.grid(alpha=0.3)
    _date_axis(top)
    _legend(top)

    # Zoom: the last weeks of hourly history, then the forecast with its bands (or, for a long forecast, the
    # weeks that matter).
    since = hist.index[-1] - pd.Timedelta(days=spec.zoom_days) if len(hist) else None
    until = None
    if zoomed is not None:
        since, until = zoomed[0], zoomed[1]
    if len(hist) and since is not None:
        recent = hist[(hist.index > since) & (hist.index <= (until or hist.index[-1]))]
        if len(recent):
            zoom.plot(
                _naive(recent.index),
                recent.to_numpy(),
                color=HISTORY_COLOR,
                lw=0.8,
                label="history (hourly)",
            )
    if forecast is not None and len(forecast):
        if zoomed is not None:
            inside = (forecast[TS] >= zoomed[0]) & (forecast[TS] <= zoomed[1])
            forecast = forecast[inside]
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
    if spec.peak is not None and spec.peak.at is not None and peak_in_zoom:
        _peak_marker(zoom, spec.peak)
    if spec.first_breach is not None and breach_in_zoom:
        _breach(zoom, spec.first_breach)
    if zoomed is not None:
        zoom.set_xlim(_naive(zoomed[0]), _naive(zoomed[1]))
        title = f"hourly, {zoomed[0]:%Y-%m-%d} to {zoomed[1]:%Y-%m-%d}: {zoomed[2]}"
    else:
        title = f"last {spec.zoom_days} days and forecast (hourly)"
    zoom.set_ylabel(ylabel)
    zoom.set_xlabel("time (UTC)")
    zoom.set_title(fit_title(fig, title, 9, share=0.8), fontsize=9, loc="left")
    zoom.grid(alpha=0.3)
    _date_axis(zoom)
    _legend(zoom)


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
