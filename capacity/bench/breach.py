"""The breach benchmark: does each method see a threshold crossing coming, and are its probabilities honest?

Protocol. Each series is resampled hourly with ``agg`` (empty steps interpolated). Folds and cutoffs are those of
the accuracy benchmark: for fold ``k = 1..K`` the cutoff is ``end - (K - k + 1) * horizon``; a series with under
three horizons of training before the first cutoff is skipped. For every fold, three thresholds: 0.9x, 1.0x and
1.1x the maximum of the last 28 days of training. The truth is whether the test window reaches the threshold
(``value >= threshold`` at any step) and at which step first. Several data folders may be given: their series are
pooled (each case records its folder).

Long windows (:data:`LONG_DAYS` or more: a planner's month or quarter). The question stays the same: does the
hourly series (``agg`` inside each hour; with ``max``, the window's true peak) reach ``level x`` its last 28 days'
maximum within the window. Each series loses a partial last day so that every cutoff falls at midnight (the
long-range engine forecasts daily peaks of whole days), and a series with room for fewer folds than asked keeps the
latest ones that fit, numbered to end at the last fold, instead of being skipped. ``capacity`` is then the
weekly-peak paths' probability and ``capacity_blend`` the short-window blend on the same forecast. ``dev`` scores
the windows before the first benchmark fold (choices are made there, benchmark folds reported after).

Methods, on the same cases:

- ``capacity``: this engine's forecast (automatic selection, calibrated sample paths) and
  :func:`capacity.risk.assess.assess`, whose probability is :mod:`capacity.risk.probability` (a fitted blend of the
  series' own recent peaks and seasonal analogs with the recalibrated share of crossing paths; from four weeks,
  the weekly-peak paths); the first breach is the first step whose cumulative probability reaches 0.5;
  ``capacity_blend`` the blend alone from the same forecast (what ``capacity`` is under four weeks). With ``fit_on`` series, the model's constants are
  refitted on them first (:mod:`capacity.bench.breach_fit`), so the score is a held-out one;
- ``climatology`` and ``record_rate``: how often past windows reached the level, pooled over the panel or from
  the series' own training (:mod:`capacity.bench.breach_refs`); every skill is measured against climatology;
- ``predict_linear``: a least-squares line over the last 24 hours of training extended over the window, as
  Prometheus' ``predict_linear`` is used in alerts: probability 1 if it crosses, else 0;
- ``last_week_peak``: probability 1 if the last 7 days' maximum reaches the threshold (first breach: where last
  week first did, a week later);
- ``prophet``: the share of Prophet's predictive sample paths that cross (when Prophet is installed).

Scores: :mod:`capacity.bench.breach_score`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from capacity.bench.accuracy import fold_cutoffs
from capacity.bench.breach_refs import REFERENCE_DAYS, WindowCounts, climatology, record_rate, window_counts
from capacity.bench.breach_score import DECISION, summarize
from capacity.bench.peers import fit_prophet
from capacity.errors import InvalidInput, PeerUnavailable
from capacity.forecast.pipeline import forecast_series
from capacity.forecast.types import ForecastResult, ForecastSpec
from capacity.risk.assess import RiskInput, RiskSettings, RiskWindow, assess
from capacity.risk.crossing import crossing_curve, seasonal_analogs
from capacity.risk.probability import DEFAULT_MODEL, BreachModel, recent_profile

LEVELS: tuple[float, ...] = (0.9, 1.0, 1.1)
METHODS: tuple[str, ...] = (
    "capacity", "capacity_blend", "climatology", "record_rate", "predict_linear", "last_week_peak", "prophet",
)  # fmt: skip
#: Methods every run scores (the references every skill is measured against).
REFERENCES: tuple[str, ...] = ("climatology", "record_rate")
#: Most folds per series.
MAX_FOLDS = 12
#: Steps per day (the series are hourly).
DAY = 24

#: From this many days the test window is a long one: whole days only (:func:`whole_days`), and the ``capacity``
#: method's probability comes from the forecast's weekly peak paths (:func:`capacity.risk.peaks.weekly_breach_curve`).
LONG_DAYS = 28

#: A method's answer for one fold: ``(threshold) -> (probability, first breach step or None)``.
Answer = Callable[[float], tuple[float, int | None]]


#: The ``capacity`` method's forecast of a training part: ``(series name, training part, horizon) -> forecast``.
Forecaster = Callable[[str, pd.Series, int], ForecastResult]


def from_paths(paths: np.ndarray) -> Answer:
    """Answer from sample paths: the share crossing at any step; the first step where that reaches 0.5."""

    def answer(threshold: float) -> tuple[float, int | None]:
        curve = crossing_curve(paths, threshold)
        hit = np.flatnonzero(curve >= DECISION)
        return float(curve[-1]) if curve.size else 0.0, int(hit[0]) if hit.size else None

    return answer


def from_line(values: np.ndarray) -> Answer:
    """Answer from one deterministic trajectory: 1 at its first crossing, else 0."""

    def answer(threshold: float) -> tuple[float, int | None]:
        hit = np.flatnonzero(values >= threshold)
        return (1.0, int(hit[0])) if hit.size else (0.0, None)

    return answer


def capacity_answers(
    train: pd.Series,
    horizon: int,
    settings: RiskSettings | None = None,
    model: BreachModel = DEFAULT_MODEL,
    forecast: Callable[[pd.Series, int], ForecastResult] | None = None,
) -> dict[str, Answer]:
    """This engine: forecast with automatic selection, then the risk module's breach probability with the series'
    seasonal analogs and recent profile, as ``capacity risks`` computes it (``capacity``); and, from the same
    forecast, the short-window blend alone (``capacity_blend``: the weekly peak paths dropped, which is what a long
    window showed before they were kept, and what ``capacity`` is below four weeks).

    Args:
        forecast: makes the forecast (the benchmark's disk cache passes its own); default :func:`forecast_series`
            with 400 paths.
    """
    settings = settings or RiskSettings()
    result = (forecast or _forecast)(train, horizon)
    ts = pd.DatetimeIndex(result.frame["ts"])
    analogs = seasonal_analogs(train, ts, count=int(settings.analog_weeks))
    item = RiskInput(
        "bench", "value", None, result.frame, result.paths, analogs=analogs, recent=recent_profile(train),
        peaks=result.peaks,
    )  # fmt: skip
    blend = replace(item, peaks=replace(result.peaks, paths=None)) if result.peaks is not None else item

    def answer_for(base: RiskInput) -> Answer:
        def answer(threshold: float) -> tuple[float, int | None]:
            risk = assess(replace(base, threshold=threshold), RiskWindow(), settings, model=model)
            step = None if risk.first_breach is None else int(ts.searchsorted(risk.first_breach))
            return float(risk.breach_probability or 0.0), step

        return answer

    return {"capacity": answer_for(item), "capacity_blend": answer_for(blend)}


def _forecast(train: pd.Series, horizon: int) -> ForecastResult:
    return forecast_series(train, ForecastSpec(horizon=horizon, n_paths=400))


def default_forecast(name: str, train: pd.Series, horizon: int) -> ForecastResult:
    """The ``capacity`` method's forecast of a training part (the series name is for caches)."""
    return _forecast(train, horizon)


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


def whole_days(y: pd.Series) -> pd.Series:
    """``y`` without its last day when that day is partial: at four weeks or more the engine forecasts daily peaks
    from whole days, and a cutoff inside a day would make the last training day's peak a part-day's (and start the
    weekly peaks at the next midnight, hours after the test window)."""
    nxt = y.index[-1] + pd.Timedelta(hours=1)
    return y if nxt == nxt.normalize() else y[y.index < y.index[-1].normalize()]


def max_folds(n: int, horizon: int, folds: int) -> int:
    """How many of ``folds`` fit in ``n`` steps with three horizons of training before the first cutoff.

    At long horizons a series too short for every fold keeps the latest ones that fit (numbered so its last fold is
    fold ``folds``, as every series' is) rather than being skipped: a few years of history hold only a handful of
    90-day windows, and dropping the shorter series would leave a panel of one kind of data.
    """
    return max(0, min(folds, n // horizon - 3))


def evaluate_series(
    name: str,
    y: pd.Series,
    *,
    horizon: int,
    folds: int,
    methods: Sequence[str],
    unavailable: dict[str, str],
    settings: RiskSettings | None = None,
    model: BreachModel = DEFAULT_MODEL,
    dev: bool = False,
    forecast: Forecaster | None = None,
) -> tuple[list[dict[str, Any]], list[WindowCounts], str | None]:
    """The cases of one hourly series (without the references, which need the whole panel), the counts of its
    past windows per fold, and a skip reason (None when it ran).

    With ``dev``, the folds are the dev windows: the same protocol on the series cut at its first benchmark
    cutoff, so every dev test window ends before the first benchmark test window starts (what a variant or a
    constant is chosen on; the benchmark folds are then reported untouched). ``forecast(name, train, horizon)``
    replaces the ``capacity`` method's forecast (a disk cache).
    """
    long = horizon >= LONG_DAYS * DAY
    if long:
        y = whole_days(y)
    n = len(y)
    fits = max_folds(n, horizon, folds) if long else folds
    cutoffs = fold_cutoffs(n, horizon, fits)
    if dev and cutoffs:
        n = max(cutoffs[0], 0)
        y = y.iloc[:n]
        fits = max_folds(n, horizon, folds) if long else folds
        cutoffs = fold_cutoffs(n, horizon, fits)
    if not cutoffs or cutoffs[0] < 3 * horizon:
        return [], [], f"{n} steps: under 3 horizons of training before the first cutoff"
    cases: list[dict[str, Any]] = []
    counts: list[WindowCounts] = [WindowCounts(tuple(0 for _ in LEVELS), 0)] * (folds - fits)
    values = y.to_numpy(dtype="float64")
    for fold, cut in enumerate(cutoffs, start=folds - fits + 1):
        train, test = y.iloc[:cut], values[cut : cut + horizon]
        counts.append(window_counts(values[:cut], horizon, REFERENCE_DAYS * DAY, DAY, LEVELS))
        reference = float(train.iloc[-REFERENCE_DAYS * DAY :].max())
        answers: dict[str, Answer] = {}
        for method in methods:
            if method in unavailable or method in REFERENCES or method in answers:
                continue
            try:
                if method in ("capacity", "capacity_blend"):
                    make = None if forecast is None else partial(forecast, name)
                    both = capacity_answers(train, horizon, settings, model, make)
                    answers.update({m: both[m] for m in ("capacity", "capacity_blend") if m in methods})
                elif method == "predict_linear":
                    answers[method] = predict_linear_answer(train, horizon, DAY)
                elif method == "last_week_peak":
                    answers[method] = last_week_answer(train, horizon, DAY)
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
    return cases, counts, None


def add_references(
    cases: list[dict[str, Any]], counts: Mapping[str, Sequence[WindowCounts]], methods: Sequence[str]
) -> None:
    """Fill in ``climatology`` (pooled over every series of the panel) and ``record_rate`` on every case."""
    shares = climatology(counts, LEVELS)
    for case in cases:
        i = LEVELS.index(case["level"])
        clim = shares[case["fold"] - 1][i]
        if "climatology" in methods:
            case["climatology"] = None if clim is None else round(clim, 4)
        if "record_rate" in methods:
            own = record_rate(counts[case["series"]][case["fold"] - 1], i, clim)
            case["record_rate"] = None if own is None else round(own, 4)


def run_breach(
    series: Mapping[str, pd.Series],
    *,
    horizon: int,
    folds: int,
    methods: Sequence[str] = METHODS,
    config: Mapping[str, Any] | None = None,
    settings: RiskSettings | None = None,
    model: BreachModel = DEFAULT_MODEL,
    folders: Mapping[str, str] | None = None,
    held_out: Sequence[str] = (),
    on_series: Callable[[str, int, str | None], None] | None = None,
    dev: bool = False,
    forecast: Forecaster | None = None,
) -> dict[str, Any]:
    """Run the benchmark over hourly series; returns ``{"config", "summary", "by_folder", "cases"}``, and
    ``"held_out"`` (the scores over the held-out folders' cases pooled) when ``held_out`` names folders.

    Args:
        series: name -> hourly series (already aggregated); names must be unique across folders.
        horizon: test-window length in hours.
        folds: folds per series (1 to :data:`MAX_FOLDS`).
        methods: method names from :data:`METHODS`; the references are always scored.
        config: extra configuration recorded in the result.
        settings: risk settings of the ``capacity`` method (its cut-offs and calibration); by default those whose
            history weight (``analog_weight``) is the model's.
        model: the ``capacity`` method's breach model (the shipped constants unless refitted).
        folders: series name -> the data folder it came from (recorded on each case).
        held_out: the folders of ``folders`` the model was not fitted on (with a refitted ``model``).
        on_series: progress callback ``(name, cases, skip_reason)``.
        dev: score the dev windows instead of the benchmark folds (see :func:`evaluate_series`).
        forecast: replaces the ``capacity`` method's forecast (a disk cache; see :func:`evaluate_series`).

    Raises:
        InvalidInput: on an unknown method or a fold count out of range.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise InvalidInput(f"unknown method {unknown[0]!r}; known: {', '.join(METHODS)}", field="methods")
    if not 1 <= folds <= MAX_FOLDS:
        raise InvalidInput(f"folds must be in [1, {MAX_FOLDS}], got {folds}", field="folds")
    settings = settings or RiskSettings(analog_weight=model.history_weight)
    methods = [*[m for m in METHODS if m in methods or m in REFERENCES]]
    unavailable: dict[str, str] = {}
    cases: list[dict[str, Any]] = []
    counts: dict[str, list[WindowCounts]] = {}
    skipped: dict[str, str] = {}
    for name, y in series.items():
        got, per_fold, reason = evaluate_series(
            name, y, horizon=horizon, folds=folds, methods=methods, unavailable=unavailable, settings=settings,
            model=model, dev=dev, forecast=forecast,
        )  # fmt: skip
        if folders is not None:
            for case in got:
                case["folder"] = folders.get(name, "")
        cases.extend(got)
        if reason:
            skipped[name] = reason
        else:
            counts[name] = per_fold
        if on_series is not None:
            on_series(name, len(got), reason)
    add_references(cases, counts, methods)
    scored = [m for m in methods if m not in unavailable]
    summary = summarize(cases, scored, LEVELS, settings.at_risk)
    by_folder = {}
    if folders is not None:
        for folder in dict.fromkeys(folders.values()):
            sub = [c for c in cases if c.get("folder") == folder]
            if sub:
                by_folder[folder] = summarize(sub, scored, LEVELS, settings.at_risk)
    held = [c for c in cases if c.get("folder") in set(held_out)]
    extra = {"held_out": summarize(held, scored, LEVELS, settings.at_risk)} if held else {}
    conf = {
        "horizon_hours": horizon,
        "folds": folds,
        "windows": "dev" if dev else "bench",
        "levels": list(LEVELS),
        "reference_days": REFERENCE_DAYS,
        "decision_probability": DECISION,
        "at_risk": settings.at_risk,
        "methods": scored,
        "unavailable": unavailable,
        "skipped": skipped,
        "breach_model": asdict(model),
        **(config or {}),
    }
    public = [{k: v for k, v in c.items() if not k.startswith("_")} for c in cases]
    return {"config": conf, "summary": summary, "by_folder": by_folder, **extra, "cases": public}


def resample(frame: pd.DataFrame, agg: str) -> pd.Series:
    """A ``timestamp,value`` frame resampled hourly with ``agg`` (mean, max or p95); empty hours interpolated."""
    ts = pd.to_datetime(frame["timestamp"], utc=True, format="mixed")
    s = pd.Series(pd.to_numeric(frame["value"], errors="coerce").to_numpy(dtype="float64"), index=ts)
    s = s[np.isfinite(s.to_numpy())].sort_index()
    grouped = s.resample("1h")
    out = grouped.quantile(0.95) if agg == "p95" else grouped.agg(agg)
    return out.interpolate(limit_direction="both")
