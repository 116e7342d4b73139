"""What a risk row may claim from the history behind it, and the notes that say why.

Pure: a history span, a history maximum, a unit and the row's numbers in; a status override or a note out.

**Short histories.** Under :data:`MIN_HISTORY` (two days) the engine sees no daily cycle (it needs two to find
one), its backtest covers a handful of steps, and the window's intervals are extrapolated from those few errors:
real series cut to 6 hours or 1 day gave p95 peaks of 10 to 20 times the history's maximum and breach probabilities
of 90-100 % ("breach likely") on thresholds the next week never reached, while 2 days gave 0-14 % on the same
series. Such a row says ``unknown`` with how much history there is and how much is needed, and shows no
probability, peak or headroom: numbers that are only the extrapolation would contradict the status. One exception:
when the history already reached the threshold, the row is ``breach likely`` (a day like the one seen will come
again) and the note names the value and the time.

**Two days to four weeks.** Too few past weeks for the seasonal analogs: the probability is the breach model's
paths part (the forecast's crossing share recalibrated against the recent peak, as with ``analog_weight`` 0), not
the raw share, shrunk towards how often the history's own days reached the threshold
(:func:`capacity.risk.probability.young_probability`). On histories of 3, 7 and 14 days cut before the breach benchmark's last 3 cutoffs (real/ 45
cases per length, real-vms/ 216; 7-day windows, thresholds 0.9-1.1 x the 28-day maximum) the raw share scored a
Brier of 0.25-0.36 (at 1.1 x: mean 0.31-0.48 where 5 % breached), the recalibrated one 0.12-0.17 (0.08-0.10);
its three constants refitted on one folder's short cuts and scored on the other: 0.161 on real-vms/ (shipped
0.165) and 0.146 on real/ (shipped 0.123). The shrinkage towards the days' record (one constant,
:data:`~capacity.risk.probability.RECORD_PRIOR_DAYS`) chosen on real-vms/ (29.9 days) scores 0.116 on real/ where
the paths part alone scored 0.123, and chosen on real/ (20.8) 0.160 on real-vms/ (0.165); at 0.9 x the mean
probability moves from 0.56 to 0.64 on real/ (observed 0.73) and 0.48 to 0.53 on real-vms/ (0.65): still low, as a
level above everything a few days showed stays low.

**A threshold the last day already reached.** Whatever the history's length, a row whose last day of history
reached the threshold is ``breach likely`` (:func:`recent_reach_note` gives the measured reason).

**Percent metrics past 100.** A forecast (or a planner's uplift) can carry a percent metric's peak over 100: the
demand beyond saturation, which the metric itself can never show. The numbers are kept (the instances to add are
sized from them) and a note says so, never a silent clip.
"""

from __future__ import annotations

import pandas as pd

from capacity.schema import PERCENT

BREACH_LIKELY = "breach likely"
AT_RISK = "at risk"
OK = "ok"
UNKNOWN = "unknown"
STATUSES = (BREACH_LIKELY, AT_RISK, OK, UNKNOWN)

#: The least history before the forecast's start for a breach probability: two days, the span in which the
#: engine can find a daily cycle (under it the forecast is a naive level with intervals extrapolated from a few
#: steps of backtest).
MIN_HISTORY = pd.Timedelta(days=2)
#: From this much history on, the breach probability also reads the series' own past weeks (seasonal analogs).
ANALOG_HISTORY = pd.Timedelta(days=28)


def describe_span(span: pd.Timedelta) -> str:
    """A history span as a person says it: ``45 minutes``, ``6 hours``, ``1.5 days``."""
    hours = span / pd.Timedelta(hours=1)
    if hours < 1:
        return f"{span / pd.Timedelta(minutes=1):.0f} minutes"
    if hours < 48:
        return f"{hours:.0f} hour{'s' if round(hours) != 1 else ''}"
    return f"{hours / 24:.3g} days"


def short_history(span: pd.Timedelta | None) -> bool:
    """True when a series' history before its forecast is too short for a breach probability."""
    return span is not None and span < MIN_HISTORY


def short_history_note(span: pd.Timedelta, what: str = "a breach probability") -> str:
    """Why a short history gets no probability: how much there is, how much is needed, and what to do."""
    return (
        f"history of {describe_span(span)} before the forecast: {what} needs at least "
        f"{describe_span(MIN_HISTORY)} (the span in which a daily cycle can be seen; with less, the window's "
        "intervals are extrapolated from a few steps); load more history"
    )


