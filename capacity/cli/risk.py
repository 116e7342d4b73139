"""``capacity risks | report | plot``: the ranked breach-risk table, the readiness report and per-series charts.

The store wiring they share with the API is :func:`capacity.cli.fleet_risks.load_fleet_risks`.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click
import pandas as pd

from capacity.cli.common import console, db_option, fmt, open_store
from capacity.cli.fleet_risks import STALE_NOTE, FleetRiskRun, load_fleet_risks, parse_until
from capacity.errors import InvalidInput
from capacity.events.calendar import next_occurrence
from capacity.events.record import parse_diagnostics
from capacity.risk.assess import RiskSettings, RiskWindow, status_counts
from capacity.schema import unit_label, validate_name


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
    # Notes (which uplift was used, why a status is unknown) for the series to act on, and every stale forecast
    # (an "ok" may rest on old data); the JSON has them all.
    notes = [
        (r["service"], r["metric"], r["note"])
        for r in records(run.frame)
        if r["note"] and (r["status"] != "ok" or r["note"].startswith(STALE_NOTE))
    ]
    for service, metric, note in notes:
        console.print(f"  {service}/{metric}: {note}", soft_wrap=True, markup=False)
    if json_out is not None:
        payload = {"window": run.label, "event": run.event, "counts": counts, "risks": frame_json(run.frame)}
        json_out.write_text(json.dumps(payload, indent=2), encoding="utf-8")
        console.print(f"wrote {json_out}")


def chart_png(store: Any, run: FleetRiskRun, service: str, metric: str) -> bytes:
    """The readiness chart of one series of a risk run (history, forecast bands, threshold, event windows)."""
    from capacity.report.plots import ChartSpec, past_of, render_chart

    key = (service, metric)
    info = run.infos.get(key) or store.describe(service, metric)
    stored = run.forecasts.get(key)
    history = store.load_history(service, metric)
    window = run.windows.get(key)
    row = run.frame[(run.frame["service"] == service) & (run.frame["metric"] == metric)]
    first = row["first_breach"].iloc[0] if len(row) else None
    event_name = window.event if window else None
    if window is not None and window.event is None and stored is not None:
        # No event asked: shade the first event inside the forecast that applies to this series.
        ts = pd.DatetimeIndex(stored.frame["ts"])
        inside = [e for e in run.events if e.applies_to(service) and e.start < ts[-1] and e.end > ts[0]]
        if inside:
            window = RiskWindow(end=window.end, event=inside[0].name, event_start=inside[0].start)
            event_name = inside[0].name
    event_end = None
    if window is not None and window.event is not None:
        occ = next_occurrence(run.events, window.event, window.event_start or history.index[-1], service)
        event_end = occ.end
    spec = ChartSpec(
        title=f"{service} / {metric}: {run.label}" if run.event else f"{service} / {metric}",
        unit=unit_label(metric),
        threshold=info.threshold,
        event_name=event_name,
        event_start=window.event_start if window else None,
        event_end=event_end,
        past=past_of(
            run.events, event_name, history.index[-1] if len(history) else pd.Timestamp.max, service
        ),
        first_breach=first if first is not None and pd.notna(first) else None,
    )
    return render_chart(history, stored.frame if stored is not None else None, spec)


@click.command("plot")
@click.argument("service")
@click.argument("metric")
@click.option(
    "--out", type=click.Path(path_type=Path), help="PNG file to write (default SERVICE-METRIC.png)."
)
@click.option("--event", help="Shade this event's next window and mark its past occurrences.")
@db_option
def plot_cmd(service: str, metric: str, out: Path | None, event: str | None, db: str | None) -> None:
    """Draw one series: history, forecast with 80%/95% bands, threshold, event windows (PNG).

    \b
    Example:
      capacity plot checkout rps --event "Black Friday" --out checkout-rps.png
    """
    validate_name(service, "service")
    validate_name(metric, "metric")
    store = open_store(db)
    info = store.describe(service, metric)
    run = load_fleet_risks(store, event=event)
    run = FleetRiskRun(
        run.frame[(run.frame["service"] == service) & (run.frame["metric"] == metric)],
        run.label,
        run.windows,
        run.forecasts,
        {**run.infos, (service, metric): info},
        run.events,
        run.event,
    )
    png = chart_png(store, run, service, metric)
    target = out or Path(f"{service}-{metric}.png")
    target.write_bytes(png)
    console.print(f"wrote {target} ({len(png) // 1024} KiB)", soft_wrap=True)


def window_end(run: FleetRiskRun, key: tuple[str, str]) -> pd.Timestamp:
    """The end of a series' window in a run (far future when the window is the whole horizon)."""
    window = run.windows.get(key)
    return (
        window.end if window is not None and window.end is not None else pd.Timestamp.max.tz_localize("UTC")
    )


