"""Long-range models with a yearly cycle, on daily (peak) series with at least two years of history.

Two families, because neither wins everywhere (issue 16's research, ``docs/benchmarks.md`` "Long horizons"):

- **Climatology** (analog) forecasts: each future day is the mean of the same days of the year (52 weeks back, so
  the weekday matches, widened by a few days on either side) over up to five past years, re-anchored on the last
  28 days' level (``climatology``) or scaled by each year's ratio to today's level with the year-over-year growth
  carried on, damped (``climatology_growth``). With five years they keep the real shape of the year, peaks included;
  with two they are noisy.
  Reference: the "analog" or "climatology" forecast of weather and load forecasting; Hyndman & Athanasopoulos,
  *Forecasting: Principles and Practice* (3rd ed.), section 5.2 (seasonal naive), averaged over years.
- **Harmonic regression**: a level, six yearly Fourier pairs, weekday dummies and event regressors fitted by ridge
  least squares on the last four years, then a recent-level correction (``harmonic_year``), a damped linear trend
  with AR(1, 2, 7) errors (``harmonic_year_damped``), or a piecewise-linear trend whose last slope is carried on,
  damped (``harmonic_year_trend``, Prophet's changepoints with a ridge instead of a Laplace prior).
  Reference: FPP3 section 12.1 (dynamic harmonic regression); Taylor & Letham, "Forecasting at scale" (2018).

Every function is pure and takes a :class:`~capacity.forecast.models.dated.DatedInput` of daily values (a plain
``FitInput`` fails: these models need the dates).
"""

from __future__ import annotations

import numpy as np

from capacity.forecast.models.base import FitInput, ModelSpec
from capacity.forecast.models.dated import (
    YEAR_DAYS,
    YEAR_LAG,
    calendar_of,
    fourier_year,
    history_days,
    weekday_dummies,
    weekday_effects,
)

#: Yearly candidates run on histories of at least two years.
MIN_YEARLY_DAYS = 730
#: The harmonic models fit yearly terms from this many days (inner backtest origins of a two-year history).
MIN_FOURIER_DAYS = 456
#: The recent level is read off this many trailing days.
LEVEL_DAYS = 28
#: Past years a climatology averages (fewer when the history is shorter).
MAX_YEARS = 5
#: A climatology averages at least this many past days per forecast day (years x window days).
ANALOG_SAMPLES = 35
#: Fourier pairs of the yearly cycle, and the trailing years a harmonic model fits on.
YEARLY_PAIRS = 6
HARMONIC_YEARS = 4.0
#: Ridge penalty of the regression terms, relative to the number of days.
RIDGE = 1e-3


def _years_and_half(n: int, horizon: int) -> tuple[list[int], int]:
    """The past years usable for a horizon (the whole window must lie in the history) and the half window in days."""
    years = [
        k
        for k in range(1, MAX_YEARS + 1)
        if n - k * YEAR_LAG >= LEVEL_DAYS + 20 and k * YEAR_LAG >= horizon + 20
    ]
    if not years:
        raise ValueError("a climatology needs a year of history before the forecast window")
    half = max(3, int(np.ceil((ANALOG_SAMPLES / len(years) - 1) / 2)))
    return years, half


def _analog_mean(v: np.ndarray, positions: np.ndarray, years: list[int], half: int) -> np.ndarray:
    """Mean of ``v`` at ``positions - 364 k + j`` over the years ``k`` and offsets ``|j| <= half`` (clipped)."""
    n = len(v)
    rows = [v[np.clip(positions - k * YEAR_LAG + j, 0, n - 1)] for k in years for j in range(-half, half + 1)]
    return np.mean(rows, axis=0)


def climatology(data: FitInput) -> np.ndarray:
    """Weekday-adjusted mean of the same days of past years, re-anchored on the last 28 days' level."""
    y, h = data.y, data.horizon
    n = len(y)
    weekdays = calendar_of(data).dayofweek.to_numpy()
    effects = weekday_effects(y, weekdays[:n], multiplicative=False)
    adjusted = y - effects[weekdays[:n]]
    years, half = _years_and_half(n, h)
    recent = np.arange(n - LEVEL_DAYS, n)
    gap = float(np.mean(adjusted[recent] - _analog_mean(adjusted, recent, years, half)))
    return _analog_mean(adjusted, np.arange(n, n + h), years, half) + gap + effects[weekdays[n:]]


