"""The capacity-plan section of the readiness report: one line per series with a stored plan.

Each row is a plain dict (:func:`capacity.services.plans.plan_summary` makes them from the stored plans): the
planned weeks, the highest p50 and p90 weekly peaks, the least headroom, the most instances needed, the first week
the threshold is likely crossed, the growth assumed, when the plan was made and, once scored, its accuracy. Pure:
rows in, HTML or Markdown out; every user string is escaped.

The peaks carry the metric's unit and the daily aggregation they were planned on, as the risk table above them
carries its unit: a series planned on daily p95 states a lower peak than the hourly peak the risk table shows for
the same days, and without the aggregation the two read as a contradiction. The HTML table scrolls inside the page
and its long cells wrap, so that the page fits a 1280 px window as the risk table does.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from capacity.schema import unit_label

#: The section's columns: (heading, row key).
PLAN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("service", "service"),
    ("metric", "metric"),
    ("weeks", "weeks"),
    ("weekly peak p50 / p90", "peak"),
    ("least headroom", "headroom"),
    ("instances", "instances"),
    ("first likely crossing", "crossing"),
    ("growth", "growth"),
    ("made", "made"),
    ("accuracy (±10% / ±20%)", "accuracy"),
)

#: Columns whose cells may wrap at their spaces.
_WRAP = {"weeks", "peak", "crossing", "growth", "accuracy"}

HINT = "No stored plan: make one with capacity plan --horizon 13w (or --quarter 2027Q1)."


def plan_cells(row: Mapping[str, Any]) -> dict[str, str]:
    """The text of each column of one summary row."""

    def num(value: Any, digits: int = 1, suffix: str = "") -> str:
        return "-" if value is None else f"{value:.{digits}f}{suffix}"

    crossing = row.get("first_crossing")
    score = row.get("score")
    pct = "%" if unit_label(str(row["metric"])) == "%" else ""
    agg = f" (daily {row['agg']})" if row.get("agg") else ""
    return {
        "service": str(row["service"]),
        "metric": str(row["metric"]),
        "weeks": f"{row['first_day'][:10]} +{row['weeks']}w"
        + (f" ({row['quarter']})" if row.get("quarter") else ""),
        "peak": f"{num(row['peak_p50'], 1, pct)} / {num(row['peak_p90'], 1, pct)}{agg}",
        "headroom": num(row.get("min_headroom_pct"), 1, "%"),
        "instances": "-" if row.get("max_instances") is None else str(row["max_instances"]),
        "crossing": "none likely"
        if crossing is None
        else f"week of {crossing[:10]} (p={row['first_crossing_probability']:.2f})",
        "growth": f"{row['growth_pct']:+.1f}%/yr ({row['growth_basis']})",
        "made": str(row["created_at"])[:10],
        "accuracy": "not scored yet"
        if score is None
        else f"{score['within_10']:.0%} / {score['within_20']:.0%} of {score['weeks_scored']} weeks",
    }


def plan_html(rows: Sequence[Mapping[str, Any]]) -> str:
    """The section as HTML (a heading and a table, or the hint without plans)."""
    e = html.escape
    parts = ["<h2>Capacity plan</h2>"]
    if not rows:
        return "\n".join([*parts, f'<p class="note">{e(HINT)}</p>'])
    parts.append(
        '<div class="scroll"><table><thead><tr>'
        + "".join(f"<th>{e(h)}</th>" for h, _ in PLAN_COLUMNS)
        + "</tr></thead><tbody>"
    )
    for row in rows:
        cells = plan_cells(row)
        parts.append(
            "<tr>"
            + "".join(
                f'<td class="wrap">{e(cells[k])}</td>' if k in _WRAP else f"<td>{e(cells[k])}</td>"
                for _, k in PLAN_COLUMNS
            )
            + "</tr>"
        )
    parts.append("</tbody></table></div>")
    return "\n".join(parts)


def plan_markdown(rows: Sequence[Mapping[str, Any]], cell: Callable[[str], str]) -> list[str]:
    """The section as Markdown lines, each cell's text escaped by ``cell`` (the report's own Markdown escaping: the
    section is part of its page, and HTML entities are not Markdown)."""
    lines = ["", "## Capacity plan", ""]
    if not rows:
        return [*lines, cell(HINT)]
    lines.append("| " + " | ".join(cell(h) for h, _ in PLAN_COLUMNS) + " |")
    lines.append("|" + "|".join("---" for _ in PLAN_COLUMNS) + "|")
    for row in rows:
        cells = plan_cells(row)
        lines.append("| " + " | ".join(cell(cells[k]) for _, k in PLAN_COLUMNS) + " |")
    return lines
