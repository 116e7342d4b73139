"""The breach benchmark: does each method see a threshold crossing coming, and when?

Protocol (issue 4). Each series is resampled hourly with ``agg`` (empty steps interpolated). Folds and cutoffs are
those of the accuracy benchmark: for fold ``k = 1..K`` the cutoff is ``end - (K - k + 1) * horizon``, a series with
under three horizons of training before the first cutoff is skipped. For every fold, three thresholds: 0.9x, 1.0x
and 1.1x the maximum of the last 28 days of training. The truth is whether the test window reaches the threshold
(``value >= threshold`` at any step) and at which step first.

Methods, on the same cases:

- ``capacity``: this engine's forecast (automatic selection, calibrated sample paths) and
  :func:`capacity.risk.assess`: the share of paths crossing at any step, blended with the share of the series' own
  last twelve weeks (same weekday and hour, :func:`capacity.risk.crossing.seasonal_analogs`, lifted along a clear upward
  trend) crossing; the first breach is the first step whose cumulative crossing probability reaches 0.5;
- ``predict_linear``: a least-squares line over the last 24 hours of training extended over the window, as
  Prometheus' ``predict_linear`` is used in alerts: probability 1 if it crosses, else 0;
- ``last_week_peak``: probability 1 if the last 7 days' maximum reaches the threshold (first breach: where last
  week first did, a week later);
- ``prophet``: the share of Prophet's predictive sample paths that cross (when Prophet is installed).

Per method: Brier score; precision, recall and F1 at probability 0.5; the median absolute error of the first
breach time on true positives (hours); the number of cases and of actual breaches; and the ranking quality of its
probability whatever the cut-off (ROC AUC: the chance a breach gets a higher probability than a non-breach).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from capacity.bench.accuracy import fold_cutoffs
from capacity.bench.peers import fit_prophet
from capacity.errors import InvalidInput, PeerUnavailable
from capacity.forecast.metrics import brier
from capacity.forecast.pipeline import forecast_series
from capacity.forecast.types import ForecastSpec
from capacity.risk.assess import RiskInput, RiskSettings, RiskWindow, assess
from capacity.risk.crossing import calibrate, crossing_curve, seasonal_analogs
from capacity.risk.probability import recent_profile

LEVELS: tuple[float, ...] = (0.9, 1.0, 1.1)
METHODS: tuple[str, ...] = ("capacity", "predict_linear", "last_week_peak", "prophet")
#: Days of training whose maximum sets the thresholds.
REFERENCE_DAYS = 28
#: A method predicts a breach when its probability reaches this.
DECISION = 0.5

#: A method's answer for one fold: ``(threshold) -> (probability, first breach step or None)``.
Answer = Callable[[float], tuple[float, int | None]]


def from_paths(paths: np.ndarray, settings: RiskSettings | None = None) -> Answer:
    """Answer from sample paths: calibrated share crossing at any step; first step where that reaches 0.5."""

    def answer(threshold: float) -> tuple[float, int | None]:
        curve = crossing_curve(paths, threshold)
        if settings is not None:
            curve = calibrate(curve, settings)
        hit = np.flatnonzero(curve >= DECISION)
        return float(curve[-1]) if curve.size else 0.0, int(hit[0]) if hit.size else None

    return answer


def from_line(values: np.ndarray) -> Answer:
    """Answer from one deterministic trajectory: 1 at its first crossing, else 0."""

    def answer(threshold: float) -> tuple[float, int | None]:
        hit = np.flatnonzero(values >= threshold)
        return (1.0, int(hit[0])) if hit.size else (0.0, None)

    return answer


def capacity_answer(train: pd.Series, horizon: int, settings: RiskSettings | None = None) -> Answer:
    """This engine: forecast with automatic selection, then the risk module's breach probability (sample paths
    blended with the series' seasonal analogs, as ``capacity risks`` does)."""
    settings = settings or RiskSettings()
    result = forecast_series(train, ForecastSpec(horizon=horizon, n_paths=400))
    ts = pd.DatetimeIndex(result.frame["ts"])
    analogs = seasonal_analogs(train, ts, count=int(settings.analog_weeks))
    item = RiskInput(
        "bench", "value", None, result.frame, result.paths, analogs=analogs, recent=recent_profile(train)
    )

    def answer(threshold: float) -> tuple[float, int | None]:
        risk = assess(replace(item, threshold=threshold), RiskWindow(), settings)
        step = None if risk.first_breach is None else int(ts.searchsorted(risk.first_breach))
        return float(risk.breach_probability or 0.0), step

    return answer


