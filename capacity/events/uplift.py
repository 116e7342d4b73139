"""Peak-event uplift: learned from an event's past occurrences, applied to its upcoming one.

For each upcoming occurrence of an event inside the forecast horizon:

1. **Learn.** Every past occurrence of the same event in the series' own regularized history gives a ratio profile
   by hour of day: the observed value over a "normal day" counterfactual (the balanced baseline of
   :mod:`capacity.events.baseline`: the same hour one to three weeks before and after, skipping hours that fall in
   any event window). The event's level (the mean log ratio of its occurrences) is shrunk towards the calendar's
   pooled prior (:mod:`capacity.events.prior`: what every learned event of the series says), more so the fewer its
   occurrences and the more occurrences of an event disagree from year to year; the hour-of-day shape around the
   level is shrunk against a normal day's hour-to-hour noise. The next occurrence's log sd is at least the
   calendar's occurrence-to-occurrence spread, so a single past day never becomes a certainty.
2. **Or take the planner's band.** When the occurrence carries a planner multiplier band (``multiplier_low`` ..
   ``multiplier_high``) it is used instead (read as an 80% interval of a log-normal multiplier); the learned
   hour-of-day shape, when there is one, spreads it over the day with the same mean.
3. **Or assume the prior.** With no past occurrence and no band, the calendar's pooled prior is applied (level and
   spread), recorded as ``prior`` so the risk table says the uplift is assumed.
4. **Or say it is unknown.** With nothing learned anywhere in the calendar either, nothing is applied and the result
   records an ``unknown`` uplift, which the risk ranking reports as such (never as a normal day).

The uplift multiplies the sample paths in the window, each path drawing one uplift level (an event's level is
shared by its hours), so the intervals widen by the uplift's uncertainty. The mean is the engine's times the
log-normal multiplier's expectation (exact, so the point forecast carries no sampling noise); the quantiles are the
engine's, scaled, plus the extra spread the drawn levels add to the paths. Pure: no I/O.

Which uplift was used is written into the result's diagnostics as one ``uplift:`` line per occurrence
(:func:`format_diagnostic`); :func:`parse_diagnostics` reads them back from a stored forecast.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from capacity.events.baseline import (
    baseline_logs,
    hour_profile,
    in_windows,
    level_noise,
    occurrence_logs,
    shape_noise,
    smooth,
)
from capacity.events.calendar import EventOccurrence
from capacity.events.prior import EventPrior, event_levels, pooled_prior
from capacity.events.record import HOUR, LEARNED, OFFSET, PLANNER, PRIOR, UNKNOWN, Uplift, format_diagnostic
from capacity.schema import MEAN, TS, quantile_column

#: z of the 90th percentile: a planner band [low, high] is read as the 10%..90% range of the multiplier.
_Z80 = 1.2815515655446004


@dataclass(frozen=True)
class UpliftSettings:
    """How uplifts are learned.

    Attributes:
        baseline_weeks: weeks before and after an occurrence whose same hours make its normal-day baseline.
        min_coverage: share of an occurrence's hours that must have a baseline for it to count.
        smooth_hours: half-width (hours) of the circular moving average over the hour-of-day profile.
        seed: seed of the per-path uplift draws.
    """

    baseline_weeks: int = 3
    min_coverage: float = 0.5
    smooth_hours: int = 1
    seed: int = 7


def _learned(
    occurrence: EventOccurrence,
    used: Sequence[tuple[EventOccurrence, tuple[np.ndarray, np.ndarray, np.ndarray]]],
    prior: EventPrior,
    shape_sd: float,
    step: pd.Timedelta,
    settings: UpliftSettings,
) -> Uplift:
    """The uplift learned from the covered past occurrences ``used``, shrunk towards ``prior``."""
    # Shape by step of the event when every occurrence spans the same steps from the same hour (then day 2 of a
    # weekend event gets its own profile); otherwise by hour of day.
    length = int((occurrence.end - occurrence.start) / step)
    by_offset = all(
        int((o.end - o.start) / step) == length and o.start.hour == occurrence.start.hour for o, _ in used
    )
    size = length if by_offset else 24
    stack = np.vstack([hour_profile(got[0] if by_offset else got[1], got[2], size) for _, got in used])
    # Fill steps an occurrence did not cover from its own mean, so the average is over the same steps.
    for row in stack:
        row[~np.isfinite(row)] = np.nanmean(row)
    k = len(used)
    mean_log = smooth(stack.mean(axis=0), settings.smooth_hours, circular=not by_offset)
    levels = [float(got[2].mean()) for _, got in used]
    shrunk, sd, _ = prior.shrink(levels)
    # The shape around the level is shrunk (positive-part James-Stein) against the within-day noise of one hour.
    shape = mean_log - mean_log.mean()
    signal = float(np.mean(shape**2))
    keep_shape = max(0.0, 1.0 - shape_sd**2 / k / signal) if signal > 0 else 0.0
    profile = np.exp(shrunk + keep_shape * shape)
    return Uplift(
        event=occurrence.name,
        start=occurrence.start,
        end=occurrence.end,
        source=LEARNED,
        occurrences=k,
        profile=tuple(float(v) for v in profile),
        log_sd=tuple(sd for _ in profile),
        multiplier=float(profile.max()),
        by=OFFSET if by_offset else HOUR,
        raw=math.exp(float(np.mean(levels))),
        prior=math.exp(prior.mean),
        prior_events=prior.events,
    )


def _planner(occurrence: EventOccurrence, learned: Uplift | None) -> Uplift:
    """The planner's band as an uplift, spread over the day by the learned shape when there is one."""
    low = float(occurrence.multiplier_low)  # type: ignore[arg-type]
    high = float(occurrence.multiplier_high if occurrence.multiplier_high is not None else low)
    # In logs: low * high underflows to 0 (and high / low overflows) for a multiplier near the smallest float.
    log_low, log_high = math.log(low), math.log(high)
    center = (log_low + log_high) / 2.0
    band_sd = (log_high - log_low) / (2.0 * _Z80)
    shaped = learned is not None and learned.source == LEARNED
    if shaped:
        assert learned is not None
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
        by=learned.by if shaped and learned is not None else HOUR,
    )


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
        calendar: the whole calendar (past occurrences of every event are kept out of the baselines and make the
            pooled prior).
        settings: learning settings.

    Returns:
        An :class:`Uplift`; ``source`` is ``planner`` when the occurrence carries a multiplier band, ``learned``
        when at least one past occurrence is covered by history, ``prior`` when none is but other events of the
        calendar were learned, else ``unknown``.
    """
    settings = settings or UpliftSettings()
    y = history.sort_index()
    learned: Uplift | None = None
    if len(y) > 1:
        index = pd.DatetimeIndex(y.index)
        step = index[1] - index[0]
        end = index[-1] + step
        blocked = in_windows(index, calendar)
        values = y.to_numpy(dtype="float64")
        scale = float(np.nanmean(np.abs(values))) or 1.0
        floor = max(1e-9, 0.01 * scale)
        per_week = int(pd.Timedelta(days=7) / step)
        logs = baseline_logs(values, blocked, per_week, settings.baseline_weeks, floor)
        prior = pooled_prior(
            event_levels(index, logs, calendar, end, settings.min_coverage, occurrence.service),
            level_noise(index, logs, blocked),
        )
        past = [
            e
            for e in calendar
            if e.name.lower() == occurrence.name.lower()
            and e.end <= end
            and e.start < occurrence.start
            and (occurrence.service is None or e.applies_to(occurrence.service))
        ]
        used = [
            (occ, got) for occ in past if (got := occurrence_logs(index, logs, occ, settings.min_coverage))
        ]
        if used and prior is not None:
            learned = _learned(occurrence, used, prior, shape_noise(index, logs, blocked), step, settings)
        elif prior is not None:
            profile = np.full(24, math.exp(prior.mean))
            learned = Uplift(
                event=occurrence.name,
                start=occurrence.start,
                end=occurrence.end,
                source=PRIOR,
                profile=tuple(float(v) for v in profile),
                log_sd=tuple(prior.spread for _ in profile),
                multiplier=float(profile.max()),
                prior=math.exp(prior.mean),
                prior_events=prior.events,
            )
    if occurrence.has_multiplier:
        return _planner(occurrence, learned)
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
        extra_q = np.quantile(drawn, quantiles, axis=0) - np.quantile(scaled, quantiles, axis=0)
        paths[:, pos] = drawn
    else:
        extra_q = np.zeros((len(quantiles), len(pos)))
    factor = np.exp(level)
    rows = frame.index[pos]
    # The expectation of a log-normal multiplier, exactly: the mean of the drawn paths would put sampling noise
    # into the point forecast (a 1-2 % wobble per step with 100 paths and a 0.15 log sd).
    frame.loc[rows, MEAN] = frame.loc[rows, MEAN].to_numpy(dtype="float64") * factor * np.exp(0.5 * sd**2)
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
