"""The peak-readiness report: the ranked risk table and one chart per at-risk series, as HTML, Markdown and JSON.

Pure: takes the ranked risk frame, chart images (PNG bytes) and a few facts, returns text. The HTML page is
self-contained (charts embedded as base64 PNG data URIs) and fits a 1280 px window; the Markdown page links the PNG
files written next to it and is plain Markdown. Every user-supplied string (service, metric, event names, notes) is
HTML-escaped in the page and backslash-escaped in the Markdown (no HTML entities there).
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from capacity.report.plan_section import plan_html, plan_markdown
from capacity.risk.assess import AT_RISK, BREACH_LIKELY, STATUSES, UNKNOWN, status_counts
from capacity.schema import unit_label

#: Statuses whose series get a chart and a section in the report.
FLAGGED = (BREACH_LIKELY, AT_RISK, UNKNOWN)

_STATUS_CLASS = {BREACH_LIKELY: "likely", AT_RISK: "risk", "ok": "ok", UNKNOWN: "unknown"}

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1180px;color:#222;
padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.meta{color:#555;font-size:.9rem}.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;font-size:.85rem}
th,td{border-bottom:1px solid #e4e4e4;padding:.3rem .4rem;text-align:right;white-space:nowrap}
th{background:#f6f6f6;white-space:normal;vertical-align:bottom}td.wrap{white-space:normal;min-width:7.5rem}
td:nth-child(1),td:nth-child(2),th:nth-child(1),th:nth-child(2){text-align:left}
td.status{font-weight:600;text-align:left}.likely{color:#b00020}.risk{color:#b35c00}.ok{color:#2e7d32}
.unknown{color:#555}.counts span{margin-right:1.2rem}.note{color:#555;font-size:.85rem;white-space:normal}
img{max-width:100%;border:1px solid #eee;margin:.5rem 0}
"""
#: Columns whose cells may wrap at their spaces (two timestamps, three peaks), so the table fits a 1280 px window.
_WRAP = {"peak p50 / p90 / p95", "first likely breach (p10 .. p90), UTC", "headroom"}


