"""``capacity risks | report | plot | events``: breach risk, readiness report, charts and the events calendar.

:func:`load_fleet_risks` is the store wiring shared with the API: it loads every series' latest forecast, its
threshold and capacity, and the events calendar, and returns the ranked risk frame (pure ``capacity.risk`` does
the arithmetic). It imports neither Flask nor matplotlib.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click
import pandas as pd

from capacity.cli.common import console, db_option, fmt, open_store
from capacity.errors import InvalidInput, UnknownEvent
from capacity.events import EventOccurrence, events_named, next_occurrence
from capacity.risk import RiskInput, RiskSettings, RiskWindow, assess, rank, status_counts
from capacity.schema import parse_timestamp, unit_label, validate_event_name
from capacity.uplift import parse_diagnostics, unknown_events


@dataclass(frozen=True)
class FleetRiskRun:
    """What a fleet risk run produced: the ranked frame plus what a report needs to draw each series.

    Attributes:
        frame: the ranked risk frame (columns of ``capacity.risk.RISK_COLUMNS``).
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
) -> RiskWindow:
    if event:
        occ = next_occurrence(calendar, event, history_end, service)
        return RiskWindow(
            end=occ.end,
            label=f"until end of {occ.name} ({(occ.end - pd.Timedelta(seconds=1)):%Y-%m-%d})",
            event=occ.name,
            event_start=occ.start,
        )
    if until is not None:
        return RiskWindow(end=until, label=f"until {until:%Y-%m-%d %H:%M} UTC")
    return RiskWindow(label="whole forecast horizon")


def load_fleet_risks(
    store: Any,
    *,
    event: str | None = None,
    until: pd.Timestamp | None = None,
    settings: RiskSettings | None = None,
) -> FleetRiskRun:
    """Rank every stored series by breach risk from its latest forecast (the CLI and the API call this).

    Args:
        store: an open ``capacity.store.Store``.
        event: assess until the end of this event's next occurrence (per series, after its history ends).
        until: else assess until this instant; neither means the whole forecast horizon.
        settings: cut-offs, margin and calibration.

    Returns:
        A :class:`FleetRiskRun` whose ``frame`` is ranked by breach probability then first breach time.

    Raises:
        InvalidInput: when both ``event`` and ``until`` are given.
        UnknownEvent: when ``event`` has no occurrence in the calendar.
    """
    if event and until is not None:
        raise InvalidInput("give --event or --until, not both", field="until")
    settings = settings or RiskSettings()
    calendar = tuple(store.list_events())
    if event:
        event = validate_event_name(event)
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
    for info in store.list_series():
        key = (info.service, info.metric)
        infos[key] = info
        stored = store.latest_forecast(info.service, info.metric)
        if stored is None:
            item = RiskInput(info.service, info.metric, info.threshold, None, instances=info.instances)
            risks.append(assess(item, RiskWindow(label=label), settings))
            continue
        forecasts[key] = stored
        history_end = stored.history_end or pd.Timestamp(stored.frame["ts"].iloc[0])
        try:
            window = _window_for(calendar, event, until, history_end, info.service)
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
        item = RiskInput(
            service=info.service,
            metric=info.metric,
            threshold=info.threshold,
            frame=stored.frame,
            paths=stored.paths,
            instances=info.instances,
            instance_capacity=info.instance_capacity,
            unknown_uplift=unknown_events(uplifts, None, window.end),
            notes=tuple(u.describe() for u in in_window if u.source != "unknown"),
        )
        risks.append(assess(item, window, settings))
    return FleetRiskRun(rank(risks), label, windows, forecasts, infos, calendar, event)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame's rows as plain dicts keyed by column name."""
    return [{str(k): v for k, v in rec.items()} for rec in frame.to_dict(orient="records")]


