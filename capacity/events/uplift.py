"""Peak-event uplift: learned from an event's past occurrences, applied to its upcoming one.

For each upcoming occurrence of an event inside the forecast horizon:

1. **Learn.** Every past occurrence of the same event in the series' own regularized history gives a ratio profile
   by hour of day: the observed value over a "normal day" counterfactual (the median of the same hour one, two and
   three weeks before and after, skipping hours that fall in any event window). Ratios are averaged on the log
   scale across the days of an occurrence, lightly smoothed across neighbouring hours, then averaged across
   occurrences. What the occurrences disagree on (their log-scale spread, floored by the ordinary week-to-week
   noise) becomes the uplift's uncertainty.
2. **Or take the planner's band.** When the occurrence carries a planner multiplier band (``multiplier_low`` ..
   ``multiplier_high``) it is used instead (read as an 80% interval of a log-normal multiplier); the learned
   hour-of-day shape, when there is one, spreads it over the day with the same mean.
3. **Or say it is unknown.** With no past occurrence and no band, nothing is applied and the result records an
   ``unknown`` uplift, which the risk ranking reports as such (never as a normal day).

The uplift multiplies the sample paths in the window, each path drawing one uplift level (an event's level is
shared by its hours), so the intervals widen by the occurrences' disagreement. Mean and quantiles are the
engine's, scaled by the uplift, plus the extra spread the uplift's uncertainty adds. Pure: no I/O.

Which uplift was used is written into the result's diagnostics as one ``uplift:`` line per occurrence
(:func:`format_diagnostic`); :func:`parse_diagnostics` reads them back from a stored forecast.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from capacity.events.baseline import baseline_logs, hour_profile, in_windows, level_noise, shape_noise, smooth
from capacity.events.calendar import EventOccurrence
from capacity.events.record import HOUR, LEARNED, OFFSET, PLANNER, UNKNOWN, Uplift, format_diagnostic
from capacity.schema import MEAN, TS, quantile_column

#: z of the 90th percentile: a planner band [low, high] is read as the 10%..90% range of the multiplier.
_Z80 = 1.2815515655446004


@dataclass(frozen=True)
class UpliftSettings:
    """How uplifts are learned.

    Attributes:
        baseline_weeks: weeks before and after an occurrence whose same hours make its normal-day baseline.
        min_coverage: share of an occurrence's hours that must be present in history for it to count.
        smooth_hours: half-width (hours) of the circular moving average over the hour-of-day profile.
        seed: seed of the per-path uplift draws.
    """

    baseline_weeks: int = 3
    min_coverage: float = 0.5
    smooth_hours: int = 1
    seed: int = 7


def _occurrence_logs(
    index: pd.DatetimeIndex, logs: np.ndarray, occ: EventOccurrence, settings: UpliftSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """One past occurrence's log-ratios with each step's offset from the start and its hour of day; None when
    the occurrence is not covered well enough."""
    inside = np.asarray((index >= occ.start) & (index < occ.end))
    if not inside.any():
        return None
    step = index[1] - index[0] if len(index) > 1 else pd.Timedelta(hours=1)
    positions = np.flatnonzero(inside)
    ok = np.isfinite(logs[positions])
    if ok.sum() < settings.min_coverage * max(1, int((occ.end - occ.start) / step)):
        return None
    positions = positions[ok]
    offsets = np.asarray((index[positions] - occ.start) // step, dtype=int)
    hours = np.asarray(index[positions].hour, dtype=int)
    return offsets, hours, logs[positions]


def pooled_disagreement(
    index: pd.DatetimeIndex,
    logs: np.ndarray,
    calendar: Sequence[EventOccurrence],
    settings: UpliftSettings,
) -> float:
    """The year-to-year spread of an event's level, pooled over every event with two or more past occurrences.

    Each covered past occurrence's level is its mean log-ratio to the normal-week baseline; the result is the
    square root of the pooled within-event variance (sum of squared deviations from each event's mean over the
    total degrees of freedom). It is what a learned level will miss by on the next occurrence, and it is what
    the shrinkage of a learned uplift is measured against: with one or two occurrences per event, an event's own
    spread is not known, but the calendar's other events show how much holidays move from one year to the next.
    0 when fewer than three degrees of freedom exist.
    """
    levels: dict[str, list[float]] = {}
    for occ in calendar:
        got = _occurrence_logs(index, logs, occ, settings)
        if got is not None:
            levels.setdefault(occ.name.lower(), []).append(float(got[2].mean()))
    squares, dof = 0.0, 0
    for values in levels.values():
        if len(values) >= 2:
            arr = np.asarray(values)
            squares += float(((arr - arr.mean()) ** 2).sum())
            dof += len(values) - 1
    return math.sqrt(squares / dof) if dof >= 3 else 0.0


def learn_uplift(
    history: pd.Series,
    occurrence: EventOccurrence,
    calendar: Sequence[EventOccurrence],
    settings: UpliftSettings | None = None,
) -> Uplift:
    """The uplift of ``occurrence`` learned from the earlier occurrences of its event in ``history``.

    Args:
        history: the regularized series (regular UTC index, no gaps).
        occurrence: the upcoming occurrence.
        calendar: the whole calendar (past occurrences of every event are kept out of the baselines).
        settings: learning settings.

    Returns:
        An :class:`Uplift`; ``source`` is ``planner`` when the occurrence carries a multiplier band, ``learned``
        when at least one past occurrence is covered by history, else ``unknown``.
    """
    settings = settings or UpliftSettings()
    y = history.sort_index()
    past = [
        e
        for e in calendar
        if e.name.lower() == occurrence.name.lower()
        and e.end <= (y.index[-1] + (y.index[1] - y.index[0] if len(y) > 1 else pd.Timedelta(0)))
        and e.start < occurrence.start
        and (occurrence.service is None or e.applies_to(occurrence.service))
    ]
    learned: Uplift | None = None
    if past and len(y) > 1:
        step = y.index[1] - y.index[0]
        index = pd.DatetimeIndex(y.index)
        blocked = in_windows(index, calendar)
        values = y.to_numpy(dtype="float64")
        scale = float(np.nanmean(np.abs(values))) or 1.0
        floor = max(1e-9, 0.01 * scale)
        per_week = int(pd.Timedelta(days=7) / step)
        logs = baseline_logs(values, blocked, per_week, settings.baseline_weeks, floor)
        used = [(occ, got) for occ in past if (got := _occurrence_logs(index, logs, occ, settings))]
        if used:
            # Shape by step of the event when every occurrence spans the same steps from the same hour (then day 2
            # of a weekend event gets its own profile); otherwise by hour of day.
            length = int((occurrence.end - occurrence.start) / step)
            by_offset = all(
                int((o.end - o.start) / step) == length and o.start.hour == occurrence.start.hour
                for o, _ in used
            )
            size = length if by_offset else 24
            stack = np.vstack(
                [hour_profile(got[0] if by_offset else got[1], got[2], size) for _, got in used]
            )
            # Fill steps an occurrence did not cover from its own mean, so the average is over the same steps.
            for row in stack:
                row[~np.isfinite(row)] = np.nanmean(row)
            k = len(used)
            mean_log = smooth(stack.mean(axis=0), settings.smooth_hours, circular=not by_offset)
            noise = level_noise(index, logs, blocked)
            levels = np.array([got[2].mean() for _, got in used])
            between = float(levels.std(ddof=1)) if k >= 2 else 0.0
            # Positive-part James-Stein shrinkage of the whole profile towards "no uplift": an uplift that a normal
            # week's noise could explain is mostly noise (a 2x sale keeps ~all of it, a 3% holiday dip little).
            level = float(levels.mean())
            # How much one occurrence's level strays from its event's typical level: the larger of a normal day's
            # noise, this event's own disagreement and the disagreement pooled over every event of the calendar
            # (a holiday's effect on load moves from year to year by more than a normal day's noise).
            pooled = pooled_disagreement(index, logs, calendar, settings)
            var_level = max(noise**2, between**2, pooled**2) / k
            keep = max(0.0, 1.0 - var_level / level**2) if level != 0.0 else 0.0
            # The shape around that level is shrunk the same way against the within-day noise of one hour.
            shape = mean_log - mean_log.mean()
            signal = float(np.mean(shape**2))
            hour_var = shape_noise(index, logs, blocked) ** 2 / k
            keep_shape = max(0.0, 1.0 - hour_var / signal) if signal > 0 else 0.0
            mean_log = keep * mean_log.mean() + keep_shape * shape
            # The next occurrence's level: the occurrences' disagreement (predictive, hence 1 + 1/k) plus the
            # noise of estimating it from k of them.
            spread = (
                smooth(stack.std(axis=0, ddof=1), settings.smooth_hours, circular=not by_offset)
                if k >= 2
                else np.zeros(size)
            )
            sd = np.sqrt(spread**2 * (1.0 + 1.0 / k) + noise**2 / k)
            profile = np.exp(mean_log)
            learned = Uplift(
                event=occurrence.name,
                start=occurrence.start,
                end=occurrence.end,
                source=LEARNED,
                occurrences=len(used),
                profile=tuple(float(v) for v in profile),
                log_sd=tuple(float(v) for v in sd),
                multiplier=float(profile.max()),
                by=OFFSET if by_offset else HOUR,
            )
    if occurrence.has_multiplier:
        low = float(occurrence.multiplier_low)  # type: ignore[arg-type]
        high = float(occurrence.multiplier_high if occurrence.multiplier_high is not None else low)
        center = math.log(math.sqrt(low * high))
        band_sd = math.log(high / low) / (2.0 * _Z80)
        if learned is not None:
            # Keep the learned shape, rescaled so its mean equals the planner's centre.
            shape = np.log(np.asarray(learned.profile))
            shape = shape - shape.mean()
        else:
            shape = np.zeros(24)
        profile = np.exp(center + shape)
        return Uplift(
            event=occurrence.name,
            start=occurrence.start,
            end=occurrence.end,
            source=PLANNER,
            occurrences=learned.occurrences if learned else 0,
            profile=tuple(float(v) for v in profile),
            log_sd=tuple(band_sd for _ in profile),
            multiplier=float(profile.max()),
            band=(low, high),
            by=learned.by if learned else HOUR,
        )
    if learned is not None:
        return learned
    return Uplift(event=occurrence.name, start=occurrence.start, end=occurrence.end, source=UNKNOWN)


def _apply_one(
    frame: pd.DataFrame,
    paths: np.ndarray,
    uplift: Uplift,
    owned: np.ndarray,
    rng: np.random.Generator,
    quantiles: Sequence[float],
) -> tuple[pd.DataFrame, np.ndarray]:
    """Multiply the ``owned`` steps of the frame and paths by the uplift (each path draws one uplift level)."""
    ts = pd.DatetimeIndex(frame[TS])
    if not owned.any() or uplift.source == UNKNOWN or not uplift.profile:
        return frame, paths
    pos = np.flatnonzero(owned)
    if uplift.by == OFFSET:
        step = ts[1] - ts[0] if len(ts) > 1 else pd.Timedelta(hours=1)
        keys = np.clip(np.asarray((ts[pos] - uplift.start) // step, dtype=int), 0, len(uplift.profile) - 1)
    else:
        keys = np.asarray(ts[pos].hour, dtype=int) % len(uplift.profile)
    level = np.log(np.asarray(uplift.profile))[keys]
    sd = np.asarray(uplift.log_sd)[keys]
    n = paths.shape[0] if paths.ndim == 2 else 0
    z = rng.standard_normal(n)  # one draw per path: an event's level is shared by its hours
    frame = frame.copy()
    paths = paths.copy()
    if n:
        scaled = paths[:, pos] * np.exp(level)[None, :]
        drawn = paths[:, pos] * np.exp(level[None, :] + sd[None, :] * z[:, None])
        extra_mean = drawn.mean(axis=0) - scaled.mean(axis=0)
        extra_q = np.quantile(drawn, quantiles, axis=0) - np.quantile(scaled, quantiles, axis=0)
        paths[:, pos] = drawn
    else:
        extra_mean = np.zeros(len(pos))
        extra_q = np.zeros((len(quantiles), len(pos)))
    factor = np.exp(level)
    rows = frame.index[pos]
    frame.loc[rows, MEAN] = frame.loc[rows, MEAN].to_numpy(dtype="float64") * factor + extra_mean
    qcols = [quantile_column(q) for q in quantiles]
    present = [i for i, c in enumerate(qcols) if c in frame.columns]
    if present:
        block = np.vstack(
            [frame.loc[rows, qcols[i]].to_numpy(dtype="float64") * factor + extra_q[i] for i in present]
        )
        block = np.sort(block, axis=0)  # keep quantiles monotone after adding the uplift spread
        for row_i, i in enumerate(present):
            frame.loc[rows, qcols[i]] = block[row_i]
    return frame, paths


def upcoming_occurrences(
    calendar: Iterable[EventOccurrence], start: pd.Timestamp, end: pd.Timestamp
) -> tuple[EventOccurrence, ...]:
    """Occurrences that overlap ``[start, end)``, sorted by start."""
    return tuple(sorted((e for e in calendar if e.start < end and e.end > start), key=lambda e: e.start))


def apply_uplift(
    frame: pd.DataFrame,
    paths: np.ndarray,
    history: pd.Series,
    calendar: Sequence[EventOccurrence],
    quantiles: Sequence[float],
    settings: UpliftSettings | None = None,
) -> tuple[pd.DataFrame, np.ndarray, tuple[str, ...]]:
    """Apply every upcoming occurrence's uplift to a forecast's frame and sample paths; returns new ones.

    It takes the frame and paths rather than the whole ``ForecastResult`` so that the calendar and its uplifts
    sit below the forecast pipeline that applies them (no import cycle between the two packages).

    Args:
        frame: the engine's forecast frame (``ts``, ``mean``, quantile columns).
        paths: its sample paths, shape ``(n_paths, horizon)``.
        history: the regularized history the forecast was made from.
        calendar: the events that apply to this series (past and upcoming).
        quantiles: the quantile levels of ``result.frame``.
        settings: learning settings.

    Where occurrences overlap, each step takes the uplift of the shortest occurrence (with a known uplift) that
    covers it.

    Returns:
        The frame and paths with mean, quantiles and paths uplifted inside each occurrence (new objects; the
        arguments are not changed), and one ``uplift:`` diagnostic line per upcoming occurrence saying which
        uplift was used (``unknown`` when none could be); no lines, and the arguments as they are, when no
        occurrence falls in the forecast.
    """
    settings = settings or UpliftSettings()
    if not calendar or len(frame) == 0:
        return frame, paths, ()
    ts = pd.DatetimeIndex(frame[TS])
    step = ts[1] - ts[0] if len(ts) > 1 else pd.Timedelta(hours=1)
    upcoming = upcoming_occurrences(calendar, ts[0], ts[-1] + step)
    if not upcoming:
        return frame, paths, ()
    rng = np.random.default_rng(settings.seed)
    uplifts = [learn_uplift(history, occ, calendar, settings) for occ in upcoming]
    # Where occurrences overlap (Cyber Monday inside a Black Friday weekend) the shortest known one owns the step:
    # its uplift is measured against a normal day too, so multiplying both would count the overlap twice.
    owner = np.full(len(ts), -1)
    span = np.full(len(ts), np.inf)
    for i, u in enumerate(uplifts):
        if u.source == UNKNOWN:
            continue
        inside = np.asarray((ts >= u.start) & (ts < u.end))
        length = (u.end - u.start).total_seconds()
        take = inside & (length < span)
        owner[take], span[take] = i, length
    for i, uplift in enumerate(uplifts):
        frame, paths = _apply_one(frame, paths, uplift, owner == i, rng, quantiles)
    return frame, paths, tuple(format_diagnostic(u) for u in uplifts)


def unknown_events(
    uplifts: Iterable[Uplift], start: pd.Timestamp | None, end: pd.Timestamp | None
) -> tuple[str, ...]:
    """Names of the unknown-uplift occurrences that overlap ``[start, end)`` (None = unbounded)."""
    out = []
    for u in uplifts:
        if u.source != UNKNOWN:
            continue
        if end is not None and u.start >= end:
            continue
        if start is not None and u.end <= start:
            continue
        if u.event not in out:
            out.append(u.event)
    return tuple(out)
