"""The event benchmark: how well is the peak inside an event window forecast from ``lead`` before it?

Protocol (issue 4). Each series is resampled hourly. For every occurrence of every event in the calendar that lies
inside the series and has at least one earlier occurrence of the same event inside the training window, forecast
from ``lead`` before its start through its end, and compare the forecast peak inside the window with the actual
peak: absolute percent error. Training is the ``max_train_days`` before the
cutoff for every method (two years by default: two earlier seasons of each holiday, and Prophet stays affordable).

This engine's forecast peak is the median of its sample paths' maxima inside the window (the ``peak p50`` that
``capacity risks`` reports), not the maximum of its mean: the mean of an ensemble is smoother than any real day, so
its maximum sits below the typical peak, and an uplift learned against real days would then be applied to a
reference biased low. Seasonal naive is one real trajectory (its maximum is its peak); Prophet's peak is the
maximum of its point forecast.

Methods, on the same occurrences:

- ``capacity_events``: this engine given the calendar (the uplift learned from past occurrences);
- ``capacity_plain``: this engine without the calendar;
- ``seasonal_naive``: last week repeated (the accuracy benchmark's peer);
- ``prophet_holidays``: Prophet with its defaults and the same calendar as ``holidays`` (when installed).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from capacity.bench.peers import fit_prophet, seasonal_naive
from capacity.errors import InvalidInput, PeerUnavailable
from capacity.events.calendar import EventOccurrence
from capacity.forecast.pipeline import forecast_series
from capacity.forecast.types import ForecastResult, ForecastSpec

METHODS: tuple[str, ...] = ("capacity_events", "capacity_plain", "seasonal_naive", "prophet_holidays")
#: Training days before each cutoff, for every method.
MAX_TRAIN_DAYS = 730
#: Sample paths per forecast of this engine (its peak is the median of their window maxima).
PATHS = 100
#: Fewest training days before a cutoff (the uplift's baseline needs weeks around each past occurrence).
MIN_TRAIN_DAYS = 56


def cases_for(
    y: pd.Series, calendar: Sequence[EventOccurrence], lead: int, max_train_days: int = MAX_TRAIN_DAYS
) -> list[tuple[EventOccurrence, int, int]]:
    """The occurrences to score on ``y``: ``(occurrence, cutoff position, first training position)``.

    An occurrence counts when its window lies inside the series, there are at least :data:`MIN_TRAIN_DAYS` of
    training before its cutoff, and an earlier occurrence of the same event ends inside the training window.
    """
    index = pd.DatetimeIndex(y.index)
    out = []
    for occ in sorted(calendar, key=lambda e: e.start):
        if occ.start < index[0] or occ.end > index[-1] + pd.Timedelta(hours=1):
            continue
        cutoff = int(index.searchsorted(occ.start)) - lead
        if cutoff < MIN_TRAIN_DAYS * 24:
            continue
        first = max(0, cutoff - max_train_days * 24)
        train_start, train_end = index[first], index[cutoff]
        earlier = [
            e
            for e in calendar
            if e.name.lower() == occ.name.lower() and e.start >= train_start and e.end <= train_end
        ]
        if earlier:
            out.append((occ, cutoff, first))
    return out


def _peak(forecast_index: pd.DatetimeIndex, values: np.ndarray, occ: EventOccurrence) -> float:
    inside = np.asarray((forecast_index >= occ.start) & (forecast_index < occ.end))
    return float(np.max(values[inside])) if inside.any() else float("nan")


def path_peak(result: ForecastResult, forecast_index: pd.DatetimeIndex, occ: EventOccurrence) -> float:
    """This engine's forecast peak in the window: the median of its sample paths' window maxima (``capacity risks``'
    peak p50); the maximum of the mean when there are no paths."""
    inside = np.asarray((forecast_index >= occ.start) & (forecast_index < occ.end))
    if not inside.any():
        return float("nan")
    if result.paths is None or result.paths.ndim != 2 or result.paths.shape[0] == 0:
        return _peak(forecast_index, result.frame["mean"].to_numpy(dtype="float64"), occ)
    return float(np.median(result.paths[:, inside].max(axis=1)))


def _prophet_holidays(calendar: Sequence[EventOccurrence]) -> pd.DataFrame:
    rows = []
    for e in calendar:
        days = max(1, int(np.ceil((e.end - e.start) / pd.Timedelta(days=1))))
        rows.append(
            {
                "holiday": e.name,
                "ds": e.start.tz_convert("UTC").tz_localize(None).normalize(),
                "lower_window": 0,
                "upper_window": days - 1,
            }
        )
    return pd.DataFrame(rows)


def prophet_forecast(train: pd.Series, horizon: int, holidays: pd.DataFrame) -> np.ndarray:
    """Prophet's point forecast with the calendar as holidays.

    Raises:
        PeerUnavailable: when Prophet is not installed.
    """

    model, future = fit_prophet(train, horizon, holidays=holidays, uncertainty_samples=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(model.predict(future)["yhat"], dtype="float64")


def evaluate_series(
    name: str,
    y: pd.Series,
    calendar: Sequence[EventOccurrence],
    *,
    lead: int,
    methods: Sequence[str],
    unavailable: dict[str, str],
    max_train_days: int = MAX_TRAIN_DAYS,
) -> list[dict[str, Any]]:
    """The scored occurrences of one hourly series."""
    holidays = _prophet_holidays(calendar)
    rows = []
    for occ, cutoff, first in cases_for(y, calendar, lead, max_train_days):
        train = y.iloc[first:cutoff]
        future = pd.date_range(
            y.index[cutoff], periods=lead + int((occ.end - occ.start) / pd.Timedelta(hours=1)), freq="h"
        )
        horizon = len(future)
        actual = y[(y.index >= occ.start) & (y.index < occ.end)]
        row: dict[str, Any] = {
            "series": name,
            "event": occ.name,
            "start": occ.start.isoformat(),
            "actual_peak": round(float(actual.max()), 4),
        }
        for method in methods:
            if method in unavailable:
                continue
            try:
                if method in ("capacity_events", "capacity_plain"):
                    known = tuple(e for e in calendar if e.start < future[-1])
                    spec = ForecastSpec(
                        horizon=horizon, n_paths=PATHS, events=known if method == "capacity_events" else ()
                    )
                    row[method] = round(path_peak(forecast_series(train, spec), future, occ), 4)
                    continue
                if method == "seasonal_naive":
                    values = pd.Series(seasonal_naive(train, horizon, 24, (0.5,)).mean)
                else:
                    values = pd.Series(prophet_forecast(train, horizon, holidays))
            except PeerUnavailable as exc:
                unavailable[method] = str(exc)
                continue
            row[method] = round(_peak(future, values.to_numpy(dtype="float64"), occ), 4)
        rows.append(row)
    return rows


def summarize(rows: Sequence[Mapping[str, Any]], methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per method: occurrences, median and mean absolute percent error of the peak (in percent)."""
    out = {}
    for m in methods:
        errors = [
            100.0 * abs(r[m] - r["actual_peak"]) / abs(r["actual_peak"])
            for r in rows
            if m in r and np.isfinite(r[m]) and r["actual_peak"] != 0
        ]
        if errors:
            out[m] = {
                "occurrences": len(errors),
                "peak_ape_median": round(float(np.median(errors)), 3),
                "peak_ape_mean": round(float(np.mean(errors)), 3),
            }
    return out