#: The year-over-year growth of ``climatology_growth`` fades with this time constant (days).
GROWTH_DAMPING_DAYS = 180.0


def climatology_growth(data: FitInput) -> np.ndarray:
    """Each past year's same days scaled by its ratio to today's level, averaged, times the year-over-year growth
    carried on (damped). Positive series only: growth is a ratio."""
    y, h = data.y, data.horizon
    if float(np.min(y)) <= 0.0:
        raise ValueError("climatology_growth needs a positive series")
    n = len(y)
    weekdays = calendar_of(data).dayofweek.to_numpy()
    effects = weekday_effects(y, weekdays[:n], multiplicative=True)
    adjusted = y / effects[weekdays[:n]]
    years, half = _years_and_half(n, h)
    recent = np.arange(n - LEVEL_DAYS, n)
    future = np.arange(n, n + h)
    preds, rates = [], []
    for k in years:
        ratio = float(np.mean(adjusted[recent]) / np.mean(_analog_mean(adjusted, recent, [k], half)))
        preds.append(_analog_mean(adjusted, future, [k], half) * ratio)
        rates.append(np.log(ratio) / (k * YEAR_LAG))
    rate = float(np.median(rates))
    steps = np.arange(1, h + 1, dtype="float64")
    growth = np.exp(rate * GROWTH_DAMPING_DAYS * (1.0 - np.exp(-steps / GROWTH_DAMPING_DAYS)))
    return np.mean(preds, axis=0) * growth * effects[weekdays[n:]]


def _design(data: FitInput, start: int) -> tuple[np.ndarray, int]:
    """Level, yearly Fourier (from 1.25 years), weekday and event columns for days ``start`` to the horizon's end."""
    cal = calendar_of(data)[start:]
    cols = [np.ones((len(cal), 1))]
    if history_days(data) - start >= MIN_FOURIER_DAYS:
        cols.append(fourier_year(cal, YEARLY_PAIRS))
    cols.append(weekday_dummies(cal))
    if data.exog is not None and data.exog.size:
        past = data.exog[start : len(data.y)]
        keep = past.std(axis=0) > 0
        if keep.any():
            cols.append(data.exog[start:, keep])
    x = np.hstack(cols)
    return x, x.shape[1]


def _ridge(x: np.ndarray, y: np.ndarray, penalty: np.ndarray) -> np.ndarray:
    return np.linalg.solve(x.T @ x + np.diag(penalty), x.T @ y)


def _ar_forecast(resid: np.ndarray, horizon: int, lags: tuple[int, ...] = (1, 2, 7)) -> np.ndarray:
    """An AR on ``lags`` fitted by least squares, iterated ``horizon`` steps (shrunk when non-stationary)."""
    top = max(lags)
    if len(resid) < top + 20:
        return np.zeros(horizon)
    rows = np.column_stack([resid[top - lag : len(resid) - lag] for lag in lags])
    coef, *_ = np.linalg.lstsq(rows, resid[top:], rcond=None)
    if np.abs(coef).sum() >= 0.98:
        coef = coef * 0.97 / np.abs(coef).sum()
    buf = list(resid[-top:])
    out = np.empty(horizon)
    for i in range(horizon):
        out[i] = float(sum(c * buf[-lag] for c, lag in zip(coef, lags, strict=True)))
        buf.append(out[i])
    return out


#: The recent-level correction of ``harmonic_year`` and the damped trend of ``harmonic_year_damped`` fade with
#: this time constant (days).
LEVEL_DAMPING_DAYS = 90.0
#: Changepoints of ``harmonic_year_trend``: every this many days, none in the last stretch; their ridge weight.
CHANGEPOINT_DAYS = 91
CHANGEPOINT_RIDGE = 3e-3


