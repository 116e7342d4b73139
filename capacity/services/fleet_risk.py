"""The fleet's breach risks from the store: what ``capacity risks``, ``capacity report``, ``capacity plot`` and the
API's ``/risks``, report and ``/metrics`` gauges all rank.

:func:`load_fleet_risks` loads every series' latest forecast, its threshold and capacity, and the events calendar,
picks each series' window (until an event's next occurrence ends, until a date, or the whole horizon), adds its
seasonal analogs and recent peak profile from the stored history, and returns the ranked risk frame; pure
:mod:`capacity.risk.assess` does the arithmetic. :func:`risk_gauges` turns the whole-horizon ranking into the
per-series gauges ``/metrics`` shows.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from capacity.errors import CapacityError, InvalidInput, UnknownEvent, UnknownSeries
from capacity.events.calendar import EventOccurrence, event_window, events_named
from capacity.events.names import lookup_event_name
from capacity.events.record import parse_diagnostics
from capacity.events.uplift import unknown_events
from capacity.forecast.regularize import regularize
from capacity.risk.assess import RiskInput, RiskSettings, RiskWindow, assess, rank
from capacity.risk.crossing import seasonal_analogs
from capacity.risk.probability import PEAK_DAYS, SPREAD_WEEKS, recent_profile
from capacity.schema import parse_timestamp
from capacity.services.staleness import stale_notes
from capacity.store.gauges import RiskGauge


@dataclass(frozen=True)
class FleetRiskRun:
    """What a fleet risk run produced: the ranked frame plus what a report needs to draw each series.

    Attributes:
        frame: the ranked risk frame (columns of ``capacity.risk.assess.RISK_COLUMNS``).
        label: how the window was chosen (``until end of Black Friday (2026-11-30)``).
        windows: the window of each (service, metric).
        forecasts: the latest stored forecast of each (service, metric) that has one.
        infos: the stored description (threshold, unit, capacity) of each series.
        events: the events calendar used.
        event: the event name when the run is for an event.
    """

    frame: pd.DataFrame
    label: str
    windows: dict[tuple[str, str], RiskWindow] = field(default_factory=dict)
    forecasts: dict[tuple[str, str], Any] = field(default_factory=dict)
    infos: dict[tuple[str, str], Any] = field(default_factory=dict)
    events: tuple[EventOccurrence, ...] = ()
    event: str | None = None


def parse_until(text: str) -> pd.Timestamp:
    """``--until``: a timestamp; a date-only value means the end of that day (UTC).

    Raises:
        InvalidHistory: when it is not a date.
    """
    ts = parse_timestamp(text, "until")
    if len(text.strip()) <= 10:
        ts = ts + pd.Timedelta(days=1)
    return ts


def _window_for(
    calendar: tuple[EventOccurrence, ...],
    event: str | None,
    until: pd.Timestamp | None,
    history_end: pd.Timestamp,
    service: str,
) -> tuple[RiskWindow, tuple[str, ...]]:
    """A series' window, and a note when the event is another service's (assessed until it ends, no uplift)."""
    if event:
        occ, applies = event_window(calendar, event, history_end, service)
        label = f"until end of {occ.name} ({(occ.end - pd.Timedelta(seconds=1)):%Y-%m-%d})"
        if not applies:
            # Another service's event: the same window, but nothing of the event is in this series' forecast
            # (and nothing to shade on its chart), so its status is what ``--until`` the event's end gives.
            note = f"{occ.name} ({occ.start:%Y-%m-%d}) is scoped to {occ.service}: assessed until it ends, no uplift"
            return RiskWindow(end=occ.end, label=label), (note,)
        return RiskWindow(end=occ.end, label=label, event=occ.name, event_start=occ.start), ()
    if until is not None:
        return RiskWindow(end=until, label=f"until {until:%Y-%m-%d %H:%M} UTC"), ()
    return RiskWindow(label="whole forecast horizon"), ()


def _history_before(store: Any, info: Any, stored: Any, weeks: int) -> pd.Series | None:
    """The regularized history before the forecast's first step (on the grid the forecast was made on), reaching
    back far enough for the seasonal analogs and the recent peak profile; None without history.

    Only the history before the forecast's first step is used, as when the model was fitted (features at the
    cutoff, the window after it): data ingested since a forecast was made (a stale forecast) would otherwise move
    the recent peak every level is measured against, while the sample paths still start where the forecast did.
    """
    ts = pd.DatetimeIndex(stored.frame["ts"])
    if len(ts) == 0:
        return None
    weeks_back = max(weeks, SPREAD_WEEKS, PEAK_DAYS // 7)
    reach = max(pd.Timedelta(days=7), ts[-1] - ts[0]) * 2 + pd.Timedelta(days=7 * (weeks_back + 1))
    history = store.series.load_history(info.service, info.metric, start=ts[0] - reach)
    try:
        regular = regularize(history, stored.freq or "1h", info.agg or "mean").values
    except CapacityError:
        return None
    before = regular[regular.index < ts[0]]
    return before if len(before) else None


def _history_facts(info: Any, before: pd.Series | None, stored: Any) -> dict[str, Any]:
    """How much history lies before the forecast and the highest (regularized) value of its last day: what a short
    history's row may claim, and whether the history already reached the threshold (:mod:`capacity.risk.status`). The span counts from the series' first sample to the forecast's start
    (the last step's width included), so a history loaded from far back is not cut to the window read above."""
    if stored is None:
        if info.first_ts is None or info.last_ts is None:
            return {}
        step = pd.Timedelta(seconds=info.step_seconds or 0)
        return {"history_span": info.last_ts - info.first_ts + step}
    start = pd.Timestamp(stored.frame["ts"].iloc[0])
    facts: dict[str, Any] = {}
    if info.first_ts is not None:
        first = pd.Timestamp(info.first_ts).floor(stored.freq or "1h")  # the step the first sample falls in
        facts["history_span"] = max(pd.Timedelta(0), start - first)
    last = before[before.index >= start - pd.Timedelta(days=1)].dropna() if before is not None else None
    if last is not None and len(last):
        facts["last_day_max"] = (float(last.max()), last.idxmax())
    return facts


def load_fleet_risks(
    store: Any,
    *,
    event: str | None = None,
    until: pd.Timestamp | None = None,
    settings: RiskSettings | None = None,
    only: Collection[tuple[str, str]] | None = None,
) -> FleetRiskRun:
    """Rank every stored series by breach risk from its latest forecast (the CLI and the API call this).

    Args:
        store: an open ``capacity.store.Store``.
        event: assess until the end of this event's next occurrence (per series, after its history ends).
        until: else assess until this instant; neither means the whole forecast horizon.
        settings: cut-offs, margin and calibration.
        only: assess only these (service, metric) series (one deleted meanwhile is left out).

    Returns:
        A :class:`FleetRiskRun` whose ``frame`` is ranked by breach probability then first breach time.

    Raises:
        InvalidInput: when both ``event`` and ``until`` are given.
        UnknownEvent: when ``event`` has no occurrence in the calendar.
    """
    if event and until is not None:
        raise InvalidInput("give --event or --until, not both", field="until")
    settings = settings or RiskSettings()
    calendar = tuple(store.events.list_events())
    if event:
        event = lookup_event_name(event)
        if not events_named(calendar, event):
            known = sorted({e.name for e in calendar})
            raise UnknownEvent(
                f"unknown event {event!r}; known events: {', '.join(known) or 'none (import some with capacity events import)'}",
                field="event",
            )
    risks = []
    windows: dict[tuple[str, str], RiskWindow] = {}
    forecasts: dict[tuple[str, str], Any] = {}
    infos: dict[tuple[str, str], Any] = {}
    label = "whole forecast horizon"
    for info in store.series.list_series() if only is None else _described(store, only):
        key = (info.service, info.metric)
        infos[key] = info
        stored = store.forecasts.latest_forecast(info.service, info.metric)
        if stored is None:
            item = RiskInput(
                info.service,
                info.metric,
                info.threshold,
                None,
                instances=info.instances,
                **_history_facts(info, None, None),
            )
            risks.append(assess(item, RiskWindow(label=label), settings))
            continue
        forecasts[key] = stored
        history_end = stored.history_end or pd.Timestamp(stored.frame["ts"].iloc[0])
        try:
            window, scope_notes = _window_for(calendar, event, until, history_end, info.service)
        except UnknownEvent as exc:
            risks.append(
                assess(
                    RiskInput(info.service, info.metric, info.threshold, None, notes=(exc.message,)),
                    RiskWindow(),
                    settings,
                )
            )
            continue
        windows[key] = window
        label = window.label
        uplifts = parse_diagnostics(stored.diagnostics)
        in_window = [u for u in uplifts if window.end is None or u.start < window.end]
        analogs = recent = None
        before = _history_before(store, info, stored, int(settings.analog_weeks))
        if before is not None and not any(u.source != "unknown" for u in in_window):
            # Past weeks describe normal weeks: with an uplifted event in the window they would understate it.
            ts = pd.DatetimeIndex(stored.frame["ts"])
            analogs = seasonal_analogs(before, ts, count=int(settings.analog_weeks))
            recent = recent_profile(before)
        item = RiskInput(
            service=info.service,
            metric=info.metric,
            threshold=info.threshold,
            frame=stored.frame,
            paths=stored.paths,
            instances=info.instances,
            instance_capacity=info.instance_capacity,
            unknown_uplift=unknown_events(uplifts, None, window.end),
            notes=(
                *stale_notes(info, stored),
                *scope_notes,
                *(u.describe() for u in in_window if u.source != "unknown"),
            ),
            analogs=analogs,
            recent=recent,
            peaks=stored.peaks,
            unit=info.unit,
            **_history_facts(info, before, stored),
        )
        risks.append(assess(item, window, settings))
    canonical = next((w.event for w in windows.values() if w.event), event)  # the calendar's spelling
    return FleetRiskRun(rank(risks), label, windows, forecasts, infos, calendar, canonical)


def window_end(run: FleetRiskRun, key: tuple[str, str]) -> pd.Timestamp:
    """The end of a series' window in a run (far future when the window is the whole horizon)."""
    window = run.windows.get(key)
    return (
        window.end if window is not None and window.end is not None else pd.Timestamp.max.tz_localize("UTC")
    )


def _described(store: Any, keys: Collection[tuple[str, str]]) -> list[Any]:
    out = []
    for service, metric in keys:
        try:
            out.append(store.series.describe(service, metric))
        except UnknownSeries:
            continue
    return out


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not pd.isna(value) else None


def risk_gauges(store: Any, only: Collection[tuple[str, str]] | None = None) -> list[RiskGauge]:
    """Per series with a forecast (all, or ``only`` these): breach probability over the forecast horizon, the first
    likely breach, the headroom ratio (threshold over the p95 peak), and the run and settings they rest on (what
    ``/metrics`` shows, stored by :mod:`capacity.services.gauges`)."""
    run = load_fleet_risks(store, only=only)
    rows = []
    for rec in run.frame.to_dict(orient="records"):
        key = (rec["service"], rec["metric"])
        stored, info = run.forecasts.get(key), run.infos[key]
        if stored is None:
            continue
        threshold, peak = _number(rec.get("threshold")), _number(rec.get("peak_p95"))
        first = rec.get("first_breach")
        rows.append(
            RiskGauge(
                service=info.service,
                metric=info.metric,
                run_id=stored.run_id,
                threshold=info.threshold,
                instances=info.instances,
                instance_capacity=info.instance_capacity,
                agg=info.agg,
                breach_probability=_number(rec.get("breach_probability")),
                first_breach=first if isinstance(first, pd.Timestamp) and not pd.isna(first) else None,
                headroom_ratio=threshold / peak
                if threshold is not None and peak is not None and peak > 0
                else None,
            )
        )
    return rows
