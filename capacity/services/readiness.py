"""The readiness report of an event and the charts of its series: assembled once for ``capacity report``,
``capacity plot`` and the API's report and ``forecast.png`` routes.

:func:`readiness_report` ranks the fleet for the event's next occurrence (:mod:`capacity.services.fleet_risk`),
draws a chart for every flagged series that has a forecast, and lists the uplifts each forecast applied inside its
window; the edges only write or serve what :mod:`capacity.report.render` makes of it. Every chart goes through
:func:`draw`: one chart wiring (title, threshold, the event window shaded and its past occurrences marked) around
:func:`capacity.report.plots.render_chart`, whose pyplot global state allows one chart at a time per process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from capacity.errors import InvalidInput
from capacity.events.calendar import EventOccurrence, next_occurrence
from capacity.events.record import parse_diagnostics
from capacity.report.plots import CHART_LOCK, ChartSpec, past_of, render_chart
from capacity.report.render import ReportInput, flagged
from capacity.risk.assess import RiskSettings, RiskWindow
from capacity.risk.peaks import WindowPeak
from capacity.schema import TS, unit_label
from capacity.services.accuracy import live_summaries
from capacity.services.fleet_risk import FleetRiskRun, load_fleet_risks, window_end
from capacity.services.plans import latest_plan_rows
from capacity.store import SeriesInfo, Store, StoredForecast

#: The risk settings a report prints.
REPORT_SETTINGS = ("breach_likely", "at_risk", "min_headroom_pct", "risk_level", "margin")


def first_event_inside(
    calendar: Sequence[EventOccurrence], service: str, start: pd.Timestamp, end: pd.Timestamp
) -> EventOccurrence | None:
    """The earliest occurrence that applies to ``service`` and overlaps ``(start, end)``: the one a chart shades
    when no event was asked for."""
    inside = sorted(
        (e for e in calendar if e.applies_to(service) and e.start < end and e.end > start),
        key=lambda e: e.start,
    )
    return inside[0] if inside else None


def draw(
    history: pd.Series,
    forecast: pd.DataFrame | None,
    *,
    title: str,
    metric: str,
    threshold: float | None,
    calendar: Sequence[EventOccurrence],
    service: str,
    event: tuple[str, pd.Timestamp | None, pd.Timestamp | None] | None,
    past_before: pd.Timestamp,
    first_breach: pd.Timestamp | None = None,
    peak: WindowPeak | None = None,
) -> bytes:
    """One series' chart as PNG bytes: history, forecast bands, threshold, the event window and its past.

    Args:
        history: the stored samples.
        forecast: the forecast frame to draw (None: history only).
        title: the chart title.
        metric: the metric (its unit labels the y axis).
        threshold: the threshold line, when known.
        calendar: the events calendar (past occurrences of ``event`` are marked).
        service: the series' service (only occurrences that apply to it are marked).
        event: the shaded event as (name, start, end), or None.
        past_before: occurrences that ended by this instant count as past.
        first_breach: the first likely breach to mark, when any.
        peak: the window's peak as the risk row states it, when any.
    """
    name = event[0] if event else None
    spec = ChartSpec(
        title=title,
        unit=unit_label(metric),
        threshold=threshold,
        event_name=name,
        event_start=event[1] if event else None,
        event_end=event[2] if event else None,
        past=past_of(calendar, name, past_before, service, after=history.index[0] if len(history) else None),
        first_breach=first_breach,
        peak=peak,
    )
    with CHART_LOCK:
        return render_chart(history, forecast, spec)


def run_chart(store: Store, run: FleetRiskRun, service: str, metric: str) -> bytes:
    """The readiness chart of one series of a risk run: its window's event shaded (or, with no event asked,
    :func:`shaded_event`), its first likely breach and window peak marked."""
    key = (service, metric)
    info = run.infos.get(key) or store.series.describe(service, metric)
    stored = run.forecasts.get(key)
    history = store.series.load_history(service, metric)
    window = run.windows.get(key)
    row = run.frame[(run.frame["service"] == service) & (run.frame["metric"] == metric)]
    first = row["first_breach"].iloc[0] if len(row) else None
    peak = peak_of(row.iloc[0].to_dict()) if len(row) else None
    first = first if first is not None and pd.notna(first) else None
    if window is not None and window.event is None and stored is not None:
        ts = pd.DatetimeIndex(stored.frame[TS])
        inside = shaded_event(run.events, service, ts[0], ts[-1], first)
        if inside is not None:
            window = RiskWindow(end=window.end, event=inside.name, event_start=inside.start)
    event = None
    if window is not None and window.event is not None:
        occ = next_occurrence(run.events, window.event, window.event_start or history.index[-1], service)
        event = (window.event, window.event_start, occ.end)
    return draw(
        history,
        stored.frame if stored is not None else None,
        title=f"{service} / {metric}: {run.label}" if run.event else f"{service} / {metric}",
        metric=metric,
        threshold=info.threshold,
        calendar=run.events,
        service=service,
        event=event,
        past_before=history.index[-1] if len(history) else pd.Timestamp.max,
        first_breach=first,
        peak=peak,
    )


def shaded_event(
    calendar: Sequence[EventOccurrence],
    service: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    first_breach: pd.Timestamp | None,
) -> EventOccurrence | None:
    """The event a chart shades when none was asked for: the one the first likely breach falls in, else the first
    inside the forecast ``(start, end)``. The first event of a long forecast shaded Black Friday beside a breach
    that a later campaign made, and the chart named the wrong event."""
    if first_breach is not None:
        covering = first_event_inside(calendar, service, first_breach, first_breach + pd.Timedelta(seconds=1))
        if covering is not None:
            return covering
    return first_event_inside(calendar, service, start, end)


def peak_of(row: Mapping[Any, Any]) -> WindowPeak | None:
    """The window's peak a risk row states (None when it has none): the chart marks exactly these numbers."""
    values: list[Any] = [row.get(c) for c in ("peak_p50", "peak_p90", "peak_p95")]
    at = row.get("peak_at")
    if any(v is None or pd.isna(v) for v in values) or at is None or pd.isna(at):
        return None
    return WindowPeak(float(values[0]), float(values[1]), float(values[2]), pd.Timestamp(at))