def _harmonic(data: FitInput, trend: str) -> np.ndarray:
    n, h = len(data.y), data.horizon
    start = max(0, n - int(HARMONIC_YEARS * YEAR_DAYS))
    y = data.y[start:]
    m = len(y)
    x, k = _design(data, start)
    days = np.arange(m + h, dtype="float64")
    # the damped trend's time is 0 on the last day (its ridge shrinks the slope, not the last level); the
    # changepoint trend's starts at the window start (its slope is free, the slope changes are shrunk)
    t = (days - (m - 1) if trend == "damped" else days) / YEAR_DAYS
    extra: list[np.ndarray] = []
    if trend in ("damped", "changepoints"):
        extra.append(t[:, None])
    hinges = np.arange(CHANGEPOINT_DAYS, m - CHANGEPOINT_DAYS, CHANGEPOINT_DAYS) / YEAR_DAYS
    if trend == "changepoints" and len(hinges):
        extra.append(np.maximum(t[:, None] - hinges[None, :], 0.0))
    full = np.hstack([x, *extra]) if extra else x
    penalty = np.full(full.shape[1], RIDGE * m)
    penalty[0] = 0.0
    if trend == "changepoints":
        penalty[k] = 0.0  # the slope itself is free
    if trend == "changepoints" and len(hinges):
        penalty[k + 1 :] = (
            CHANGEPOINT_RIDGE * m * float(np.var(y)) / max(float(np.var(full[:m, k + 1 :])), 1e-12)
        )
    beta = _ridge(full[:m], y, penalty)
    resid = y - full[:m] @ beta
    steps = np.arange(1, h + 1, dtype="float64")
    if trend == "level":
        recent = float(np.mean(resid[-LEVEL_DAYS:]))
        return full[m:] @ beta + recent * np.exp(-steps / LEVEL_DAMPING_DAYS)
    slope = float(beta[k] + (beta[k + 1 :].sum() if trend == "changepoints" else 0.0))  # per year, at the end
    tau = LEVEL_DAMPING_DAYS if trend == "damped" else GROWTH_DAMPING_DAYS
    structural = full[m:] @ beta - slope * steps / YEAR_DAYS  # the trend frozen at the last day ...
    damped = structural + slope * (tau / YEAR_DAYS) * (
        1.0 - np.exp(-steps / tau)
    )  # ... then carried on, damped
    if trend == "damped":
        return damped + _ar_forecast(resid, h)
    return damped + float(np.mean(resid[-LEVEL_DAYS:]))


def harmonic_year(data: FitInput) -> np.ndarray:
    """Level + yearly Fourier + weekday + events, re-anchored on the last 28 days' residual (fading over ~90 days)."""
    return _harmonic(data, "level")


def harmonic_year_damped(data: FitInput) -> np.ndarray:
    """The same with a linear trend, damped over ~90 days, and AR(1, 2, 7) errors."""
    return _harmonic(data, "damped")


def harmonic_year_trend(data: FitInput) -> np.ndarray:
    """The same with a piecewise-linear trend (a changepoint every 91 days), its last slope carried on, damped."""
    return _harmonic(data, "changepoints")


def _yearly(_: tuple[int, ...]) -> int:
    return MIN_YEARLY_DAYS


def _everything(_: tuple[int, ...]) -> int | None:
    return None


#: The yearly candidates of the long-range engine (not in the short-horizon registry: they need dates).
YEARLY_MODELS: tuple[ModelSpec, ...] = tuple(
    ModelSpec(name, fn, _yearly, _everything, description=text)
    for name, fn, text in (
        (
            "climatology",
            climatology,
            "same days of past years, weekday-adjusted, re-anchored on the last 28 days",
        ),
        (
            "climatology_growth",
            climatology_growth,
            "past years scaled to today's level, year-over-year growth",
        ),
        ("harmonic_year", harmonic_year, "yearly Fourier + weekday + events, recent-level correction"),
        ("harmonic_year_damped", harmonic_year_damped, "yearly Fourier + damped linear trend + AR errors"),
        ("harmonic_year_trend", harmonic_year_trend, "yearly Fourier + piecewise-linear trend, damped"),
    )
)
