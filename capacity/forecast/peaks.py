"""Weekly peaks of a daily forecast, calibrated by the engine's own backtest.

A capacity plan is about each week's peak, and neither obvious estimate is right: the weekly maximum of the point
forecast is too low (a smooth forecast has no heat wave in it; -11% at 90 days on the PJM regions), and the median
maximum of the sample paths too high (+8%: the paths treat most of the error as day-to-day noise, and the maximum
of many noisy days runs high). So the weekly peak is forecast like any other quantity: a centre (the weekly maximum
of the daily point forecast, averaged, when the series has past years, with the same week's maximum in those years
moved to today's level), and its errors at the inner backtest's origins, log ratios ``actual / centre``, calibrated
by :func:`~capacity.forecast.intervals.calibrate` into weekly quantiles and weekly sample paths. On the dev windows
the highest weekly p50 landed within 10% of the window's peak in 81% of the 90-day windows (path maxima: 47%).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from capacity.forecast.intervals import Calibration, calibrate, quantile_offsets, sample_paths
from capacity.forecast.models.dated import YEAR_LAG
from capacity.forecast.types import PeakForecast

#: The window-peak levels a forecast carries (the risk table's peak p50/p90/p95).
PEAK_LEVELS = (0.5, 0.9, 0.95)
#: Weekly sample paths a forecast and a plan draw (the same count and seed: a long window's breach probability and
#: a plan's crossing probability over the same weeks are then one number).
PEAK_PATHS = 1000
#: Days in a plan week.
WEEK = 7
#: The analog weekly peak re-anchors each past year on this many trailing days, over at most this many years.
LEVEL_DAYS = 28
MAX_YEARS = 5


@dataclass(frozen=True)
class InnerBacktest:
    """What the long-range engine keeps of its inner backtest to calibrate peaks.

    Attributes:
        cutoffs: positions of the inner origins in the daily history (training is ``history[:cutoff]``).
        forecasts: the chosen forecast from each origin, shape ``(len(cutoffs), width)``.
        widen: the interval widening (centre, tail) the engine used, applied to the peaks too.
    """

    cutoffs: tuple[int, ...]
    forecasts: np.ndarray
    widen: tuple[float, float] = (1.0, 1.0)


@dataclass(frozen=True)
class WeeklyPeaks:
    """Forecast weekly peaks.

    Attributes:
        starts: the first day of each week (midnight, UTC).
        days: days per week (the last week of a quarter may be shorter).
        quantiles: level -> forecast weekly peak at that level, one per week.
        paths: sample paths of the weekly peaks, shape ``(n_paths, weeks)``.
        centre: the weekly peak before calibration (weekly max of the point forecast, with the analog).
    """

    starts: pd.DatetimeIndex
    days: tuple[int, ...]
    quantiles: dict[float, np.ndarray]
    paths: np.ndarray
    centre: np.ndarray

    def at(self, level: float) -> np.ndarray:
        """The weekly peaks at a quantile level that was asked for."""
        return self.quantiles[level]


def week_blocks(first: int, weeks: int, width: int) -> list[tuple[int, int]]:
    """``[start, end)`` day offsets of ``weeks`` 7-day blocks from ``first``, the last cut at ``width``."""
    out = []
    for j in range(weeks):
        a = first + WEEK * j
        if a >= width:
            break
        out.append((a, min(a + WEEK, width)))
    return out


def block_max(x: np.ndarray, blocks: Sequence[tuple[int, int]]) -> np.ndarray:
    """The maximum of ``x`` (last axis) over each block."""
    return np.stack([x[..., a:b].max(axis=-1) for a, b in blocks], axis=-1)


def analog_peaks(history: np.ndarray, blocks: Sequence[tuple[int, int]]) -> np.ndarray | None:
    """Median over past years of each block's maximum 52 weeks (times k) earlier, moved by the level gap between
    the last 28 days and the 28 days before that year's window; None without a whole past year."""
    n = len(history)
    width = max(b for _, b in blocks)
    rows = []
    for k in range(1, MAX_YEARS + 1):
        start = n - k * YEAR_LAG
        if start - LEVEL_DAYS < 0 or start + width > n:
            continue
        gap = float(history[n - LEVEL_DAYS :].mean() - history[start - LEVEL_DAYS : start].mean())
        rows.append(block_max(history[start : start + width], blocks) + gap)
    return np.median(rows, axis=0) if rows else None


def _centre(
    history: np.ndarray, forecast: np.ndarray, blocks: Sequence[tuple[int, int]], yearly: bool
) -> np.ndarray:
    centre = block_max(forecast, blocks)
    if yearly:
        analog = analog_peaks(history, blocks)
        if analog is not None:
            centre = 0.5 * (centre + analog)
    return centre


