"""Breach risk: will a series cross its threshold in a window, when first, how high, and what capacity to add.

Pure: forecasts (frame + sample paths), thresholds and a window in; frozen dataclasses and a ranked frame out.

The breach probability counts a crossing at *any* step of the window. With the series' seasonal analogs and recent
profile (its last weeks, same weekday and hour, and its recent peak) it is :mod:`capacity.risk.probability`'s
fitted blend of what the history says about how high a window's maximum goes and the recalibrated share of the
forecast's sample paths that cross: the paths alone overstate a week's maximum and ranked weeks worse than the
series' own past did (see that module). Without them (a series with under four weeks of history before the window, or
a window holding an uplifted event, whose past weeks describe normal weeks) it is the share of sample paths whose
maximum over the window reaches the threshold. Over a window of four weeks or more of a long-range forecast whose
weekly peaks carry their sample paths, it is instead the share of those weekly-peak paths whose maximum over the
window's weeks reaches the threshold (:func:`capacity.risk.peaks.weekly_breach_curve`): the same weeks and paths
as the peak quantiles shown and as ``capacity plan``'s crossing probability, and on the long-window breach benchmark
better than the blend at 30 days (docs/benchmarks.md). Each is passed through a monotone calibration map (:class:`RiskSettings`
``calibration_*``), which keeps the two invariants a planner relies on: the probability never falls when the
threshold falls, and never falls when the window grows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from capacity.errors import InvalidConfig, describe_value
from capacity.forecast.types import PeakForecast
from capacity.risk.crossing import calibrate, crossing_curve, quantile_exceedance
from capacity.risk.peaks import (
    LONG_WINDOW,
    first_crossings,
    first_likely_breach,
    upper_band,
    weekly_breach_curve,
    window_peak,
)
from capacity.risk.probability import (
    DEFAULT_MODEL,
    MIN_ANALOGS,
    BreachModel,
    RecentProfile,
    breach_curve,
    young_probability,
)
from capacity.risk.ranking import RISK_COLUMNS, SeriesRisk, rank
from capacity.risk.sizing import instances_needed
from capacity.risk.status import (
    ANALOG_HISTORY,
    AT_RISK,
    BREACH_LIKELY,
    OK,
    STATUSES,
    UNKNOWN,
    analogs_note,
    disagreement_note,
    over_saturation_note,
    recent_reach_note,
    short_history,
    short_history_note,
    short_history_status,
    status_counts,
)
from capacity.schema import TS, unit_for

# defined in status.py, ranking.py and sizing.py, imported from here by the services, the CLI and the API
__all__ = [
    "AT_RISK",
    "BREACH_LIKELY",
    "OK",
    "RISK_COLUMNS",
    "STATUSES",
    "UNKNOWN",
    "SeriesRisk",
    "instances_needed",
    "rank",
    "status_counts",
]


def _setting(default: float, help_text: str) -> float:
    return field(default=default, metadata={"help": help_text})


@dataclass(frozen=True)
class RiskSettings:
    """The cut-offs and margins of a risk run; each field's help text is in ``SETTINGS_HELP``."""

    breach_likely: float = _setting(0.5, "breach probability at or above which a series is 'breach likely'")
    at_risk: float = _setting(0.1, "breach probability at or above which a series is 'at risk'")
    min_headroom_pct: float = _setting(
        10.0, "a series whose headroom (threshold minus p95 peak) is below this percent is at least 'at risk'"
    )
    risk_level: float = _setting(
        0.5,
        "the first likely breach is the earliest step, once the cumulative crossing probability has reached this, "
        "at which the forecast's upper band (q0.975) reaches the threshold",
    )
    margin: float = _setting(
        0.1, "capacity margin: instances are sized so that the p95 peak x (1 + margin) stays under the limit"
    )
    analog_weight: float = _setting(
        DEFAULT_MODEL.history_weight,
        "weight of the series' own history (its recent peak and same weekday-and-hour past weeks) against the "
        "forecast's sample paths in the breach probability; 0 uses the recalibrated sample paths alone",
    )
    analog_weeks: float = _setting(
        12,
        "how many past weeks (same weekday and hour) serve as seasonal analogs, when the history holds them",
    )
    calibration_a: float = _setting(0.0, "calibration intercept on the logit scale (0 = none)")
    calibration_b: float = _setting(1.0, "calibration slope on the logit scale (1 = none; must be > 0)")

    def __post_init__(self) -> None:
        for name in ("breach_likely", "at_risk", "risk_level"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise InvalidConfig(f"{name} must be in (0, 1], got {describe_value(value)}", field=name)
        if self.at_risk > self.breach_likely:
            raise InvalidConfig(
                f"at_risk ({self.at_risk}) must not exceed breach_likely ({self.breach_likely})",
                field="at_risk",
            )
        if not 0.0 <= self.analog_weight <= 1.0:
            raise InvalidConfig(
                f"analog_weight must be in [0, 1], got {describe_value(self.analog_weight)}",
                field="analog_weight",
            )
        if not (1 <= self.analog_weeks <= 104 and float(self.analog_weeks).is_integer()):
            raise InvalidConfig(
                f"analog_weeks must be a whole number in [1, 104], got {describe_value(self.analog_weeks)}",
                field="analog_weeks",
            )
        if not 0.0 <= self.margin < 10.0:
            raise InvalidConfig(
                f"margin must be in [0, 10), got {describe_value(self.margin)}", field="margin"
            )
        if not self.calibration_b > 0.0:
            raise InvalidConfig(
                f"calibration_b must be > 0 (a monotone map), got {describe_value(self.calibration_b)}",
                field="calibration_b",
            )


#: Every setting with its default and help text, in one table (for ``--help``, the README and the API).
SETTINGS_HELP: dict[str, tuple[float, str]] = {
    f.name: (f.default, f.metadata["help"])  # type: ignore[misc]
    for f in fields(RiskSettings)
}


@dataclass(frozen=True)
class RiskWindow:
    """The window a risk is assessed over: from ``start`` (None = the forecast's first step) until ``end``.

    Attributes:
        end: exclusive end of the window (UTC), or None for the whole forecast horizon.
        start: first instant of the window, or None for the forecast start.
        label: how the window was chosen, e.g. ``until end of Black Friday (2026-11-28 00:00)``.
        event: the event name when the window is an event's, else None.
        event_start: the event occurrence's start (for shading charts), when the window is an event's.
    """

    end: pd.Timestamp | None = None
    start: pd.Timestamp | None = None
    label: str = "forecast horizon"
    event: str | None = None
    event_start: pd.Timestamp | None = None


@dataclass(frozen=True)
class RiskInput:
    """One series to assess: its forecast and what the planner declared.

    Attributes:
        service: service name.
        metric: metric name.
        threshold: scaling threshold in the metric's unit, None when unknown.
        frame: forecast frame (``ts``, ``mean``, quantile columns), or None when the series has no forecast.
        paths: sample paths ``(n_paths, horizon)`` aligned with ``frame``, or None.
        instances: current instance count, when known.
        instance_capacity: what one instance serves in the metric's unit, when known.
        unknown_uplift: events in the window whose uplift could not be learned nor was given.
        notes: extra notes carried into the result (e.g. which uplift was used).
        analogs: seasonal analog paths ``(k, horizon)`` aligned with ``frame`` (see :func:`seasonal_analogs`), or
            None; with ``recent``, the history part of the breach probability (``RiskSettings.analog_weight``).
        recent: the series' recent peak profile (:func:`capacity.risk.probability.recent_profile`), or None.
        peaks: a long-range forecast's calibrated weekly peaks (:class:`~capacity.forecast.types.PeakForecast`),
            or None; when given, the window's peak quantiles come from them (:func:`capacity.risk.peaks.window_peak`).
        unit: the metric's unit as stored at ingest (a percent gets a note past 100), None to read the name.
        history_span: how much history lies before the forecast's start, when known (under two days: no
            probability, see :mod:`capacity.risk.status`).
        last_day_max: the highest (regularized) value of the day before the forecast's start and when it was, when
            known: a history that already reached the threshold is never shown as unknown or under a low status
            without a word.
    """

    service: str
    metric: str
    threshold: float | None
    frame: pd.DataFrame | None
    paths: np.ndarray | None = None
    instances: int | None = None
    instance_capacity: float | None = None
    unknown_uplift: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    analogs: np.ndarray | None = None
    recent: RecentProfile | None = None
    peaks: PeakForecast | None = None
    unit: str | None = None
    history_span: pd.Timedelta | None = None
    last_day_max: tuple[float, pd.Timestamp | None] | None = None


def window_mask(ts: pd.Series | pd.DatetimeIndex, window: RiskWindow) -> np.ndarray:
    """Which forecast steps lie in the window (``start <= ts < end``)."""
    idx = pd.DatetimeIndex(ts)
    mask = np.ones(len(idx), dtype=bool)
    if window.start is not None:
        mask &= np.asarray(idx >= window.start)
    if window.end is not None:
        mask &= np.asarray(idx < window.end)
    return mask


def assess(
    item: RiskInput,
    window: RiskWindow,
    settings: RiskSettings | None = None,
    model: BreachModel = DEFAULT_MODEL,
) -> SeriesRisk:
    """The risk of one series over ``window``.

    Args:
        item: the series' forecast and declared threshold/capacity.
        window: the window to assess.
        settings: cut-offs, margin and calibration.
        model: the breach probability's fitted constants (the shipped ones unless a benchmark refits them).

    Returns:
        A :class:`SeriesRisk`; status ``unknown`` (with a note saying why) when there is no threshold, no
        forecast, no forecast step in the window, or an event in the window has an unknown uplift and the breach
        is not likely anyway (a probability at the cut-off stays ``breach likely``, with the note). The peak
        quantiles and the first likely breach come from :mod:`capacity.risk.peaks`, which the chart uses too.
    """
    settings = settings or RiskSettings()
    base: dict[str, Any] = {"service": item.service, "metric": item.metric, "threshold": item.threshold}
    notes = list(item.notes)
    if item.frame is None or len(item.frame) == 0:
        if short_history(item.history_span):
            assert item.history_span is not None
            notes.append(short_history_note(item.history_span))
        return SeriesRisk(**base, status=UNKNOWN, note="; ".join([*notes, "no forecast"]))
    ts = pd.DatetimeIndex(item.frame[TS])
    mask = window_mask(ts, window)
    if not mask.any():
        return SeriesRisk(
            **base, status=UNKNOWN, note="; ".join([*notes, "the forecast does not reach the window"])
        )
    wts = ts[mask]
    partial = (
        window.end is not None and ts[-1] + (ts[-1] - ts[-2] if len(ts) > 1 else pd.Timedelta(0)) < window.end
    )
    if partial:
        notes.append(f"forecast covers the window only until {ts[-1]:%Y-%m-%d %H:%M}")
    paths = item.paths
    use_paths = paths is not None and paths.ndim == 2 and paths.shape[1] == len(ts) and paths.shape[0] > 0
    wpaths = paths[:, mask] if use_paths and paths is not None else None
    wframe = item.frame.loc[mask]
    if not use_paths:
        notes.append("no sample paths: peak and probability from quantiles (probability is a lower bound)")
    peak = window_peak(wts, wframe, wpaths, item.peaks)
    p50, p90, p95 = peak.p50, peak.p90, peak.p95
    out: dict[str, Any] = {
        **base,
        "peak_p50": p50,
        "peak_p90": p90,
        "peak_p95": p95,
        "peak_at": peak.at,
        "instances": item.instances,
        "window_start": wts[0],
        "window_end": window.end if window.end is not None else wts[-1],
    }
    if item.threshold is None:
        return SeriesRisk(**out, status=UNKNOWN, note="; ".join([*notes, "no threshold"]))
    threshold = float(item.threshold)
    if item.history_span is not None and short_history(item.history_span):
        # Numbers that are only the extrapolation of a few steps would contradict the status: none are shown.
        status, why = short_history_status(item.history_span, item.last_day_max, threshold)
        kept = {k: v for k, v in out.items() if not k.startswith("peak_")}
        return SeriesRisk(**kept, status=status, note="; ".join([*notes, why]))
    analogs = item.analogs
    use_history = (
        item.recent is not None
        and threshold > 0
        and analogs is not None
        and analogs.ndim == 2
        and analogs.shape[0] >= MIN_ANALOGS
        and analogs.shape[1] == len(ts)
    )
    band = upper_band(wframe, wpaths)
    step = ts[1] - ts[0] if len(ts) > 1 else pd.Timedelta(0)
    long = item.peaks is not None and wts[-1] + step - wts[0] >= LONG_WINDOW
    # a long window: the weekly peak paths behind the peaks shown (and the plan), not the short-window blend
    weekly = weekly_breach_curve(wts, item.peaks, threshold) if long and item.peaks is not None else None
    if wpaths is not None:
        if weekly is not None:
            raw = weekly
        elif use_history:
            assert analogs is not None and item.recent is not None
            raw = breach_curve(
                wpaths, analogs[:, mask], item.recent, threshold, model, settings.analog_weight
            )
        elif item.recent is not None and threshold > 0:
            # Under four weeks of history (too few past weeks): the paths part shrunk towards how often the
            # series' own days reached the threshold (see capacity.risk.status, short histories).
            raw = np.maximum.accumulate(
                young_probability(wpaths, item.recent, threshold, step / pd.Timedelta(days=1), model)
            )
        else:
            raw = crossing_curve(wpaths, threshold)
        exceedance = (wpaths >= threshold).mean(axis=0)
        first_steps, crossed = first_crossings(wpaths, band, threshold)
    else:
        exceedance = quantile_exceedance(wframe, threshold)
        raw = np.maximum.accumulate(exceedance) if weekly is None else weekly
        first_steps, crossed = np.zeros(0, dtype=int), np.zeros(0, dtype=bool)
    curve = calibrate(raw, settings)
    prob = float(curve[-1])
    first = early = late = None
    at = first_likely_breach(curve, band, exceedance, threshold, settings.risk_level)
    if at is not None:
        first = wts[at]
        if crossed.any():
            lo, hi = np.quantile(first_steps[crossed], [0.1, 0.9])
            early, late = min(first, wts[math.floor(lo)]), max(first, wts[math.ceil(hi)])
    headroom = threshold - p95
    needed = instances_needed(
        p95,
        metric=item.metric,
        threshold=threshold,
        instances=item.instances,
        instance_capacity=item.instance_capacity,
        margin=settings.margin,
    )
    to_add = max(0, needed - item.instances) if needed is not None and item.instances is not None else None
    headroom_pct = 100.0 * headroom / threshold if threshold > 0 else None
    paths_alone = not use_history and weekly is None and item.recent is not None
    if (
        saturated := over_saturation_note(item.unit or unit_for(item.metric), item.metric, p50, p95)
    ) is not None:
        notes.append(saturated)
    if paths_alone and item.history_span is not None and item.history_span < ANALOG_HISTORY:
        notes.append(analogs_note(item.history_span))
    if item.unknown_uplift:
        notes.append(
            f"unknown uplift for {', '.join(item.unknown_uplift)}: no past occurrence, no learned event to pool and "
            "no planner band; the probability shown assumes a normal day"
            + (" (a lower bound)" if prob < settings.breach_likely else "")
        )
    if (split := disagreement_note(prob, p50, p95, threshold, settings.breach_likely)) is not None:
        notes.append(split)
    reached = item.last_day_max is not None and item.last_day_max[0] >= threshold
    if reached and prob < settings.breach_likely:
        assert item.last_day_max is not None
        notes.append(recent_reach_note(*item.last_day_max, prob))
    if prob >= settings.breach_likely or reached:
        # Whatever is unknown about an event's uplift, a likely breach on a normal day's assumption stays likely;
        # and a threshold the last day already reached is likely reached again (see capacity.risk.status).
        status = BREACH_LIKELY
    elif item.unknown_uplift:
        status = UNKNOWN  # below the cut-off, but the probability is only a lower bound
    elif prob >= settings.at_risk or (headroom_pct is not None and headroom_pct < settings.min_headroom_pct):
        status = AT_RISK
    elif partial:
        status = (
            UNKNOWN  # nothing crosses as far as the forecast reaches, but it stops short of the window's end
        )
    else:
        status = OK
    return SeriesRisk(
        **out,
        status=status,
        breach_probability=prob,
        first_breach=first,
        first_breach_early=early,
        first_breach_late=late,
        headroom=headroom,
        headroom_pct=headroom_pct,
        instances_needed=needed,
        instances_to_add=to_add,
        note="; ".join(notes),
    )


def fleet_risks(
    items: Iterable[RiskInput], window: RiskWindow, settings: RiskSettings | None = None
) -> pd.DataFrame:
    """Assess every series over one window and rank them (see :func:`rank` for the order).

    Args:
        items: the series to assess.
        window: the shared window.
        settings: cut-offs, margin and calibration.

    Returns:
        One row per series with the columns of :data:`RISK_COLUMNS`.
    """
    settings = settings or RiskSettings()
    return rank([assess(item, window, settings) for item in items])
