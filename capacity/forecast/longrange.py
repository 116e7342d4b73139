"""The long-range engine: forecasts four weeks to a year ahead, with a yearly cycle, growth and honest intervals.

The short-horizon candidates look at a few weeks of history and cannot know that July is hotter than April. From
28 days ahead, :func:`~capacity.forecast.pipeline.forecast_series` hands over to :func:`forecast_long`, which
works on days:

- a daily series (``freq`` one day, e.g. daily peaks with ``agg`` ``max``) is forecast by the daily core of
  :mod:`~capacity.forecast.longfit` (yearly and weekly candidates, an inner backtest at the forecast's reach, the
  project's choice);
- a sub-daily series is cut to whole days, its daily means forecast by the same core, and each future day's
  intraday profile added back (:mod:`~capacity.forecast.intraday`).

Either way the forecast carries its window peak as a peak (:class:`~capacity.forecast.types.PeakForecast`): the
daily peaks (the series itself on a daily step, the daily maxima of a sub-daily one) forecast by the same core and
calibrated week by week as a plan's weeks are (:func:`~capacity.forecast.peaks.peak_forecast`). The maximum of an
hourly forecast's paths over a month was within 10% of the actual peak in fewer windows than the daily-peak model
(docs/benchmarks.md, "Long horizons"), and a planner's "peak in the next 30 days" should not depend on the step.

Intervals come from the chosen forecast's inner backtest errors at the native step through the project's
:func:`~capacity.forecast.intervals.calibrate`, with two long-horizon changes: daily errors are standardized by the
time-of-year spread (:mod:`~capacity.forecast.spread`), and the widening for a chosen model's optimism is
``1 + k / sqrt(windows)``, not ``1 + k / sqrt(errors)`` (twelve overlapping 90-day windows are not 1,080
independent errors). The two ``k`` were chosen on earlier PJM, taxi and ambient windows than the benchmark's folds
(``docs/benchmarks.md``, "Long horizons"). Pure: no files, database, clock or environment.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from capacity.errors import InvalidInput
from capacity.forecast.intervals import Calibration, calibrate, quantile_forecast, sample_paths
from capacity.forecast.intraday import compose, daily_means, whole_days
from capacity.forecast.longfit import DailyFit, fit_daily
from capacity.forecast.peaks import InnerBacktest, peak_forecast
from capacity.forecast.regularize import RegularSeries
from capacity.forecast.spread import spread_factor
from capacity.forecast.types import ForecastResult, ForecastSpec, PeakForecast
from capacity.schema import MEAN, TS, quantile_column

#: From this many days ahead, forecasts come from the long-range engine.
LONG_MIN_DAYS = 28
#: The longest horizon it accepts (a year and a day).
LONG_MAX_DAYS = 366
#: A long-range forecast is made to the first of these reaches (in days) that covers its horizon, or as many days
#: as the history holds when fewer, and cut to the horizon asked for: the inner backtest's windows, the model
#: chosen and the calibration are then the same for every horizon up to a reach, so a day's quantiles do not
#: depend on how far past it the forecast runs. Made at the asked horizon, a 409-day history got 10 inner windows
#: at 30 days and 2 at 90 days, and the same Black Friday's hourly p95 peak moved from 815 to 908. The reaches are
#: a month, 13 and 26 weeks (a quarter; the next quarter from any day of this one), each and two days: a risk run
#: forecasts a day past its window, and a history ending at 00:00 holds an hour of its last day, so a risk run
#: over a plan's 13 weeks is made to the plan's reach. The month keeps a 30-day question calibrated on 30-day
#: windows (made to 93 days, the 30-day benchmark's 95% interval covered 0.976 against 0.962; the month reach:
#: 0.962, and the Black Friday p95 808 at 30 days against 811 at 45-90). Past the last reach, the horizon itself.
LONG_REACHES = (32, 93, 186)
#: Widening of the calibrated offsets, ``1 + k / sqrt(inner windows)``, centre and 95% ends.
WIDEN_CENTER_K = 0.35
WIDEN_TAIL_K = 0.9
#: Sub-daily series need this many whole days.
MIN_DAYS = 14

DAY = pd.Timedelta(days=1)


def reach_steps(spec: ForecastSpec, history: pd.DatetimeIndex) -> int:
    """How many steps a long-range forecast of ``spec`` from ``history`` (the regular history's index) is made to
    before it is cut to ``spec.horizon``: to the end of the first of :data:`LONG_REACHES` covering the horizon,
    counted in days from the history's last whole day (a partial last day is the reach's first), at most as many
    days as the history holds, never under the horizon."""
    step = step_of(spec.freq)
    per_day = max(1, round(DAY / step))
    last = pd.Timestamp(history[-1])
    partial = (round((last - last.normalize()) / step) + 1) % per_day  # steps of the last day already history
    days = -(-(partial + spec.horizon) // per_day)
    reach = next((r for r in LONG_REACHES if r >= days), days)
    return max(spec.horizon, min(reach, len(history) // per_day) * per_day - partial)


def step_of(freq: str) -> pd.Timedelta:
    """The step of a pandas frequency as a timedelta."""
    return pd.Timedelta(pd.tseries.frequencies.to_offset(freq))  # type: ignore[arg-type]


def horizon_days(spec: ForecastSpec) -> float:
    """How many days ``spec`` looks ahead."""
    return float(spec.horizon * step_of(spec.freq) / DAY)


def is_long(spec: ForecastSpec) -> bool:
    """True when ``spec`` asks for four weeks or more (the long-range engine's job); False for a spec whose
    step or horizon does not parse (the short-horizon path reports those)."""
    try:
        return horizon_days(spec) >= LONG_MIN_DAYS
    except (ValueError, TypeError):
        return False


@dataclass(frozen=True)
class LongForecast:
    """A long-range forecast and what the weekly peaks of a plan need from it.

    Attributes:
        result: the forecast at the native step (frame, paths, model, scores, diagnostics).
        daily: the daily history the core was fitted on (daily means for a sub-daily series).
        daily_mean: the core's daily point forecast, from the day after ``daily``.
        inner: the core's inner backtest of the chosen forecast (None on a fallback).
        yearly: whether yearly candidates ran.
    """

    result: ForecastResult
    daily: pd.Series
    daily_mean: np.ndarray
    inner: InnerBacktest | None
    yearly: bool


@dataclass(frozen=True)
class _Core:
    daily: pd.Series
    fit: DailyFit
    mean: np.ndarray
    cal: Calibration
    factor: np.ndarray
    windows: int
    peaks: PeakForecast | None = None


def widening(windows: int) -> tuple[float, float]:
    """The (centre, 95% ends) widening for a calibration resting on ``windows`` inner backtest windows."""
    root = float(np.sqrt(max(windows, 1)))
    return 1.0 + WIDEN_CENTER_K / root, 1.0 + WIDEN_TAIL_K / root


def _floor(y: np.ndarray) -> float:
    return 1e-9 + 1e-4 * float(np.mean(np.abs(y)))


def _heuristic(y: np.ndarray, lag: int, horizon: int) -> Calibration:
    """Intervals from lag differences of the history when no backtest window fits."""
    lag = lag if len(y) > lag + 1 else 1
    diffs = y[lag:] - y[:-lag] if len(y) > lag else np.zeros(1)
    return calibrate(diffs.reshape(-1, 1), horizon, 1e-9 + 1e-3 * float(np.mean(np.abs(y))), 1.0, 1.0)


def check_long(spec: ForecastSpec) -> None:
    """Reject what the long-range engine cannot do, naming the field.

    Raises:
        InvalidInput: for a step longer than a day or not dividing one, or a horizon past a year.
    """
    step = step_of(spec.freq)
    if step > DAY or DAY % step != pd.Timedelta(0):
        raise InvalidInput(
            f"the long-range engine needs a step that divides a day (1d, 1h, 15min ...), got {spec.freq!r}",
            field="freq",
        )
    if horizon_days(spec) > LONG_MAX_DAYS:
        raise InvalidInput(
            f"horizon must be at most {LONG_MAX_DAYS} days, got {horizon_days(spec):.0f}", field="horizon"
        )


def inner_of(fit: DailyFit) -> InnerBacktest | None:
    """What the weekly peaks need of a daily fit's inner backtest (None on a fallback)."""
    if fit.inner is None or fit.backtest is None:
        return None
    return InnerBacktest(fit.backtest.cutoffs, fit.inner, widening(len(fit.backtest.cutoffs)))


def daily_peak_forecast(
    daily: pd.Series, mean: np.ndarray, inner: InnerBacktest | None, yearly: bool, cut: int | None = None
) -> PeakForecast | None:
    """The weekly peaks of a daily forecast ``mean`` made from ``daily``, up to day ``cut`` (None without an inner
    backtest)."""
    if inner is None:
        return None
    start = pd.Timestamp(daily.index[-1]).normalize() + DAY
    return peak_forecast(daily.to_numpy(dtype="float64"), start, mean, inner, yearly, cut)


def _daily_maxima(days: pd.Series, per_day: int) -> pd.Series:
    v = days.to_numpy(dtype="float64").reshape(-1, per_day).max(axis=1)
    return pd.Series(v, index=pd.DatetimeIndex(days.index[::per_day]))


def _peak_core(days: pd.Series, per_day: int, need: int, cut: int) -> PeakForecast | None:
    """The weekly peaks of a sub-daily series: its daily maxima forecast ``need`` days ahead by the daily core,
    up to day ``cut``."""
    peaks = _daily_maxima(days, per_day)
    index = pd.DatetimeIndex(peaks.index)
    dates = pd.DatetimeIndex(index.append(pd.date_range(index[-1] + DAY, periods=need, freq="1D")))
    fit = fit_daily(peaks.to_numpy(dtype="float64"), dates, need)
    return daily_peak_forecast(peaks, fit.mean, inner_of(fit), fit.yearly, cut)


def _daily_core(values: pd.Series, spec: ForecastSpec, exog: np.ndarray | None) -> _Core:
    y = values.to_numpy(dtype="float64")
    days = pd.DatetimeIndex(values.index).normalize()
    dates = pd.DatetimeIndex(days.append(pd.date_range(days[-1] + DAY, periods=spec.horizon, freq="1D")))
    fit = fit_daily(y, dates, spec.horizon, exog)
    factor = np.ones(spec.horizon)
    if fit.inner is None or fit.backtest is None:
        return _Core(values, fit, fit.mean, _heuristic(y, 7, spec.horizon), factor, 0)
    errors = fit.backtest.actuals - fit.inner
    if fit.yearly:
        width = fit.backtest.horizon
        past = [spread_factor(y[:c], dates[:c], dates[c : c + width]) for c in fit.backtest.cutoffs]
        errors = errors / np.array(past)
        factor = spread_factor(y, dates[: len(y)], dates[len(y) :])
    windows = len(fit.backtest.cutoffs)
    cal = calibrate(errors, spec.horizon, _floor(y), *widening(windows))
    return _Core(values, fit, fit.mean, cal, factor, windows)


def _subdaily_core(values: pd.Series, spec: ForecastSpec, per_day: int, keep: int) -> _Core:
    days = whole_days(values, per_day)
    if len(days) < MIN_DAYS * per_day:
        raise InvalidInput(
            f"a {horizon_days(spec):.0f}-day forecast at {spec.freq} needs {MIN_DAYS} whole days of history, "
            f"got {len(days) // per_day}",
            field="values",
        )
    daily = daily_means(days, per_day)
    first = int(np.searchsorted(values.index, days.index[0]))
    offset = len(values) - first - len(days)  # steps of a partial last day, already history
    need = -(-(offset + spec.horizon) // per_day)
    index = pd.DatetimeIndex(daily.index)
    dates = pd.DatetimeIndex(index.append(pd.date_range(index[-1] + DAY, periods=need, freq="1D")))
    fit = fit_daily(daily.to_numpy(dtype="float64"), dates, need)
    mean = compose(days, per_day, fit.mean, spec.horizon, offset)
    v = values.to_numpy(dtype="float64")
    errors = []
    if fit.inner is not None and fit.backtest is not None:
        # windows narrower than the horizon (a short history) give errors over their width; calibrate carries the
        # error scale on to the whole horizon
        width = min(spec.horizon, fit.backtest.horizon * per_day)
        for c, inner_daily in zip(fit.backtest.cutoffs, fit.inner, strict=True):
            start = first + c * per_day
            if start + width <= len(v):
                guess = compose(days.iloc[: c * per_day], per_day, inner_daily, width, 0)
                errors.append(v[start : start + width] - guess)
    if errors:
        cal = calibrate(np.array(errors), spec.horizon, _floor(v), *widening(len(errors)))
    else:
        cal = _heuristic(v, per_day, spec.horizon)
    peaks = _peak_core(days, per_day, need, -(-(offset + keep) // per_day))
    return _Core(daily, fit, mean, cal, np.ones(spec.horizon), len(errors), peaks)


def forecast_long(
    regular: RegularSeries,
    spec: ForecastSpec,
    exog: np.ndarray | None = None,
    notes: tuple[str, ...] = (),
    keep: int | None = None,
) -> LongForecast:
    """Forecast a regularized series months ahead (see the module docstring).

    Args:
        regular: the regularized history (``regularize`` at ``spec.freq`` with ``spec.agg``).
        spec: what to forecast; ``spec.horizon * spec.freq`` should be 28 days or more (the reach, see
            :func:`reach_steps`: the frame and paths cover it, the caller cuts them to ``keep``).
        exog: event regressors for a daily step, ``len(history) + horizon`` rows (future rows zeroed).
        notes: diagnostics so far (regularization).
        keep: the steps the caller keeps (the weekly peaks end there; default: all of ``spec.horizon``).

    Raises:
        InvalidInput: for a step that does not divide a day, a horizon past a year, or a sub-daily history under
            two weeks.
    """
    check_long(spec)
    step = step_of(spec.freq)
    per_day = round(DAY / step)
    values = regular.values
    keep = spec.horizon if keep is None else min(keep, spec.horizon)
    core = _daily_core(values, spec, exog) if per_day == 1 else _subdaily_core(values, spec, per_day, keep)
    fit = core.fit
    quantiles = tuple(sorted(spec.quantiles))
    zero = np.zeros(spec.horizon)
    qs = quantile_forecast(zero, core.cal, quantiles) * core.factor + core.mean
    paths = sample_paths(zero, core.cal, spec.n_paths, spec.seed) * core.factor + core.mean
    mean = core.mean
    y = values.to_numpy(dtype="float64")
    if float(np.min(y)) >= 0.0:  # a non-negative history (utilization, rates) stays non-negative
        mean, qs, paths = np.maximum(mean, 0.0), np.maximum(qs, 0.0), np.maximum(paths, 0.0)
    future = pd.date_range(values.index[-1] + step, periods=spec.horizon, freq=step)
    frame = pd.DataFrame({TS: future, MEAN: mean})
    for q, row in zip(quantiles, qs, strict=True):
        frame[quantile_column(q)] = row
    members = fit.members
    model = members[0] if len(members) == 1 else f"ensemble({'+'.join(members)})"
    kind = "yearly and weekly" if fit.yearly else "weekly (under two years of history)"
    diagnostics = (
        *notes,
        f"long-range engine: {horizon_days(replace(spec, horizon=keep)):.0f} days ahead"
        + (f" (made {horizon_days(spec):.0f} days ahead, then cut)" if keep < spec.horizon else "")
        + f", {kind} candidates, "
        f"{core.windows} backtest windows of {fit.backtest.horizon if fit.backtest else 0} days",
        *fit.notes,
    )
    result = ForecastResult(
        frame=frame,
        model=model,
        scores=dict(fit.choice.scores) if fit.choice else {},
        diagnostics=tuple(dict.fromkeys(diagnostics)),
        paths=paths,
        periods=regular.periods,
        history_end=values.index[-1],
        candidates={k: dict(v) for k, v in fit.choice.candidates.items()} if fit.choice else {},
        fallback=fit.fallback,
        members=members,
        backtest_horizon=fit.backtest.horizon if fit.backtest else 0,
        backtest_folds=core.windows,
        peaks=core.peaks
        if per_day > 1
        else daily_peak_forecast(core.daily, fit.mean, inner_of(fit), fit.yearly, keep),
    )
    return LongForecast(result, core.daily, fit.mean, inner_of(fit), fit.yearly)
