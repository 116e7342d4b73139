"""The forecast chart of one series as PNG bytes: the same chart as the readiness report (``capacity.plots``).

History, the forecast with its 80% and 95% bands, the threshold, and the first event window inside the forecast
(shaded, with its past occurrences marked). ``capacity.plots`` draws with pyplot, whose global state is not
thread-safe, so charts are drawn one at a time per process.
"""

from __future__ import annotations

import threading

from capacity.schema import TS, unit_label
from capacity.store import SeriesInfo, Store, StoredForecast

#: pyplot keeps global state (the current figure); one chart at a time per process.
CHART_LOCK = threading.Lock()


def forecast_png(
    store: Store, info: SeriesInfo, fc: StoredForecast, steps: int, quantiles: tuple[float, ...]
) -> bytes:
    """Render the chart of ``fc`` (its first ``steps`` steps) with the history, threshold and the next event."""
    from capacity.report.plots import ChartSpec, past_of, render_chart

    del quantiles  # the chart always shows the 80% and 95% bands the forecast stores
    frame = fc.frame.iloc[:steps]
    history = store.load_history(info.service, info.metric)
    start, end = frame[TS].iloc[0], frame[TS].iloc[-1]
    inside = sorted(
        (e for e in store.list_events() if e.applies_to(info.service) and e.start < end and e.end > start),
        key=lambda e: e.start,
    )
    event = inside[0] if inside else None
    spec = ChartSpec(
        title=f"{info.service} / {info.metric}: forecast from {fc.history_end:%Y-%m-%d %H:%M} UTC ({fc.model})",
        unit=unit_label(info.metric),
        threshold=info.threshold,
        event_name=event.name if event else None,
        event_start=event.start if event else None,
        event_end=event.end if event else None,
        past=past_of(tuple(store.list_events()), event.name if event else None, start, info.service),
    )
    with CHART_LOCK:
        return render_chart(history, frame, spec)