def run_events(
    series: Mapping[str, pd.Series],
    calendar: Sequence[EventOccurrence],
    *,
    lead: int,
    methods: Sequence[str] = METHODS,
    max_train_days: int = MAX_TRAIN_DAYS,
    config: Mapping[str, Any] | None = None,
    on_series: Callable[[str, int, str | None], None] | None = None,
) -> dict[str, Any]:
    """Run the benchmark; returns ``{"config", "summary", "occurrences"}`` (see the module docstring).

    Raises:
        InvalidInput: on an unknown method name.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise InvalidInput(f"unknown method {unknown[0]!r}; known: {', '.join(METHODS)}", field="methods")
    unavailable: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    skipped = {}
    for name, y in series.items():
        got = evaluate_series(
            name,
            y,
            calendar,
            lead=lead,
            methods=methods,
            unavailable=unavailable,
            max_train_days=max_train_days,
        )
        rows.extend(got)
        reason = None if got else "no occurrence with an earlier one inside the training window"
        if reason:
            skipped[name] = reason
        if on_series is not None:
            on_series(name, len(got), reason)
    conf = {
        "lead_hours": lead,
        "max_train_days": max_train_days,
        "methods": [m for m in methods if m not in unavailable],
        "unavailable": unavailable,
        "skipped": skipped,
        **(config or {}),
    }
    return {"config": conf, "summary": summarize(rows, methods), "occurrences": rows}


def markdown_table(result: Mapping[str, Any]) -> str:
    """The summary as a Markdown table (errors in percent)."""
    lines = ["| method | occurrences | peak APE median (%) | peak APE mean (%) |", "|---|---|---|---|"]
    for m, s in result["summary"].items():
        lines.append(f"| {m} | {s['occurrences']} | {s['peak_ape_median']:.2f} | {s['peak_ape_mean']:.2f} |")
    return "\n".join(lines) + "\n"
