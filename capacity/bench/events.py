"""The event benchmark: how well is the peak inside an event window forecast from ``lead`` before it?

Protocol (issue 4). Each series is resampled hourly. For every occurrence of every event in the calendar that lies
inside the series and has at least one earlier occurrence of the same event inside the training window, forecast
from ``lead`` before its start through its end, and compare the forecast peak inside the window with the actual
peak: absolute percent error. Training is the ``max_train_days`` before the
cutoff for every method (two years by default: two earlier seasons of each holiday, and Prophet stays affordable).

Every method is scored the same way, twice:

- **point** (the headline, ``summary.<method>.peak_ape_median``): the maximum inside the window of the method's point
  forecast: this engine's mean (what the API returns and the chart draws), Prophet's ``yhat``, seasonal naive's
  one trajectory. Every method has one, and the rule is the same for all.
- **paths** (``peak_ape_median_paths``): the median over the method's predictive sample paths of their maxima inside
  the window: this engine's ``peak p50`` (what ``capacity risks`` reports) and Prophet's predictive samples;
  seasonal naive has no sample paths (its one trajectory counts as its path).

An earlier version scored this engine by its paths and Prophet by its point forecast; the two rules disagree by a
point or more of median error (the maximum of a mean sits below a real day's peak, the median of path maxima
includes the paths' hour-to-hour noise), so comparing one method on one rule with another on the other said
little.

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
from capacity.forecast.types import ForecastSpec

METHODS: tuple[str, ...] = ("capacity_events", "capacity_plain", "seasonal_naive", "prophet_holidays")
#: Training days before each cutoff, for every method.
MAX_TRAIN_DAYS = 730
#: Sample paths per forecast of this engine and of Prophet (the "paths" rule: the median of their window maxima).
PATHS = 100
#: Suffix of a method's score under the "paths" rule, in the rows and the summary.
PATHS_SUFFIX = "_paths"
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


def window_of(forecast_index: pd.DatetimeIndex, occ: EventOccurrence) -> np.ndarray:
    """Which forecast steps lie inside the occurrence."""
    return np.asarray((forecast_index >= occ.start) & (forecast_index < occ.end))


def point_peak(values: np.ndarray, inside: np.ndarray) -> float:
    """The "point" rule: the maximum of a point forecast inside the window."""
    return float(np.max(values[inside])) if inside.any() else float("nan")


def path_peak(paths: np.ndarray | None, inside: np.ndarray) -> float:
    """The "paths" rule: the median over sample paths ``(n_paths, steps)`` of their maxima inside the window; NaN
    without paths."""
    if paths is None or paths.ndim != 2 or paths.shape[0] == 0 or not inside.any():
        return float("nan")
    return float(np.median(paths[:, inside].max(axis=1)))


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


def prophet_forecast(train: pd.Series, horizon: int, holidays: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Prophet's point forecast with the calendar as holidays, and :data:`PATHS` predictive sample paths.

    Returns:
        ``yhat`` (one value per step) and the samples, shape ``(PATHS, horizon)``.

    Raises:
        PeerUnavailable: when Prophet is not installed.
    """

    model, future = fit_prophet(train, horizon, holidays=holidays, uncertainty_samples=PATHS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yhat = np.asarray(model.predict(future)["yhat"], dtype="float64")
        samples = np.asarray(model.predictive_samples(future)["yhat"], dtype="float64").T
    return yhat, samples


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
        inside = window_of(future, occ)
        for method in methods:
            if method in unavailable:
                continue
            paths: np.ndarray | None = None
            try:
                if method in ("capacity_events", "capacity_plain"):
                    known = tuple(e for e in calendar if e.start < future[-1])
                    spec = ForecastSpec(
                        horizon=horizon, n_paths=PATHS, events=known if method == "capacity_events" else ()
                    )
                    result = forecast_series(train, spec)
                    point, paths = result.frame["mean"].to_numpy(dtype="float64"), result.paths
                elif method == "seasonal_naive":
                    point = np.asarray(seasonal_naive(train, horizon, 24, (0.5,)).mean, dtype="float64")
                    paths = point[None, :]  # one trajectory: its own only path
                else:
                    point, paths = prophet_forecast(train, horizon, holidays)
            except PeerUnavailable as exc:
                unavailable[method] = str(exc)
                continue
            row[method] = round(point_peak(point, inside), 4)
            row[method + PATHS_SUFFIX] = round(path_peak(paths, inside), 4)
        rows.append(row)
    return rows


def _apes(rows: Sequence[Mapping[str, Any]], key: str) -> list[float]:
    return [
        100.0 * abs(r[key] - r["actual_peak"]) / abs(r["actual_peak"])
        for r in rows
        if key in r and np.isfinite(r[key]) and r["actual_peak"] != 0
    ]


def summarize(rows: Sequence[Mapping[str, Any]], methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per method: occurrences, median and mean absolute percent error of the peak (in percent) under the "point"
    rule, and the median and mean under the "paths" rule (see the module docstring)."""
    out = {}
    for m in methods:
        errors = _apes(rows, m)
        if errors:
            paths = _apes(rows, m + PATHS_SUFFIX)
            out[m] = {
                "occurrences": len(errors),
                "peak_ape_median": round(float(np.median(errors)), 3),
                "peak_ape_mean": round(float(np.mean(errors)), 3),
                "peak_ape_median_paths": round(float(np.median(paths)), 3) if paths else None,
                "peak_ape_mean_paths": round(float(np.mean(paths)), 3) if paths else None,
            }
    return out


def summarize_by_series(
    rows: Sequence[Mapping[str, Any]], methods: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Per series and method: occurrences and the median peak error under the "point" rule (for rotations that
    report on some series what was chosen on others)."""
    out: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(r["series"] for r in rows):
        mine = [r for r in rows if r["series"] == name]
        out[name] = {
            m: {"occurrences": len(e), "peak_ape_median": round(float(np.median(e)), 3)}
            for m in methods
            if (e := _apes(mine, m))
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
    return {
        "config": conf,
        "summary": summarize(rows, methods),
        "summary_by_series": summarize_by_series(rows, methods),
        "occurrences": rows,
    }


def markdown_table(result: Mapping[str, Any]) -> str:
    """The summary as a Markdown table (errors in percent, both scoring rules), then the median by series."""

    def num(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    lines = [
        "| method | occurrences | peak APE median (%), max of the point forecast | mean | "
        "median (%), median of the paths' maxima | mean |",
        "|---|---|---|---|---|---|",
    ]
    for m, s in result["summary"].items():
        lines.append(
            f"| {m} | {s['occurrences']} | {s['peak_ape_median']:.2f} | {s['peak_ape_mean']:.2f} | "
            f"{num(s.get('peak_ape_median_paths'))} | {num(s.get('peak_ape_mean_paths'))} |"
        )
    by_series = result.get("summary_by_series") or {}
    methods = list(result["summary"])
    if by_series and methods:
        lines += ["", "| series | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
        for name, per in by_series.items():
            cells = [num(per[m]["peak_ape_median"]) if m in per else "-" for m in methods]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