def forecast_chart(store: Store, info: SeriesInfo, fc: StoredForecast, steps: int) -> bytes:
    """The chart of a stored forecast (its first ``steps`` steps) with the history, the threshold and the first
    event inside the forecast (the API's ``forecast.png``)."""
    frame = fc.frame.iloc[:steps]
    calendar = tuple(store.events.list_events())
    start, end = frame[TS].iloc[0], frame[TS].iloc[-1]
    event = first_event_inside(calendar, info.service, start, end)
    return draw(
        store.series.load_history(info.service, info.metric),
        frame,
        title=f"{info.service} / {info.metric}: forecast from {fc.history_end:%Y-%m-%d %H:%M} UTC ({fc.model})",
        metric=info.metric,
        threshold=info.threshold,
        calendar=calendar,
        service=info.service,
        event=(event.name, event.start, event.end) if event else None,
        past_before=start,
    )


def readiness_report(
    store: Store, event: str, settings: RiskSettings | None = None, *, require_series: bool = False
) -> ReportInput:
    """The readiness report of ``event``'s next occurrence: the ranked risks, a chart per flagged series that has
    a forecast, the uplifts each forecast applied inside its window, each series' live accuracy from the forecast
    ledger (how far to trust its forecast), and each series' latest stored capacity plan (made by ``capacity
    plan``; scored first when its weeks have new actuals).

    Args:
        store: an open store.
        event: the event name (any case).
        settings: cut-offs, margin and calibration.
        require_series: raise instead of returning an empty report when no series is stored.

    Raises:
        UnknownEvent: when the calendar has no occurrence of ``event``.
        InvalidInput: with ``require_series``, when no series is stored.
    """
    settings = settings or RiskSettings()
    run = load_fleet_risks(store, event=event, settings=settings)
    if require_series and run.frame.empty:
        raise InvalidInput(
            "no series stored yet; load some with capacity ingest, then capacity forecast --all"
        )
    charts: dict[tuple[str, str], bytes] = {}
    for service, metric in flagged(run.frame) if len(run.frame) else []:
        if (service, metric) in run.forecasts:
            charts[(service, metric)] = run_chart(store, run, service, metric)
    uplifts = {
        key: [u.describe() for u in parse_diagnostics(stored.diagnostics) if u.start < window_end(run, key)]
        for key, stored in run.forecasts.items()
    }
    event_name = next((w.event for w in run.windows.values() if w.event), event)
    return ReportInput(
        title=f"Peak readiness: {event_name}",
        window=run.label,
        frame=run.frame,
        charts=charts,
        uplifts=uplifts,
        settings={k: getattr(settings, k) for k in REPORT_SETTINGS},
        generated_at=f"{pd.Timestamp.now(tz='UTC'):%Y-%m-%d %H:%M} UTC",
        event=event_name,
        plans=latest_plan_rows(store),
        accuracy=live_summaries(store, run.forecasts),
    )
