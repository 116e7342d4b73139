"""The plan chart draws each week where the table puts it: a flat step over the week's own days (a quarter's short
last week included), and the week by which the threshold is likely crossed is named by its last day and shaded
whole and named in the legend. Checked on what the figure drew (its lines' data, its texts), not on pixels."""

from __future__ import annotations

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import to_rgb
from matplotlib.patches import Rectangle

from capacity.report.plan_chart import (
    ACTUAL_LABEL,
    P50_LABEL,
    P90_LABEL,
    PlanChartSpec,
    plan_figure,
    render_plan_chart,
)
from capacity.report.plots import THRESHOLD_COLOR


def _spec() -> PlanChartSpec:
    # a quarter: 12 weeks of 7 days and a last week of 6 (2027-01-01 .. 2027-03-31)
    starts = pd.date_range("2027-01-01", periods=13, freq="7D", tz="UTC")
    p50 = np.linspace(80.0, 88.0, 13)
    recent_starts = pd.date_range("2025-12-20", periods=53, freq="7D")
    return PlanChartSpec(
        title="recommendations / memory: weekly max peaks, plan from 2027-01-01 (2027Q1)",
        unit="%",
        starts=starts,
        p50=p50,
        p90=p50 + 3.0,
        recent=pd.Series(np.linspace(60.0, 83.0, 53), index=recent_starts),
        threshold=85.0,
        first_crossing=(starts[2], 0.62),
        days=np.array([7] * 12 + [6]),
    )


def _line(ax: plt.Axes, label: str) -> tuple[list[pd.Timestamp], np.ndarray]:
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == label]
    x = [pd.Timestamp(mdates.num2date(v)).tz_localize(None) for v in mdates.date2num(line.get_xdata())]
    return x, np.asarray(line.get_ydata(), dtype="float64")


def test_each_planned_week_is_a_step_over_its_own_days() -> None:
    spec = _spec()
    fig = plan_figure(spec)
    try:
        ax = fig.axes[0]
        for label, values in ((P50_LABEL, spec.p50), (P90_LABEL, spec.p90)):
            line = next(ln for ln in ax.get_lines() if ln.get_label() == label)
            assert line.get_drawstyle() == "steps-post"
            x, y = _line(ax, label)
            # one edge per week start, then the end of the short last week: the quarter's last day is 03-31
            assert x[:-1] == list(spec.starts.tz_localize(None))
            assert x[-1] == pd.Timestamp("2027-04-01")
            np.testing.assert_allclose(y[:-1], values)
            assert y[-1] == values[-1]
        assert mdates.num2date(ax.get_xlim()[1]).replace(tzinfo=None) == pd.Timestamp("2027-04-01")
        # the actual weeks are steps too, each over its 7 days
        x, y = _line(ax, ACTUAL_LABEL)
        assert x[-1] - x[-2] == pd.Timedelta(days=7)
        np.testing.assert_allclose(y[:-1], spec.recent.to_numpy())
    finally:
        plt.close(fig)


def test_the_likely_crossing_names_the_last_day_of_its_week_and_shades_the_week() -> None:
    spec = _spec()
    fig = plan_figure(spec)
    try:
        ax = fig.axes[0]
        # named in the legend, not written over the weeks (where it hid the crossing week's own peak)
        assert not ax.texts
        legend = ax.get_legend()
        assert legend is not None
        assert "likely crossed by 2027-01-21 (week of 2027-01-15, p=0.62)" in [
            t.get_text() for t in legend.get_texts()
        ]
        red = to_rgb(THRESHOLD_COLOR)
        spans = [
            (p.get_x(), p.get_x() + p.get_width())
            for p in ax.patches
            if isinstance(p, Rectangle) and np.allclose(p.get_facecolor()[:3], red)
        ]
        assert spans == [
            (mdates.date2num(pd.Timestamp("2027-01-15")), mdates.date2num(pd.Timestamp("2027-01-22")))
        ]
    finally:
        plt.close(fig)


def test_the_chart_is_a_png() -> None:
    assert render_plan_chart(_spec())[:8] == b"\x89PNG\r\n\x1a\n"
