"""The chart of a capacity plan (matplotlib, Agg backend): recent weekly peaks, the planned weekly peaks with their
p50-p90 band, the threshold, and the week by which the threshold is likely crossed.

Every week, actual or planned, is drawn as a flat step over its own days (a quarter's last week may be shorter): a
point at the week's start put a week's peak days before it happens (a Black Friday peak drawn on the Saturday
before), so the chart's weeks did not read like the table's.

Pure: :func:`render_plan_chart` returns PNG bytes and :func:`plan_figure` the figure it draws; writing them is the
caller's job (pyplot's global state allows one chart at a time per process: callers hold
:data:`capacity.report.plots.CHART_LOCK`).
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # headless: no display, no GUI toolkit, the same output everywhere

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from capacity.report.plots import FORECAST_COLOR, HISTORY_COLOR, THRESHOLD_COLOR, fit_title, png_bytes


@dataclass(frozen=True)
class PlanChartSpec:
    """What a plan chart shows.

    Attributes:
        title: the chart title.
        unit: the y axis unit label.
        starts: the plan's week starts.
        p50: the planned p50 weekly peaks.
        p90: the planned p90 weekly peaks.
        recent: the actual weekly peaks before the plan, by week start.
        threshold: the threshold line, when known.
        first_crossing: the first likely crossing week (its start), when any, and its probability.
        days: each planned week's length in days (None: 7 each).
    """

    title: str
    unit: str
    starts: pd.DatetimeIndex
    p50: np.ndarray
    p90: np.ndarray
    recent: pd.Series
    threshold: float | None = None
    first_crossing: tuple[pd.Timestamp, float] | None = None
    days: np.ndarray | None = None


#: The labels of the lines a test (or a reader of the figure) finds the planned and actual weeks by.
P50_LABEL = "planned peak p50"
P90_LABEL = "planned peak p90"
ACTUAL_LABEL = "weekly peak (actual)"


def _naive(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index


def week_edges(starts: pd.DatetimeIndex, days: np.ndarray | None) -> pd.DatetimeIndex:
    """The weeks' starts and the last week's end: the x of a step line whose step ``i`` spans week ``i``."""
    lengths = np.full(len(starts), 7) if days is None else np.asarray(days, dtype="int64")
    return pd.DatetimeIndex([*starts, starts[-1] + pd.Timedelta(days=int(lengths[-1]))])


def _steps(values: np.ndarray) -> np.ndarray:
    """``values`` with the last repeated: the y of a ``steps-post`` line over :func:`week_edges`."""
    return np.append(np.asarray(values, dtype="float64"), float(values[-1]))


def plan_figure(spec: PlanChartSpec) -> Figure:
    """Draw the plan chart on a new figure and return it (the caller closes it)."""
    fig, ax = plt.subplots(figsize=(10, 4.8), constrained_layout=True)
    try:
        _draw(fig, ax, spec)
    except Exception:
        plt.close(fig)
        raise
    return fig


def _draw(fig: Figure, ax: Axes, spec: PlanChartSpec) -> None:
    if len(spec.recent):
        recent = _naive(pd.DatetimeIndex(spec.recent.index))
        edges = week_edges(recent, None)
        ax.plot(
            edges,
            _steps(spec.recent.to_numpy()),
            color=HISTORY_COLOR,
            lw=1.4,
            drawstyle="steps-post",
            label=ACTUAL_LABEL,
        )
    starts = _naive(spec.starts)
    edges = week_edges(starts, spec.days)
    # The planned weeks on a light background behind a divider: with a year of history the plan is the
    # right-hand fifth of the chart, and the eye has to find where actuals stop and the plan begins.
    plan_start = float(mdates.date2num(edges[0]))
    plan_end = float(mdates.date2num(edges[-1]))
    ax.axvspan(plan_start, plan_end, color=FORECAST_COLOR, alpha=0.05, lw=0)
    ax.axvline(plan_start, color="0.45", lw=0.9, ls="-")
    p50, p90 = _steps(spec.p50), _steps(spec.p90)
    ax.fill_between(edges, p50, p90, step="post", color=FORECAST_COLOR, alpha=0.22, label="p50 - p90 band")
    ax.plot(edges, p50, color=FORECAST_COLOR, lw=1.8, drawstyle="steps-post", label=P50_LABEL)
    ax.plot(edges, p90, color=FORECAST_COLOR, lw=1.0, ls=":", drawstyle="steps-post", label=P90_LABEL)
    if spec.threshold is not None:
        ax.axhline(
            spec.threshold, color=THRESHOLD_COLOR, lw=1.4, ls="--", label=f"threshold {spec.threshold:,g}"
        )
    if spec.first_crossing is not None:
        week, prob = spec.first_crossing
        start = _naive(pd.DatetimeIndex([week]))[0]
        matches = np.flatnonzero(starts == start)
        end = edges[int(matches[0]) + 1] if len(matches) else start + pd.Timedelta(days=7)
        # P(by then) is of the week's end: the threshold is likely reached by the last day of that week, not by
        # its first (the table's "week of" date), so the label names both and the week is shaded whole. The label
        # is the shaded week's legend entry: written over the plot, it hid the crossing week's own peak, which is
        # where the plan is usually highest.
        last_day = end - pd.Timedelta(days=1)
        ax.axvspan(
            float(mdates.date2num(start)),
            float(mdates.date2num(end)),
            color=THRESHOLD_COLOR,
            alpha=0.12,
            lw=0,
            label=f"likely crossed by {last_day:%Y-%m-%d} (week of {start:%Y-%m-%d}, p={prob:.2f})",
        )
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_title(fit_title(fig, spec.title, 11, share=0.9), fontsize=11)
    ax.set_ylabel(f"weekly peak ({spec.unit})" if spec.unit else "weekly peak")
    ax.set_xlabel("week (UTC days)")
    ax.yaxis.set_major_formatter(
        mticker.FuncFormatter(lambda v, _pos: f"{v:,.0f}" if abs(v) >= 1000 else f"{v:g}")
    )
    ax.set_xlim(right=plan_end)
    ax.grid(alpha=0.25)
    ax.legend(loc="best", fontsize=8, framealpha=0.85)  # where it hides the fewest weeks


def render_plan_chart(spec: PlanChartSpec) -> bytes:
    """Draw the plan chart and return it as PNG bytes."""
    return png_bytes(plan_figure(spec))