def chart_filename(service: str, metric: str) -> str:
    """A safe PNG file name for a series (names are already restricted to letters, digits and ``_ . : -``)."""
    return f"{service}-{metric}.png".replace(":", "_")


@click.command("report")
@click.option("--event", required=True, help="The peak event to prepare for (its next occurrence).")
@click.option(
    "--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Folder to write into."
)
@settings_options
@db_option
def report_cmd(
    event: str, out_dir: Path, breach_likely: float, at_risk: float, margin: float, db: str | None
) -> None:
    """Write a peak-readiness report: report.html (self-contained), report.md, report.json and charts/*.png.

    \b
    Example:
      capacity report --event "Black Friday" --out reports/black-friday
    """
    from capacity.report.render import ReportInput, flagged, render_html, render_json, render_markdown

    settings = RiskSettings(breach_likely=breach_likely, at_risk=at_risk, margin=margin)
    store = open_store(db)
    run = load_fleet_risks(store, event=event, settings=settings)
    if run.frame.empty:
        raise InvalidInput(
            "no series stored yet; load some with capacity ingest, then capacity forecast --all"
        )
    charts_dir = out_dir / "charts"
    charts_dir.mkdir(parents=True, exist_ok=True)
    charts: dict[tuple[str, str], bytes] = {}
    files: dict[tuple[str, str], str] = {}
    for service, metric in flagged(run.frame):
        if (service, metric) not in run.forecasts:
            continue
        png = chart_png(store, run, service, metric)
        name = chart_filename(service, metric)
        (charts_dir / name).write_bytes(png)
        charts[(service, metric)] = png
        files[(service, metric)] = f"charts/{name}"
    uplifts = {
        key: [u.describe() for u in parse_diagnostics(stored.diagnostics) if u.start < window_end(run, key)]
        for key, stored in run.forecasts.items()
    }
    event_name = next((w.event for w in run.windows.values() if w.event), event)
    report = ReportInput(
        title=f"Peak readiness: {event_name}",
        window=run.label,
        frame=run.frame,
        charts=charts,
        chart_files=files,
        uplifts=uplifts,
        settings={
            k: getattr(settings, k)
            for k in ("breach_likely", "at_risk", "min_headroom_pct", "risk_level", "margin")
        },
        generated_at=f"{pd.Timestamp.now(tz='UTC'):%Y-%m-%d %H:%M} UTC",
        event=event_name,
    )
    (out_dir / "report.html").write_text(render_html(report), encoding="utf-8")
    (out_dir / "report.md").write_text(render_markdown(report), encoding="utf-8")
    (out_dir / "report.json").write_text(render_json(report), encoding="utf-8")
    counts = status_counts(run.frame)
    console.print(
        f"readiness report for {event_name} ({run.label}): "
        + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        + f"; {len(charts)} charts",
        soft_wrap=True,
    )
    console.print(f"report: {out_dir / 'report.html'}", soft_wrap=True)


COMMANDS = [risks_cmd, plot_cmd, report_cmd]