def risk_rows(frame: pd.DataFrame, infos: dict[tuple[str, str], Any]) -> list[list[str]]:
    """The ranked frame as table rows (the columns of :data:`TABLE_COLUMNS`)."""
    rows = []
    for rec in records(frame):
        r = SimpleNamespace(**rec)
        info = infos.get((r.service, r.metric))
        unit = unit_label(r.metric) if info is None else unit_label(info.metric)
        unit_sfx = "%" if unit == "%" else ""
        prob = r.breach_probability
        first = "-"
        if pd.notna(r.first_breach):
            first = f"{r.first_breach:%m-%d %H:%M}"
            if pd.notna(r.first_breach_early) and pd.notna(r.first_breach_late):
                before = (r.first_breach - r.first_breach_early) / pd.Timedelta(hours=1)
                after = (r.first_breach_late - r.first_breach) / pd.Timedelta(hours=1)
                first += f" (-{before:.0f}h/+{after:.0f}h)"
        headroom = "-"
        if pd.notna(r.headroom):
            headroom = f"{r.headroom:.1f}{unit_sfx} ({r.headroom_pct:.0f}%)"
        rows.append(
            [
                r.service,
                r.metric,
                fmt(r.threshold, 1, unit_sfx) if pd.notna(r.threshold) else "-",
                fmt(r.peak_p95, 1, unit_sfx) if pd.notna(r.peak_p95) else "-",
                f"{prob:.0%}" if pd.notna(prob) else "-",
                first,
                headroom,
                str(int(r.instances_to_add)) if pd.notna(r.instances_to_add) else "-",
                r.status,
            ]
        )
    return rows


TABLE_COLUMNS = [
    "service",
    "metric",
    "threshold",
    "peak p95",
    "P(breach)",
    "first breach UTC (p10/p90)",
    "headroom",
    "+instances",
    "status",
]


def print_risk_table(title: str, run: FleetRiskRun) -> None:
    """Print the ranked table; wide enough not to fold when stdout is a pipe (the demo's log)."""
    from rich.console import Console
    from rich.table import Table

    out = console if console.is_terminal else Console(highlight=False, width=150)
    table = Table(title=title)
    for col in TABLE_COLUMNS:
        table.add_column(col, no_wrap=col in {"status", "P(breach)", "threshold", "peak p95"})
    for row in risk_rows(run.frame, run.infos):
        table.add_row(*row)
    out.print(table)


def settings_options(func: Any) -> Any:
    """The status cut-off and margin options shared by ``risks`` and ``report``."""
    defaults = RiskSettings()
    for name, flag, help_text in (
        ("breach_likely", "--likely", "breach probability for 'breach likely'"),
        ("at_risk", "--at-risk", "breach probability for 'at risk'"),
        ("margin", "--margin", "capacity margin when sizing instances"),
    ):
        func = click.option(
            flag, name, type=float, default=getattr(defaults, name), show_default=True, help=help_text
        )(func)
    return func


def frame_json(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The ranked frame as JSON-ready records (timestamps ISO 8601, NaN as null)."""
    out = []
    for rec in records(frame):
        clean: dict[str, Any] = {}
        for k, v in rec.items():
            if isinstance(v, pd.Timestamp):
                clean[k] = v.isoformat()
            elif v is None or (isinstance(v, float) and v != v) or v is pd.NaT:
                clean[k] = None
            elif hasattr(v, "item"):
                clean[k] = v.item()
            else:
                clean[k] = v
        out.append(clean)
    return out


@click.command("risks")
@click.option("--event", help="Assess until the end of this event's next occurrence.")
@click.option("--until", help="Assess until this date (inclusive) or timestamp (UTC).")
@click.option(
    "--json", "json_out", type=click.Path(path_type=Path), help="Also write the ranked table as JSON."
)
@settings_options
@db_option
def risks_cmd(
    event: str | None,
    until: str | None,
    json_out: Path | None,
    breach_likely: float,
    at_risk: float,
    margin: float,
    db: str | None,
) -> None:
    """Rank every series by the probability of crossing its threshold before/through an event or a date.

    \b
    Examples:
      capacity risks --event "Black Friday"
      capacity risks --until 2026-12-31 --json risks.json
    """
    settings = RiskSettings(breach_likely=breach_likely, at_risk=at_risk, margin=margin)
    store = open_store(db)
    run = load_fleet_risks(store, event=event, until=parse_until(until) if until else None, settings=settings)
    if run.frame.empty:
        console.print(
            "no series stored yet; load some with: capacity ingest FILE, then capacity forecast --all"
        )
        return
    counts = status_counts(run.frame)
    title = f"breach risk {run.label}: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    print_risk_table(title, run)
    notes = [(r["service"], r["metric"], r["note"]) for r in records(run.frame) if r["note"]]
    for service, metric, note in notes:
        console.print(f"  {service}/{metric}: {note}", soft_wrap=True, markup=False)
    if json_out is not None:
        payload = {"window": run.label, "event": run.event, "counts": counts, "risks": frame_json(run.frame)}
        json_out.write_text(json.dumps(payload, indent=2), encoding="utf-8")
        console.print(f"wrote {json_out}")


COMMANDS = [risks_cmd]