@dataclass(frozen=True)
class ReportInput:
    """Everything a report shows.

    Attributes:
        title: the page title, e.g. ``Peak readiness: Black Friday``.
        window: how the window was chosen (``until end of Black Friday (2026-11-30)``).
        frame: the ranked risk frame (``capacity.risk.assess.RISK_COLUMNS``).
        charts: PNG bytes by ``(service, metric)`` for the flagged series.
        chart_files: file names of the charts written next to the Markdown page, by ``(service, metric)``.
        uplifts: which uplift each series' forecast used, by ``(service, metric)`` (human lines).
        settings: the risk settings used (name -> value).
        generated_at: when the report was made (given by the caller: the engine never reads the clock).
        event: the event name, when the report is for one.
        plans: the capacity-plan section's rows (``capacity.services.plans.plan_summary``); None: no section.
        accuracy: each series' live forecast accuracy (``capacity.services.accuracy.live_summaries``), by
            ``(service, metric)``: how far its forecast has been right so far.
    """

    title: str
    window: str
    frame: pd.DataFrame
    charts: Mapping[tuple[str, str], bytes] = field(default_factory=dict)
    chart_files: Mapping[tuple[str, str], str] = field(default_factory=dict)
    uplifts: Mapping[tuple[str, str], Sequence[str]] = field(default_factory=dict)
    settings: Mapping[str, float] = field(default_factory=dict)
    generated_at: str = ""
    event: str | None = None
    plans: Sequence[Mapping[str, Any]] | None = None
    accuracy: Mapping[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _num(value: Any, digits: int = 1, suffix: str = "") -> str:
    return "-" if _is_missing(value) else f"{float(value):.{digits}f}{suffix}"


def _when(value: Any) -> str:
    return "-" if _is_missing(value) else f"{pd.Timestamp(value):%Y-%m-%d %H:%M}"


def table_rows(frame: pd.DataFrame) -> list[dict[str, str]]:
    """The ranked frame as display strings (unescaped), one dict per series."""
    out = []
    for rec in frame.to_dict(orient="records"):
        metric = str(rec["metric"])
        pct = "%" if unit_label(metric) == "%" else ""
        first = _when(rec["first_breach"])
        if first != "-" and not _is_missing(rec["first_breach_early"]):
            first += f" ({_when(rec['first_breach_early'])[5:]} .. {_when(rec['first_breach_late'])[5:]})"
        headroom = "-"
        if not _is_missing(rec["headroom"]):
            headroom = f"{_num(rec['headroom'], 1, pct)} ({_num(rec['headroom_pct'], 0, '%')})"
        out.append(
            {
                "service": str(rec["service"]),
                "metric": metric,
                "threshold": _num(rec["threshold"], 1, pct),
                "peak p50 / p90 / p95": " / ".join(
                    _num(rec[c], 1, pct) for c in ("peak_p50", "peak_p90", "peak_p95")
                ),
                "breach probability": "-"
                if _is_missing(rec["breach_probability"])
                else f"{rec['breach_probability']:.0%}",
                "first likely breach (p10 .. p90), UTC": first,
                "headroom": headroom,
                "instances to add": "-"
                if _is_missing(rec["instances_to_add"])
                else str(int(rec["instances_to_add"])),
                "status": str(rec["status"]),
                "note": str(rec["note"] or ""),
            }
        )
    return out


COLUMNS = (
    "service",
    "metric",
    "threshold",
    "peak p50 / p90 / p95",
    "breach probability",
    "first likely breach (p10 .. p90), UTC",
    "headroom",
    "instances to add",
    "status",
)


def flagged(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """The (service, metric) of every series whose status is breach likely, at risk or unknown, in rank order."""
    rows = frame[frame["status"].isin(FLAGGED)]
    return [(str(s), str(m)) for s, m in zip(rows["service"], rows["metric"], strict=True)]


def accuracy_line(live: Mapping[str, Any] | None) -> str:
    """One sentence on a series' live forecast accuracy ("" when none of its forecasts has been scored yet)."""
    if not live:
        return ""
    text = (
        f"live MASE {_num(live.get('mase'), 2)} over {live.get('scored_steps', 0)} steps of "
        f"{live.get('runs_scored', 0)} stored forecast(s), backtest promised {_num(live.get('backtest_mase'), 2)}"
    )
    if not _is_missing(live.get("coverage_80")):
        text += f"; the 80% interval held {float(live['coverage_80']):.0%} of actuals"
    if live.get("drift"):
        text += "; DRIFT: live error well above the backtest's, trust this forecast less"
    return text


def _extra_note(note: str, uplifts: Sequence[str]) -> str:
    """The parts of a risk note not already shown as uplift lines.

    A note joins its parts with ``"; "``, and an uplift line may itself hold one (a learned uplift shrunk towards
    the calendar's: ``"... peak-hour x2.55 (log sd 0.19); level x1.60, shrunk ..."``): splitting the note first cut
    such a line in two pieces that matched no uplift line, and the page repeated every uplift under its lines. So
    each whole uplift line is taken out of the note before it is split."""
    for line in sorted(uplifts, key=len, reverse=True):
        if line:
            note = note.replace(line, "")
    return "; ".join(part for part in (p.strip() for p in note.split(";")) if part)


def render_html(report: ReportInput) -> str:
    """The self-contained HTML page (charts embedded as data URIs); every user string is escaped."""
    e = html.escape
    counts = status_counts(report.frame)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(report.title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{e(report.title)}</h1>",
        f'<p class="meta">Window: {e(report.window)}'
        + (f" &middot; generated {e(report.generated_at)}" if report.generated_at else "")
        + "</p>",
        '<p class="counts">'
        + "".join(f'<span class="{_STATUS_CLASS[s]}">{counts[s]} {e(s)}</span>' for s in STATUSES)
        + "</p>",
        "<h2>Ranked risks</h2>",
        '<div class="scroll"><table><thead><tr>'
        + "".join(f"<th>{e(c)}</th>" for c in COLUMNS)
        + "</tr></thead><tbody>",
    ]
    rows = table_rows(report.frame)
    for row in rows:
        cells = []
        for c in COLUMNS:
            if c == "service":
                anchor = f"{row['service']}-{row['metric']}"
                text = e(row[c])
                if row["status"] in FLAGGED:
                    text = f'<a href="#{e(anchor)}">{text}</a>'
                cells.append(f"<td>{text}</td>")
            elif c == "status":
                cells.append(f'<td class="status {_STATUS_CLASS.get(row[c], "")}">{e(row[c])}</td>')
            elif c in _WRAP:
                cells.append(f'<td class="wrap">{e(row[c])}</td>')
            else:
                cells.append(f"<td>{e(row[c])}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</tbody></table></div>")
    flagged_rows = [r for r in rows if r["status"] in FLAGGED]
    if flagged_rows:
        parts.append("<h2>Series to act on</h2>")
    for row in flagged_rows:
        key = (row["service"], row["metric"])
        anchor = f"{row['service']}-{row['metric']}"
        parts.append(
            f'<h3 id="{e(anchor)}">{e(row["service"])} / {e(row["metric"])}: {e(row["status"])}</h3>'
        )
        parts.append(
            f"<p>Breach probability {e(row['breach probability'])}; first likely breach "
            f"{e(row['first likely breach (p10 .. p90), UTC'])}; peak p95 {e(row['peak p50 / p90 / p95'].split(' / ')[-1])} "
            f"against threshold {e(row['threshold'])}; headroom {e(row['headroom'])}; instances to add "
            f"{e(row['instances to add'])}.</p>"
        )
        for line in report.uplifts.get(key, ()):
            parts.append(f'<p class="note">Uplift: {e(line)}</p>')
        live = accuracy_line(report.accuracy.get(key))
        if live:
            parts.append(f'<p class="note">Forecast accuracy: {e(live)}</p>')
        note = _extra_note(row["note"], report.uplifts.get(key, ()))
        if note:
            parts.append(f'<p class="note">{e(note)}</p>')
        png = report.charts.get(key)
        if png:
            data = base64.b64encode(png).decode("ascii")
            alt = f"{row['service']} {row['metric']}: history, forecast with 80% and 95% bands, threshold"
            parts.append(f'<img src="data:image/png;base64,{data}" alt="{e(alt)}">')
    if report.plans is not None:
        parts.append(plan_html(report.plans))
    if report.settings:
        parts.append('<h2>Settings</h2><p class="meta">')
        parts.append(", ".join(f"{e(k)} = {e(str(v))}" for k, v in report.settings.items()))
        parts.append("</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


#: Characters Markdown would read as markup (a table cell's end, raw HTML, emphasis, links, code).
_MD_SPECIAL = re.compile(r"([\\|<>*\[\]`])")
_MD_ENTITY = re.compile(r"&(?=#?\w+;)")


def _md_cell(text: str) -> str:
    """Plain text as Markdown: markup characters backslash-escaped (no HTML entities), one line."""
    out = _MD_SPECIAL.sub(r"\\\1", text)
    return _MD_ENTITY.sub(r"\\&", out).replace("\n", " ")


def render_markdown(report: ReportInput) -> str:
    """The Markdown page: the ranked table, then one section per flagged series linking its PNG file."""
    counts = status_counts(report.frame)
    lines = [
        f"# {_md_cell(report.title)}",
        "",
        f"Window: {_md_cell(report.window)}"
        + (f" · generated {_md_cell(report.generated_at)}" if report.generated_at else ""),
        "",
        " · ".join(f"{counts[s]} {s}" for s in STATUSES),
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    rows = table_rows(report.frame)
    for row in rows:
        lines.append("| " + " | ".join(_md_cell(row[c]) for c in COLUMNS) + " |")
    for row in rows:
        if row["status"] not in FLAGGED:
            continue
        key = (row["service"], row["metric"])
        lines += ["", f"## {_md_cell(row['service'])} / {_md_cell(row['metric'])}: {row['status']}", ""]
        for line in report.uplifts.get(key, ()):
            lines.append(f"- uplift: {_md_cell(line)}")
        live = accuracy_line(report.accuracy.get(key))
        if live:
            lines.append(f"- forecast accuracy: {_md_cell(live)}")
        note = _extra_note(row["note"], report.uplifts.get(key, ()))
        if note:
            lines.append(f"- note: {_md_cell(note)}")
        if key in report.chart_files:
            lines += [
                "",
                f"![{_md_cell(row['service'])} {_md_cell(row['metric'])}]({report.chart_files[key]})",
            ]
    if report.plans is not None:
        lines += plan_markdown(report.plans, _md_cell)
    return "\n".join(lines) + "\n"


def _jsonable(value: Any) -> Any:
    if _is_missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def render_json(report: ReportInput) -> str:
    """The report's numbers as JSON: window, counts, settings, ranked risks, uplifts and chart files."""
    risks = [{str(k): _jsonable(v) for k, v in rec.items()} for rec in report.frame.to_dict(orient="records")]
    payload = {
        "title": report.title,
        "event": report.event,
        "window": report.window,
        "generated_at": report.generated_at,
        "counts": status_counts(report.frame),
        "settings": dict(report.settings),
        "risks": risks,
        "uplifts": {f"{s}/{m}": list(v) for (s, m), v in report.uplifts.items()},
        "charts": {f"{s}/{m}": f for (s, m), f in report.chart_files.items()},
        "accuracy": {f"{s}/{m}": dict(v) for (s, m), v in report.accuracy.items()},
    }
    if report.plans is not None:
        payload["plans"] = [dict(row) for row in report.plans]
    return json.dumps(payload, indent=2)