def reached_note(span: pd.Timedelta, peak: float, at: pd.Timestamp | None, threshold: float) -> str:
    """The note of a short history that already reached its threshold."""
    when = f" at {at:%Y-%m-%d %H:%M}" if at is not None else ""
    return (
        f"the history already reached the threshold: {peak:.4g}{when} against {threshold:.4g}, in "
        f"{describe_span(span)} of history (too short for a breach probability: "
        f"at least {describe_span(MIN_HISTORY)})"
    )


def recent_reach_note(peak: float, at: pd.Timestamp | None, probability: float) -> str:
    """Why a row is ``breach likely`` under the cut-off: the last day of history already reached the threshold.

    On the breach benchmark (7-day windows, thresholds 0.9-1.1 x the last 28 days' maximum, 6 folds), 46 of the 52
    windows after a last day over the threshold breached (real/: 14 of 16, real-vms/: 32 of 36), and the probability
    was under 0.5 in one of them; a level that rose days before the forecast's start (a deploy, a new customer)
    is where it is: its past weeks stayed lower, and a probability that weighs them says "at risk".
    """
    when = f" at {at:%Y-%m-%d %H:%M}" if at is not None else ""
    return (
        f"the last day of history already reached the threshold ({peak:.4g}{when}): breach likely, though the "
        f"probability ({probability:.0%}) weighs past weeks that stayed lower (a recent level change?)"
    )


def short_history_status(
    span: pd.Timedelta, last_day_max: tuple[float, pd.Timestamp | None] | None, threshold: float
) -> tuple[str, str]:
    """The status and note of a history too short for a probability: ``unknown`` with the reason, or ``breach
    likely`` when the history already reached the threshold."""
    if last_day_max is not None and last_day_max[0] >= threshold:
        return BREACH_LIKELY, reached_note(span, last_day_max[0], last_day_max[1], threshold)
    return UNKNOWN, short_history_note(span)


def disagreement_note(
    probability: float, p50: float, p95: float, threshold: float, likely: float
) -> str | None:
    """A note when the probability and the window's peak quantiles shown beside it disagree about the cut-off.

    The peaks are the forecast's sample paths' window maxima (:mod:`capacity.risk.peaks`); from four weeks of
    history the probability also weighs the series' own past weeks. After a level change the two part ways: a
    real VM's series with its last two days halved (a simulated drop) read a 1 % probability beside a peak p50 14 %
    over the threshold (the paths' tails still scaled by the errors of the higher level). Neither is changed here; the row
    says they disagree instead of showing two answers silently.
    """
    if probability < likely <= 0.5 and p50 >= threshold:
        return (
            f"the forecast's window peak p50 ({p50:.4g}) is over the threshold but the probability "
            f"({probability:.0%}), which also weighs the series' past weeks, is not: the forecast and the history "
            "disagree (a recent level change?); see the chart"
        )
    if probability >= likely >= 0.05 and p95 < threshold:
        return (
            f"the probability ({probability:.0%}) rests on the series' past weeks: the forecast's window peak p95 "
            f"({p95:.4g}) stays under the threshold; see the chart"
        )
    return None


def analogs_note(span: pd.Timedelta) -> str:
    """A note on a history long enough for a probability but too short for the series' own past weeks."""
    return (
        f"history of {describe_span(span)}: the probability is the forecast's sample paths recalibrated against "
        "the recent peak and weighed with how often the history's own days reached the threshold (the series' own "
        f"past weeks are read from {ANALOG_HISTORY.days} days of history)"
    )


def over_saturation_note(unit: str | None, metric: str, p50: float | None, p95: float | None) -> str | None:
    """A note when a percent metric's forecast peak passes 100; None otherwise (or for other units)."""
    if unit != PERCENT or p95 is None or not p95 > 100.0:
        return None
    median = f"p50 {p50:.1f}%, " if p50 is not None else ""
    return (
        f"{metric} is a percent and its forecast peak passes 100% ({median}p95 {p95:.1f}%): the demand beyond "
        "saturation, which the metric cannot show; the instances to add are sized from it"
    )


def status_counts(frame: pd.DataFrame) -> dict[str, int]:
    """How many series have each status, in the order of :data:`STATUSES`."""
    counts = frame["status"].value_counts() if len(frame) else pd.Series(dtype=int)
    return {s: int(counts.get(s, 0)) for s in STATUSES}