def weekly_peaks(
    history: np.ndarray,
    start: pd.Timestamp,
    mean: np.ndarray,
    inner: InnerBacktest,
    *,
    first: int = 0,
    weeks: int | None = None,
    cut: int | None = None,
    yearly: bool = False,
    quantiles: Sequence[float] = (0.5, 0.9),
    n_paths: int = PEAK_PATHS,
    seed: int = 0,
) -> WeeklyPeaks:
    """Weekly peak quantiles and paths for the daily forecast ``mean`` (day 0 is ``start``).

    The calibration does not depend on which weeks are asked for: it is made over every week of the forecast
    (from the asked weeks' weekday, ``first % 7``), each week's error scale at its own lead, and the asked weeks
    are then read off it. So a week gets the same p50/p90 whether it is the seventh week of a 13-week plan or the
    first of next quarter's plan made from the same forecast (a quarter's weeks were calibrated as weeks 1, 2 ...
    with errors from the weeks of the inner backtest after the quarter's lead, and came out 2.5x narrower).

    Args:
        history: the daily history the forecast was made from.
        start: the first forecast day.
        mean: the daily point forecast.
        inner: the engine's inner backtest of the same forecast.
        first: day offset of the first week from ``start`` (a plan for a later quarter starts later).
        weeks: how many weeks (default: as many as the forecast covers).
        cut: the day offset the last asked week ends at, at most (a quarter's end; default: the forecast's end).
        yearly: average the centre with the analog peaks of past years.
        quantiles: levels to return.
        n_paths: weekly sample paths to draw.
        seed: their random seed.

    Raises:
        ValueError: when no week fits in the forecast.
    """
    width = len(mean)
    phase = first % WEEK
    every = week_blocks(phase, -(-(width - phase) // WEEK), width)
    j0 = (first - phase) // WEEK
    end = width if cut is None else min(cut, width)
    asked = every[j0 : j0 + weeks if weeks is not None else None]
    blocks = [(a, min(b, end)) for a, b in asked if a < end]
    if not blocks:
        raise ValueError(f"no week starts inside the {width}-day forecast (first week at day {first})")
    positive = bool(np.min(history) > 0.0)
    inner_width = inner.forecasts.shape[1]
    inner_blocks = [blk for blk in every if blk[1] <= inner_width] or week_blocks(0, len(every), inner_width)
    errors = []
    for c, fc in zip(inner.cutoffs, inner.forecasts, strict=True):
        actual = block_max(history[c : c + inner_width], inner_blocks)
        centre = _centre(history[:c], fc, inner_blocks, yearly)
        errors.append(np.log(actual / centre) if positive else actual - centre)
    centre = _centre(history, mean, blocks, yearly)
    cal: Calibration = calibrate(
        np.array(errors), len(every), 1e-9, widen_center=inner.widen[0], widen_tail=inner.widen[1]
    )
    base = np.log(np.maximum(centre, 1e-12)) if positive else centre
    levels = tuple(sorted(quantiles))
    lead = slice(j0, j0 + len(blocks))  # each asked week's error scale at its own lead
    qs = base[None, :] + quantile_offsets(cal, levels)[:, None] * cal.scale[None, lead]
    paths = sample_paths(np.zeros(len(every)), cal, n_paths, seed)[:, lead] + base[None, :]
    if positive:
        qs, paths = np.exp(qs), np.exp(paths)
    day = pd.Timedelta(days=1)
    return WeeklyPeaks(
        starts=pd.DatetimeIndex([start + a * day for a, _ in blocks]),
        days=tuple(b - a for a, b in blocks),
        quantiles={q: qs[i] for i, q in enumerate(levels)},
        paths=paths,
        centre=centre,
    )


def peak_forecast(
    history: np.ndarray,
    start: pd.Timestamp,
    mean: np.ndarray,
    inner: InnerBacktest,
    yearly: bool,
    cut: int | None = None,
) -> PeakForecast | None:
    """The weekly peaks a long-range forecast carries (:attr:`ForecastResult.peaks`): the same calibration as a
    plan's weeks, at the risk table's levels, with the plan's weekly sample paths (a long window's breach
    probability reads them), up to day ``cut`` (default: the forecast's end); None when the calibration is not finite (a non-positive centre on a positive
    history), so a caller falls back to the paths' maxima rather than show NaN."""
    weekly = weekly_peaks(history, start, mean, inner, cut=cut, yearly=yearly, quantiles=PEAK_LEVELS)
    if not all(np.isfinite(v).all() for v in weekly.quantiles.values()):
        return None
    paths = weekly.paths if np.isfinite(weekly.paths).all() else None
    return PeakForecast(weekly.starts, weekly.days, weekly.quantiles, paths)