def predict_linear_answer(train: pd.Series, horizon: int, day: int) -> Answer:
    """Prometheus-style ``predict_linear``: a least-squares line over the last day, extended over the window."""
    y = train.to_numpy(dtype="float64")[-day:]
    t = np.arange(len(y), dtype="float64")
    slope, intercept = np.polyfit(t, y, 1) if len(y) > 1 else (0.0, float(y[-1]))
    future = intercept + slope * (len(y) + np.arange(horizon))
    return from_line(future)


def last_week_answer(train: pd.Series, horizon: int, day: int) -> Answer:
    """Last week's peak: a breach when the last 7 days reached the threshold, at the same step a week later."""
    week = train.to_numpy(dtype="float64")[-7 * day :]
    repeated = np.tile(week, math.ceil(horizon / len(week)))[:horizon]

    def answer(threshold: float) -> tuple[float, int | None]:
        if week.max() < threshold:
            return 0.0, None
        hit = np.flatnonzero(repeated >= threshold)
        return 1.0, int(hit[0]) if hit.size else None

    return answer


def prophet_answer(train: pd.Series, horizon: int) -> Answer:
    """Prophet with its defaults; the share of its predictive sample paths that cross.

    Raises:
        PeerUnavailable: when Prophet is not installed.
    """

    model, future = fit_prophet(train, horizon, uncertainty_samples=400)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        samples = np.asarray(model.predictive_samples(future)["yhat"], dtype="float64").T  # (paths, horizon)
    return from_paths(samples)


def truth(test: np.ndarray, threshold: float) -> tuple[bool, int | None]:
    """Whether the test window reaches ``threshold``, and the first step it does."""
    hit = np.flatnonzero(test >= threshold)
    return (True, int(hit[0])) if hit.size else (False, None)


