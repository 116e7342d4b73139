"""The chart of a capacity plan (matplotlib, Agg backend): recent weekly peaks, the planned weekly peaks with their
p50-p90 band, the threshold, and the first week the threshold is likely crossed.

Pure: :func:`render_plan_chart` returns PNG bytes; writing them is the caller's job (pyplot's global state allows
one chart at a time per process: callers hold :data:`capacity.report.plots.CHART_LOCK`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # headless: no display, no GUI toolkit, the same output everywhere

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd

from capacity.report.plots import FORECAST_COLOR, HISTORY_COLOR, THRESHOLD_COLOR, fit_title


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
        first_crossing: the first likely crossing week, when any, and its probability.
    """

    title: str
    unit: str
    starts: pd.DatetimeIndex
    p50: np.ndarray
    p90: np.ndarray
    recent: pd.Series
    threshold: float | None = None
    first_crossing: tuple[pd.Timestamp, float] | None = None


def _naive(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index


def render_plan_chart(spec: PlanChartSpec) -> bytes:
    """Draw the plan chart and return it as PNG bytes."""
    fig, ax = plt.subplots(figsize=(10, 4.8), constrained_layout=True)
    try:
        if len(spec.recent):
            recent = _naive(pd.DatetimeIndex(spec.recent.index))
            ax.plot(
                recent,
                spec.recent.to_numpy(),
                color=HISTORY_COLOR,
                lw=1.4,
                marker=".",
                label="weekly peak (actual)",
            )
        starts = _naive(spec.starts)
        # The planned weeks on a light background behind a divider: with a year of history the plan is the
        # right-hand fifth of the chart, and the eye has to find where actuals stop and the plan begins.
        plan_start = float(mdates.date2num(starts[0]))
        plan_end = float(mdates.date2num(starts[-1] + pd.Timedelta(days=7)))
        ax.axvspan(plan_start, plan_end, color=FORECAST_COLOR, alpha=0.05, lw=0)
        ax.axvline(plan_start, color="0.45", lw=0.9, ls="-")
        ax.fill_between(starts, spec.p50, spec.p90, color=FORECAST_COLOR, alpha=0.22, label="p50 - p90 band")
        ax.plot(starts, spec.p50, color=FORECAST_COLOR, lw=1.8, marker="o", ms=3.5, label="planned peak p50")
        ax.plot(starts, spec.p90, color=FORECAST_COLOR, lw=1.0, ls=":", label="planned peak p90")
        if spec.threshold is not None:
            ax.axhline(
                spec.threshold, color=THRESHOLD_COLOR, lw=1.4, ls="--", label=f"threshold {spec.threshold:,g}"
            )
        if spec.first_crossing is not None:
            week, prob = spec.first_crossing
            x = mdates.date2num(_naive(pd.DatetimeIndex([week]))[0])
            ax.axvline(x, color=THRESHOLD_COLOR, lw=1.0, alpha=0.7)
            ax.annotate(
                f"likely crossed by {week:%Y-%m-%d} (p={prob:.2f})",
                xy=(x, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(-4, -14),
                textcoords="offset points",
                ha="right",
                color=THRESHOLD_COLOR,
                fontsize=9,
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85},
            )
        locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.set_title(fit_title(fig, spec.title, 11, share=0.9), fontsize=11)
        ax.set_ylabel(f"weekly peak ({spec.unit})" if spec.unit else "weekly peak")
        ax.yaxis.set_major_formatter(
            mticker.FuncFormatter(lambda v, _pos: f"{v:,.0f}" if abs(v) >= 1000 else f"{v:g}")
        )
        ax.set_xlim(right=plan_end)
        ax.grid(alpha=0.25)
        ax.legend(loc="upper left", fontsize=8, framealpha=0.85)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        return buf.getvalue()
    finally:
        plt.close(fig)
