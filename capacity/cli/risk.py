"""``capacity risks | report | plot``: the ranked breach-risk table, the readiness report and per-series charts.

What they show is computed by :mod:`capacity.services.fleet_risk` and :mod:`capacity.services.readiness`, which the
API calls too; here are the options, the table and the files.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click
import pandas as pd
from rich.table import Table

from capacity.cli.common import EXIT_CODES_EPILOG, EXIT_FAILED, console, db_option, fmt, open_store
from capacity.cli.forecasting import forecast_through
from capacity.errors import InvalidInput
from capacity.report.render import render_html, render_json, render_markdown
from capacity.risk.assess import RiskSettings, status_counts
from capacity.schema import unit_label, validate_name
from capacity.services.fleet_risk import FleetRiskRun, load_fleet_risks, parse_until
from capacity.services.readiness import readiness_report, run_chart
from capacity.services.staleness import STALE_NOTE


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
    """Print the ranked table (fitted to a terminal; whole lines in a pipe, e.g. the demo's log)."""
    table = Table(title=title)
    for col in TABLE_COLUMNS:
        table.add_column(col, no_wrap=col in {"status", "P(breach)", "threshold", "peak p95"})
    for row in risk_rows(run.frame, run.infos):
        table.add_row(*row)
    console.print(table)


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


def forecast_option(func: Any) -> Any:
    """``--no-forecast``: rank the stored forecasts as they are (``risks`` and ``report``)."""
    return click.option(
        "--no-forecast",
        "no_forecast",
        is_flag=True,
        help="Rank the stored forecasts as they are. Without it, series whose forecast is missing, stale or ends "
        "before the window are forecast first, as far ahead as the window needs.",
    )(func)


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


@click.command("risks", epilog=EXIT_CODES_EPILOG)
@click.option("--event", help="Assess until the end of this event's next occurrence.")
@click.option("--until", help="Assess until this date (inclusive) or timestamp (UTC).")
@click.option(
    "--json", "json_out", type=click.Path(path_type=Path), help="Also write the ranked table as JSON."
)
@forecast_option
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
    no_forecast: bool = False,
) -> None:
    """Rank every series by the probability of crossing its threshold before/through an event or a date.

    With --event or --until, a series whose forecast is missing, stale or ends before its window is forecast first,
    as far ahead as the window needs (no --horizon to work out); a series whose history is too short to reach the
    window is listed and ranked without it.

    \b
    Examples:
      capacity risks --event "Black Friday"
      capacity risks --until 2026-12-31 --json risks.json
    """
    settings = RiskSettings(breach_likely=breach_likely, at_risk=at_risk, margin=margin)
    store = open_store(db)
    end = parse_until(until) if until else None
    if event and end is not None:
        raise InvalidInput("give --event or --until, not both", field="until")
    outcomes = [] if no_forecast else forecast_through(store, event=event, until=end)
    run = load_fleet_risks(store, event=event, until=end, settings=settings)
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
    exit_if_failed(outcomes)


def exit_if_failed(outcomes: list[Any]) -> None:
    """Exit 1 after the output when a forecast made for the run failed (each was listed with its reason)."""
    failed = [o for o in outcomes if not o.ok]
    if failed:
        console.print(f"{len(failed)} series could not be forecast; they are ranked without a new forecast")
        raise click.exceptions.Exit(EXIT_FAILED)


@click.command("plot", epilog=EXIT_CODES_EPILOG)
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
    info = store.series.describe(service, metric)
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
    png = run_chart(store, run, service, metric)
    target = out or Path(f"{service}-{metric}.png")
    target.write_bytes(png)
    console.print(f"wrote {target} ({len(png) // 1024} KiB)", soft_wrap=True)


def chart_filename(service: str, metric: str) -> str:
    """A safe PNG file name for a series (names are already restricted to letters, digits and ``_ . : -``)."""
    return f"{service}-{metric}.png".replace(":", "_")


@click.command("report", epilog=EXIT_CODES_EPILOG)
@click.option("--event", required=True, help="The peak event to prepare for (its next occurrence).")
@click.option(
    "--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Folder to write into."
)
@forecast_option
@settings_options
@db_option
def report_cmd(
    event: str,
    out_dir: Path,
    breach_likely: float,
    at_risk: float,
    margin: float,
    db: str | None,
    no_forecast: bool = False,
) -> None:
    """Write a peak-readiness report: report.html (self-contained), report.md, report.json and charts/*.png.

    Like capacity risks --event, it first forecasts the series whose forecast is missing, stale or ends before the
    event (unless --no-forecast).

    \b
    Example:
      capacity report --event "Black Friday" --out reports/black-friday
    """
    settings = RiskSettings(breach_likely=breach_likely, at_risk=at_risk, margin=margin)
    store = open_store(db)
    outcomes = [] if no_forecast else forecast_through(store, event=event)
    report = readiness_report(store, event, settings, require_series=True)
    charts_dir = out_dir / "charts"
    charts_dir.mkdir(parents=True, exist_ok=True)
    files: dict[tuple[str, str], str] = {}
    for (service, metric), png in report.charts.items():
        name = chart_filename(service, metric)
        (charts_dir / name).write_bytes(png)
        files[(service, metric)] = f"charts/{name}"
    report = replace(report, chart_files=files)
    (out_dir / "report.html").write_text(render_html(report), encoding="utf-8")
    (out_dir / "report.md").write_text(render_markdown(report), encoding="utf-8")
    (out_dir / "report.json").write_text(render_json(report), encoding="utf-8")
    counts = status_counts(report.frame)
    console.print(
        f"readiness report for {report.event} ({report.window}): "
        + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        + f"; {len(report.charts)} charts",
        soft_wrap=True,
    )
    console.print(f"report: {out_dir / 'report.html'}", soft_wrap=True)
    exit_if_failed(outcomes)


COMMANDS = [risks_cmd, plot_cmd, report_cmd]