def evaluate_series(
    name: str,
    y: pd.Series,
    *,
    horizon: int,
    folds: int,
    methods: Sequence[str],
    unavailable: dict[str, str],
    settings: RiskSettings | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """The cases of one hourly series; returns them and a skip reason (None when it ran)."""
    n = len(y)
    cutoffs = fold_cutoffs(n, horizon, folds)
    if cutoffs[0] < 3 * horizon:
        return [], f"{n} steps: under 3 horizons of training before the first cutoff"
    day = 24
    cases: list[dict[str, Any]] = []
    for fold, cut in enumerate(cutoffs, start=1):
        train, test = y.iloc[:cut], y.iloc[cut : cut + horizon].to_numpy(dtype="float64")
        reference = float(train.iloc[-REFERENCE_DAYS * day :].max())
        answers: dict[str, Answer] = {}
        for method in methods:
            if method in unavailable:
                continue
            try:
                if method == "capacity":
                    answers[method] = capacity_answer(train, horizon, settings)
                elif method == "predict_linear":
                    answers[method] = predict_linear_answer(train, horizon, day)
                elif method == "last_week_peak":
                    answers[method] = last_week_answer(train, horizon, day)
                elif method == "prophet":
                    answers[method] = prophet_answer(train, horizon)
            except PeerUnavailable as exc:
                unavailable[method] = str(exc)
        for level in LEVELS:
            threshold = level * reference
            breached, first = truth(test, threshold)
            case: dict[str, Any] = {"series": name, "fold": fold, "level": level, "breached": breached}
            timing: dict[str, int | None] = {"_truth": first}
            for method, answer in answers.items():
                p, step = answer(threshold)
                case[method] = round(p, 4)
                timing[method] = step
            case["_timing"] = timing
            cases.append(case)
    return cases, None


def summarize(cases: Sequence[Mapping[str, Any]], methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per method: cases, positives, Brier, precision/recall/F1 at 0.5, median first-breach error (hours)."""
    out: dict[str, dict[str, Any]] = {}
    for m in methods:
        rows = [c for c in cases if m in c]
        if not rows:
            continue
        p = np.array([c[m] for c in rows], dtype="float64")
        o = np.array([c["breached"] for c in rows], dtype=bool)
        pred = p >= DECISION
        tp = int((pred & o).sum())
        fp = int((pred & ~o).sum())
        fn = int((~pred & o).sum())
        precision = tp / (tp + fp) if tp + fp else None
        recall = tp / (tp + fn) if tp + fn else None
        f1 = (
            2 * precision * recall / (precision + recall)
            if precision is not None and recall is not None and precision + recall > 0
            else None
        )
        errors = [
            abs(c["_timing"][m] - c["_timing"]["_truth"])
            for c in rows
            if c["breached"] and c[m] >= DECISION and c["_timing"].get(m) is not None
        ]
        out[m] = {
            "cases": len(rows),
            "auc": None if (auc_value := auc(p, o)) is None else round(auc_value, 4),
            "positives": int(o.sum()),
            "brier": round(brier(p.tolist(), o.tolist()), 4),
            "precision": None if precision is None else round(precision, 4),
            "recall": None if recall is None else round(recall, 4),
            "f1": None if f1 is None else round(f1, 4),
            "first_breach_error_hours_median": float(np.median(errors)) if errors else None,
        }
    return out


def auc(probabilities: np.ndarray, outcomes: np.ndarray) -> float | None:
    """ROC AUC: the chance a random breach gets a higher probability than a random non-breach (ties count half);
    None without both classes."""
    p = np.asarray(probabilities, dtype="float64")
    o = np.asarray(outcomes, dtype=bool)
    pos, neg = p[o], p[~o]
    if not len(pos) or not len(neg):
        return None
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def run_breach(
    series: Mapping[str, pd.Series],
    *,
    horizon: int,
    folds: int,
    methods: Sequence[str] = METHODS,
    config: Mapping[str, Any] | None = None,
    settings: RiskSettings | None = None,
    on_series: Callable[[str, int, str | None], None] | None = None,
) -> dict[str, Any]:
    """Run the benchmark over hourly series; returns ``{"config", "summary", "cases"}`` (see the module doc).

    Args:
        series: name -> hourly series (already aggregated).
        horizon: test-window length in hours.
        folds: folds per series.
        methods: method names from :data:`METHODS`.
        config: extra configuration recorded in the result.
        settings: risk settings of the ``capacity`` method (its calibration).
        on_series: progress callback ``(name, cases, skip_reason)``.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise InvalidInput(f"unknown method {unknown[0]!r}; known: {', '.join(METHODS)}", field="methods")
    unavailable: dict[str, str] = {}
    cases: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    for name, y in series.items():
        got, reason = evaluate_series(
            name, y, horizon=horizon, folds=folds, methods=methods, unavailable=unavailable, settings=settings
        )
        cases.extend(got)
        if reason:
            skipped[name] = reason
        if on_series is not None:
            on_series(name, len(got), reason)
    summary = summarize(cases, methods)
    conf = {
        "horizon_hours": horizon,
        "folds": folds,
        "levels": list(LEVELS),
        "reference_days": REFERENCE_DAYS,
        "decision_probability": DECISION,
        "methods": [m for m in methods if m not in unavailable],
        "unavailable": unavailable,
        "skipped": skipped,
        **(config or {}),
    }
    public = [{k: v for k, v in c.items() if not k.startswith("_")} for c in cases]
    return {"config": conf, "summary": summary, "cases": public}


def resample(frame: pd.DataFrame, agg: str) -> pd.Series:
    """A ``timestamp,value`` frame resampled hourly with ``agg`` (mean, max or p95); empty hours interpolated."""
    ts = pd.to_datetime(frame["timestamp"], utc=True, format="mixed")
    s = pd.Series(pd.to_numeric(frame["value"], errors="coerce").to_numpy(dtype="float64"), index=ts)
    s = s[np.isfinite(s.to_numpy())].sort_index()
    grouped = s.resample("1h")
    out = grouped.quantile(0.95) if agg == "p95" else grouped.agg(agg)
    return out.interpolate(limit_direction="both")


def markdown_table(result: Mapping[str, Any]) -> str:
    """The summary as a Markdown table."""

    def f(v: Any, digits: int = 3) -> str:
        return "-" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else str(v)

    head = [
        "method",
        "cases",
        "breaches",
        "Brier",
        "precision",
        "recall",
        "F1",
        "first-breach error (h, median)",
        "AUC",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m, s in result["summary"].items():
        lines.append(
            "| "
            + " | ".join(
                [
                    m,
                    str(s["cases"]),
                    str(s["positives"]),
                    f(s["brier"]),
                    f(s["precision"]),
                    f(s["recall"]),
                    f(s["f1"]),
                    f(s["first_breach_error_hours_median"], 1),
                    f(s.get("auc")),
                ]
            )
            + " |"
        )
    return "\n".join(lines) + "\n"
