"""Regularize a series of raw samples before fitting: fixed frequency, aggregation, gaps, duplicates, outliers.

``regularize(values, freq, agg)`` turns raw samples (possibly irregular, duplicated, with gaps and spikes) into a
:class:`RegularSeries` on a fixed grid:

- samples inside each step are aggregated with the metric's aggregation (``mean``, ``max`` or ``p95``: capacity is
  about peaks, so a CPU series is often best summarized by its per-step maximum);
- duplicated timestamps are merged by the same aggregation;
- short gaps (up to ``short_gap`` steps) are interpolated; longer gaps are filled from the same phase of the
  previous day or week (or interpolated when there is none) and flagged in ``filled`` so a caller can mask them;
- isolated spikes far outside the local seasonal range are dampened to the edge of that range; a run of several
  high steps, or a level that recurs at the same phase, is a real peak and kept;
- seasonal periods (daily, weekly) are detected from the length and the autocorrelation, and recorded.
It is pure: no files, database, clock or environment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from capacity.errors import InvalidHistory, NotEnoughHistory, describe_value

AGGREGATIONS: tuple[str, ...] = ("mean", "max", "p95")

#: Gaps up to this many steps are interpolated linearly; longer ones are filled from the seasonal phase.
SHORT_GAP = 3
#: A point is a spike when it lies this many robust standard deviations outside its seasonal neighbourhood.
SPIKE_SIGMAS = 8.0
#: The fewest steps the engine accepts.
MIN_POINTS = 3
#: Samples spaced (by the median) more than this many steps apart are too coarse to forecast at that step: hourly
#: steps from daily samples still hold each day's level, but from weekly ones the interpolated hours carried a
#: made-up daily cycle (a weekly PJM export forecast hourly peaked at 2.5x its history's maximum).
MAX_SPACING_STEPS = 24


@dataclass(frozen=True)
class RegularSeries:
    """A series on a fixed grid and what regularization did to it.

    Attributes:
        values: the regular series (no NaN), indexed by UTC timestamps at ``freq``.
        filled: True where a step had no sample and was filled.
        freq: the step (a pandas offset alias).
        periods: the detected seasonal periods, in steps (e.g. ``(24, 168)`` for hourly data).
        merged_duplicates: how many raw samples shared a timestamp with another one.
        filled_steps: how many steps were filled (short and long gaps).
        dampened: how many isolated spikes were dampened.
        notes: human-readable notes about what was done.
    """

    values: pd.Series
    filled: np.ndarray
    freq: str
    periods: tuple[int, ...]
    merged_duplicates: int
    filled_steps: int
    dampened: int
    notes: tuple[str, ...]


def steps_per(freq: str, span: str) -> int:
    """How many steps of ``freq`` make one ``span`` (e.g. 24 hourly steps per day); at least 1."""
    step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))  # type: ignore[arg-type]
    return max(1, round(pd.Timedelta(span) / step))


def _aggregate(s: pd.Series, freq: str, agg: str) -> pd.Series:
    grouped = s.resample(freq)
    if agg == "mean":
        return grouped.mean()
    if agg == "max":
        return grouped.max()
    return grouped.quantile(0.95)


def _clean_input(values: pd.Series) -> pd.Series:
    if not isinstance(values, pd.Series):
        raise InvalidHistory(f"values must be a pandas Series, got {type(values).__name__}", field="values")
    if not isinstance(values.index, pd.DatetimeIndex):
        raise InvalidHistory("values must be indexed by timestamps (a DatetimeIndex)", field="ts")
    s = pd.to_numeric(values, errors="coerce").astype("float64")
    index = values.index
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    s = pd.Series(s.to_numpy(), index=index)
    s = s[np.isfinite(s.to_numpy())]
    return s.sort_index(kind="stable")


def _fill_gaps(y: np.ndarray, missing: np.ndarray, periods: tuple[int, ...]) -> np.ndarray:
    """Interpolate short gaps; fill long ones from the previous season's values where there are any."""
    out = y.copy()
    idx = np.arange(len(y))
    known = ~missing
    if not missing.any():
        return out
    interp = np.interp(idx, idx[known], y[known])
    # run lengths of missing stretches
    run_start = np.flatnonzero(missing & ~np.r_[False, missing[:-1]])
    run_end = np.flatnonzero(missing & ~np.r_[missing[1:], False]) + 1
    for a, b in zip(run_start, run_end, strict=True):
        if b - a <= SHORT_GAP or not periods:
            out[a:b] = interp[a:b]
            continue
        # seasonal fill: the same phase one period earlier, level-adjusted to the gap's edges
        period = next((p for p in sorted(periods, reverse=True) if a - p >= 0 and b - a <= p), None)
        if period is None:
            period = next((p for p in sorted(periods) if a - p >= 0), None)
        if period is None:
            out[a:b] = interp[a:b]
            continue
        for i in range(a, b):
            out[i] = out[i - period]
        left = out[a - 1] - out[a - 1 - period] if a - 1 - period >= 0 else 0.0
        out[a:b] += left
    return out


