"""The forecast chart of one series as PNG bytes (matplotlib, Agg, no pyplot: safe in server threads).

Recent history, the forecast mean and its band, the threshold and the event windows, with labelled axes and units.
"""

from __future__ import annotations

import io

import pandas as pd

from api.forecasting import band
from capacity.schema import MEAN, TS, quantile_column, unit_label
from capacity.store import SeriesInfo, Store, StoredForecast

#: How much history precedes the forecast on the chart, in forecast lengths (at least 3 days).
HISTORY_SPAN = 2.0


def forecast_png(
    store: Store, info: SeriesInfo, fc: StoredForecast, steps: int, quantiles: tuple[float, ...]
) -> bytes:
    """Render the chart of ``fc`` (first ``steps`` steps) with recent history, threshold and events."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import date2num
    from matplotlib.figure import Figure

    frame = fc.frame.iloc[:steps]
    start = frame[TS].iloc[0]
    span = max(pd.Timedelta(days=3), (frame[TS].iloc[-1] - start) * HISTORY_SPAN)
    history = store.load_history(info.service, info.metric, start=start - span)
    fig = Figure(figsize=(10, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if len(history):
        ax.plot(history.index, history.to_numpy(), color="#444444", linewidth=0.9, label="actual")
    lo_hi = band(quantiles)
    if lo_hi is not None:
        lo, hi = quantile_column(lo_hi[0]), quantile_column(lo_hi[1])
        if lo in frame.columns and hi in frame.columns:
            ax.fill_between(
                frame[TS],
                frame[lo],
                frame[hi],
                color="#1f77b4",
                alpha=0.2,
                label=f"{lo_hi[0]:.0%}-{lo_hi[1]:.0%} band",
            )
    ax.plot(frame[TS], frame[MEAN], color="#1f77b4", linewidth=1.4, label=f"forecast ({fc.model})")
    if info.threshold is not None:
        ax.axhline(
            info.threshold,
            color="#d62728",
            linestyle="--",
            linewidth=1.2,
            label=f"threshold {info.threshold:g}",
        )
    end = frame[TS].iloc[-1]
    for occ in store.list_events():
        if occ.applies_to(info.service) and occ.end > start - span and occ.start < end:
            x0, x1 = date2num(occ.start.to_pydatetime()), date2num(occ.end.to_pydatetime())
            ax.axvspan(x0, x1, color="#ff7f0e", alpha=0.15)
            ax.text(x0, 1.0, occ.name, transform=ax.get_xaxis_transform(), fontsize=8, va="bottom")
    ax.set_title(f"{info.service} / {info.metric}: forecast from {fc.history_end:%Y-%m-%d %H:%M} UTC")
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel(f"{info.metric} ({unit_label(info.metric)})")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
