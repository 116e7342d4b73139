"""``capacity plan``: quarterly capacity plans, week by week, from the stored histories (stored when made)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from capacity.cli.common import console, db_option, fmt, open_store
from capacity.plan.weeks import parse_weeks
from capacity.schema import unit_label
from capacity.services.plans import (
    PlanOutcome,
    PlanRequest,
    accuracy_summary,
    make_plans,
    plan_accuracy,
    plan_chart_png,
    plan_record,
    stored_plan_record,
)


def _table(title: str | None, columns: list[str], rows: list[list[str]]) -> None:
    """A table that fits the terminal, and is never folded when piped (rich assumes 80 columns off a terminal)."""
    table = Table(title=title)
    for col in columns:
        table.add_column(col, no_wrap=True)
    for row in rows:
        table.add_row(*row)
    (console if console.is_terminal else Console(width=1000, highlight=False)).print(table)


def _pct(outcome: PlanOutcome) -> str:
    """The suffix of a percent metric's values ("%"), as the risk table prints them; "" for any other metric."""
    return "%" if unit_label(outcome.metric) == "%" else ""


def _summary(outcome: PlanOutcome) -> str:
    plan = outcome.plan
    assert plan is not None
    t = plan.target
    threshold = "no threshold" if t.threshold is None else f"threshold {t.threshold:g}{_pct(outcome)}"
    crossing = (
        "no likely crossing"
        if plan.first_crossing is None
        else f"first likely crossing: week of {plan.first_crossing.date()} "
        f"(p={plan.first_crossing_probability:.2f})"
    )
    return (
        f"[bold]{t.service}/{t.metric}[/bold] {outcome.basis or 'daily ' + outcome.agg}, {threshold}; growth "
        f"{plan.growth.pct_per_year:+.1f}%/yr ({plan.growth.basis}); {crossing}"
    )


def _rows(outcome: PlanOutcome) -> list[list[str]]:
    assert outcome.plan is not None
    return [
        [
            str(w.start.date()) + ("" if w.days == 7 else f" ({w.days}d)"),
            fmt(w.p50, 1, _pct(outcome)),
            fmt(w.p90, 1, _pct(outcome)),
            fmt(w.headroom_pct, 1, "%"),
            "-" if w.instances_needed is None else str(w.instances_needed),
            fmt(w.crossing, 2),
            fmt(w.cumulative, 2),
        ]
        for w in outcome.plan.weeks
    ]


@click.command("plan")
@click.option(
    "--horizon", default="13w", show_default=True, help="Weeks ahead, e.g. 13w (ignored with --quarter)."
)
@click.option("--quarter", default=None, help="Plan the weeks of a quarter instead, e.g. 2027Q1.")
@click.option("--service", default=None, help="Only this service.")
@click.option("--metric", default=None, help="Only this metric.")
@click.option(
    "--agg",
    type=click.Choice(["max", "p95", "mean"]),
    default=None,
    help="How a day's hours are reduced to its peak (default: max, the day's peak hour, as the risk table "
    "reads it; the series' own aggregation combines the samples inside each hour).",
)
@click.option(
    "--margin",
    default=0.1,
    show_default=True,
    type=click.FloatRange(0, 10, max_open=True),
    help="Capacity margin.",
)
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Write the plans as JSON.")
@click.option(
    "--chart", "chart_dir", type=click.Path(path_type=Path), help="Write one PNG chart per series here."
)
@click.option(
    "--no-save", is_flag=True, help="Do not store the plans (they are stored by default, to be scored)."
)
@db_option
def plan(
    horizon: str,
    quarter: str | None,
    service: str | None,
    metric: str | None,
    agg: str | None,
    margin: float,
    json_out: Path | None,
    chart_dir: Path | None,
    no_save: bool,
    db: str | None,
) -> None:
    """Quarterly capacity plans: each week's expected peak (p50, p90), headroom, instances and crossings.

    Every series' daily peaks are forecast months ahead (yearly cycle, growth), weekly peaks calibrated by
    backtest. Per week: p50 and p90 peak, headroom of the p90 peak under the threshold, instances keeping the
    p90 peak x (1 + margin) under the limit, the probability the week's peak reaches the threshold, and the
    probability it has by then. Plans are stored as made; ``capacity accuracy --plans`` scores them.

    \b
    Examples:
      capacity plan --horizon 13w
      capacity plan --quarter 2027Q1 --service checkout --json plan.json --chart charts/
    """
    request = PlanRequest(
        weeks=parse_weeks(horizon), quarter=quarter, service=service, metric=metric, agg=agg, margin=margin
    )
    store = open_store(db)
    outcomes = make_plans(store, request, save=not no_save)
    for outcome in outcomes:
        if outcome.plan is None:
            console.print(f"{outcome.service}/{outcome.metric}: no plan: {outcome.error}", soft_wrap=True)
            continue
        console.print(_summary(outcome), soft_wrap=True)
        console.print(f"  model: {outcome.plan.model}", soft_wrap=True, highlight=False)
        _table(
            None,
            ["week", "p50 peak", "p90 peak", "headroom", "inst.", "P(cross)", "P(by then)"],
            _rows(outcome),
        )
    if json_out:
        json_out.write_text(json.dumps([plan_record(o) for o in outcomes], indent=2))
        console.print(f"wrote {json_out}")
    if chart_dir:
        chart_dir.mkdir(parents=True, exist_ok=True)
        written = 0
        for outcome in outcomes:
            if outcome.plan is not None:
                path = chart_dir / f"plan-{outcome.service}-{outcome.metric}.png"
                path.write_bytes(plan_chart_png(outcome))
                written += 1
        console.print(f"wrote {written} chart(s) to {chart_dir}")
    failed = sum(1 for o in outcomes if o.plan is None)
    if failed == len(outcomes):
        raise click.exceptions.Exit(2)
    saved = "" if no_save else f", {len(outcomes) - failed} stored"
    console.print(f"{len(outcomes) - failed} plan(s){saved}; {failed} series without a plan")


COMMANDS = [plan]


def show_plan_accuracy(
    store: Any, service: str | None, metric: str | None, limit: int, json_out: Path | None
) -> None:
    """``capacity accuracy --plans``: the stored plans with their scores (due ones scored first), and the totals."""
    stored = plan_accuracy(store, service, metric, limit=limit)
    rows = []
    for p in stored:
        s = p.score
        rows.append(
            [
                f"{p.service}/{p.metric}",
                p.quarter or f"{p.first_day.date()} +{len(p.weeks)}w",
                f"{p.created_at:%Y-%m-%d}",
                "-" if s is None else f"{s.weeks_scored}/{s.weeks_planned}",
                "-" if s is None else f"{s.mape:.1f}%",
                "-" if s is None else f"{s.within_10:.0%}",
                "-" if s is None else f"{s.within_20:.0%}",
            ]
        )
    _table(
        "plan accuracy: weekly p50 peak against the actual weekly peak",
        ["series", "weeks", "made", "scored", "MAPE", "±10%", "±20%"],
        rows,
    )
    total = accuracy_summary(stored)
    if total["weeks"]:
        console.print(
            f"{total['weeks']} week(s) of {total['plans']} plan(s): MAPE {total['mape']:.1f}%, "
            f"{total['within_10']:.0%} within ±10%, {total['within_20']:.0%} within ±20%",
            soft_wrap=True,
        )
    else:
        console.print("no plan week has actuals yet", soft_wrap=True)
    if json_out:
        doc = {"summary": total, "plans": [stored_plan_record(p) for p in stored]}
        json_out.write_text(json.dumps(doc, indent=2))
        console.print(f"wrote {json_out}")