def _dampen_spikes(y: np.ndarray, period: int) -> tuple[np.ndarray, int]:
    """Dampen isolated one-step spikes that lie far outside both their neighbours and their seasonal phase."""
    n = len(y)
    if n < 8:
        return y, 0
    diffs = np.diff(y)
    mad = float(np.median(np.abs(diffs - np.median(diffs)))) * 1.4826
    if mad <= 0:
        return y, 0
    out = y.copy()
    count = 0
    left = np.r_[y[0], y[:-1]]
    right = np.r_[y[1:], y[-1]]
    neigh_hi = np.maximum(left, right)
    neigh_lo = np.minimum(left, right)
    up = (y - neigh_hi) > SPIKE_SIGMAS * mad
    down = (neigh_lo - y) > SPIKE_SIGMAS * mad
    for i in np.flatnonzero(up | down):
        if i == 0 or i == n - 1:
            continue  # an edge point cannot be told apart from the start of a level shift
        # a recurring peak at the same phase a period (or two) earlier or later is real: keep it
        same_phase = [y[j] for j in (i - period, i + period, i - 2 * period) if 0 <= j < n and period > 1]
        if same_phase and up[i] and max(same_phase) >= y[i] - 3 * mad:
            continue
        if same_phase and down[i] and min(same_phase) <= y[i] + 3 * mad:
            continue
        edge = neigh_hi[i] + SPIKE_SIGMAS * mad if up[i] else neigh_lo[i] - SPIKE_SIGMAS * mad
        out[i] = edge
        count += 1
    return out, count


def seasonal_strength(y: np.ndarray, period: int) -> float:
    """Autocorrelation of ``y`` at lag ``period`` (0 when undefined): near 1 for a strong, stable season."""
    if period <= 0 or len(y) <= period + 2:
        return 0.0
    a = y[:-period] - y[:-period].mean()
    b = y[period:] - y[period:].mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 0 else 0.0


def detect_periods(y: np.ndarray, freq: str) -> tuple[int, ...]:
    """The seasonal periods worth trying: daily with at least two days of data, weekly with at least two weeks.

    The periods are chosen by length alone (under two weeks: daily only; under two days: none); whether a season
    actually helps is for the backtest to decide, since seasonal models that do not help lose it. A flat series
    gets none. A daily series (one step per day) gets the weekly period alone.
    """
    day = steps_per(freq, "1D")
    week = steps_per(freq, "7D")
    n = len(y)
    if n == 0 or float(np.std(y)) <= 0:
        return ()
    return tuple(p for p, needed in ((day, 2 * day), (week, 2 * week)) if p > 1 and n >= needed)


def _check_spacing(index: pd.DatetimeIndex, freq: str) -> None:
    """Refuse samples spaced more than :data:`MAX_SPACING_STEPS` steps apart (median of the distinct gaps)."""
    gaps = np.diff(index.asi8)
    gaps = gaps[gaps > 0]
    if not len(gaps):
        return
    spacing = pd.Timedelta(int(np.median(gaps)), unit="ns")
    step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))  # type: ignore[arg-type]
    if spacing > MAX_SPACING_STEPS * step:
        days = spacing / pd.Timedelta(days=1)
        raise NotEnoughHistory(
            f"samples are {days:g} days apart (median): too coarse to forecast in steps of {freq}, where all but one "
            f"of every {int(spacing / step)} steps would be interpolated; load samples at least daily",
            field="values",
        )


def regularize(values: pd.Series, freq: str = "1h", agg: str = "mean") -> RegularSeries:
    """Put raw samples on a fixed grid: aggregate, merge duplicates, fill gaps, dampen spikes, detect seasons.

    Args:
        values: raw samples indexed by timestamps (UTC or naive UTC), possibly irregular and duplicated.
        freq: the step, a pandas offset alias such as ``1h``.
        agg: ``mean``, ``max`` or ``p95`` of the samples inside each step.

    Returns:
        The regular series and what was done to it.

    Raises:
        InvalidHistory: for an unknown aggregation or a series that is not indexed by time.
        NotEnoughHistory: when fewer than three steps hold a sample, or the samples are more than
            :data:`MAX_SPACING_STEPS` steps apart.
    """
    if agg not in AGGREGATIONS:
        raise InvalidHistory(
            f"agg must be one of {', '.join(AGGREGATIONS)}, got {describe_value(agg)}", field="agg"
        )
    try:
        pd.tseries.frequencies.to_offset(freq)
    except ValueError as exc:
        raise InvalidHistory(f"freq is not a pandas frequency: {describe_value(freq)}", field="freq") from exc
    s = _clean_input(values)
    merged = int(s.index.duplicated().sum())
    if s.empty:
        raise NotEnoughHistory("the series has no finite samples", field="values")
    _check_spacing(pd.DatetimeIndex(s.index), freq)
    grid = _aggregate(s, freq, agg)
    observed = int(grid.notna().sum())
    if observed < MIN_POINTS:
        raise NotEnoughHistory(
            f"the series has {observed} step(s) with data at {freq}; at least {MIN_POINTS} are needed",
            field="values",
        )
    raw = grid.to_numpy(dtype="float64")
    missing = ~np.isfinite(raw)
    notes = []
    first_periods = detect_periods(raw[~missing], freq) if (~missing).sum() > 4 else ()
    filled = _fill_gaps(raw, missing, first_periods)
    if missing.any():
        notes.append(f"filled {int(missing.sum())} empty step(s) of {len(raw)}")
    if merged:
        notes.append(f"merged {merged} duplicated timestamp(s)")
    day = steps_per(freq, "1D")
    damped, count = _dampen_spikes(filled, day if len(filled) >= 2 * day else 1)
    if count:
        notes.append(f"dampened {count} isolated spike(s)")
    periods = detect_periods(damped, freq)
    if periods:
        strength = ", ".join(f"{p} (autocorrelation {seasonal_strength(damped, p):.2f})" for p in periods)
        notes.append(f"seasonal periods tried: {strength} steps")
    else:
        notes.append("no seasonal period: under two days of history or a flat series")
    return RegularSeries(
        values=pd.Series(damped, index=grid.index, name=values.name),
        filled=missing,
        freq=freq,
        periods=periods,
        merged_duplicates=merged,
        filled_steps=int(missing.sum()),
        dampened=count,
        notes=tuple(notes),
    )
