"""What a risk row may claim from the history behind it: short histories, a threshold the last day reached, a percent
metric's peak past 100 (pure :func:`capacity.risk.assess.assess`)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from capacity.risk.assess import AT_RISK, BREACH_LIKELY, OK, UNKNOWN, RiskInput, RiskWindow, assess, rank
from capacity.risk.probability import recent_profile
from capacity.risk.status import MIN_HISTORY, describe_span
from capacity.schema import DEFAULT_QUANTILES, MEAN, TS, quantile_column

START = pd.Timestamp("2026-11-20", tz="UTC")


def forecast(level: float, sd: float, steps: int = 168, n: int = 300) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(5)
    ts = pd.date_range(START, periods=steps, freq="h")
    mean = level + 10 * np.sin(np.arange(steps) / 24 * 2 * np.pi)
    paths = mean + rng.normal(0, sd, (n, 1)) + rng.normal(0, sd / 3, (n, steps))
    frame = pd.DataFrame({TS: ts, MEAN: mean})
    for q, row in zip(DEFAULT_QUANTILES, np.quantile(paths, DEFAULT_QUANTILES, axis=0), strict=True):
        frame[quantile_column(q)] = row
    return frame, paths


def item(level: float, threshold: float, metric: str = "load", sd: float = 2.0, **extra: object) -> RiskInput:
    frame, paths = forecast(level, sd)
    return RiskInput("svc", metric, threshold, frame, paths, **extra)  # type: ignore[arg-type]


def test_under_two_days_of_history_is_unknown_without_the_extrapolated_numbers():
    # Far over the threshold by the (extrapolated) paths: 100 % without the history rule.
    wide = item(200.0, 80.0, sd=60.0)
    assert assess(wide, RiskWindow()).breach_probability == 1.0
    for hours in (1, 6, 24, 47):
        risk = assess(replace(wide, history_span=pd.Timedelta(hours=hours)), RiskWindow())
        assert risk.status == UNKNOWN
        assert risk.breach_probability is None and risk.peak_p95 is None and risk.headroom is None
        assert f"history of {describe_span(pd.Timedelta(hours=hours))}" in risk.note
        assert f"at least {describe_span(MIN_HISTORY)}" in risk.note
    # From two days on, the numbers are shown and the status follows them: the paths recalibrated against the
    # recent peak (under four weeks there are too few past weeks for the analogs) and shrunk towards the history's
    # own days, which all reached 80 here: at least the paths part alone.
    days = pd.date_range(START - MIN_HISTORY, START, freq="h", inclusive="left")
    recent = recent_profile(pd.Series(150.0 + 10 * np.sin(np.arange(len(days)) / 24 * 2 * np.pi), index=days))
    assert recent is not None and len(recent.daily_max) == 2
    risk = assess(replace(wide, history_span=MIN_HISTORY, recent=recent), RiskWindow())
    alone = assess(
        replace(wide, history_span=MIN_HISTORY, recent=replace(recent, daily_max=())), RiskWindow()
    )
    assert alone.breach_probability is not None and 0.5 <= alone.breach_probability < 1.0
    assert risk.breach_probability is not None and risk.breach_probability >= alone.breach_probability
    assert risk.status == BREACH_LIKELY and risk.peak_p95 is not None
    assert "sample paths recalibrated" in risk.note
    lower = assess(replace(wide, history_span=MIN_HISTORY, recent=recent, threshold=400.0), RiskWindow())
    assert lower.breach_probability is not None and lower.breach_probability <= risk.breach_probability


def test_a_short_history_that_already_reached_the_threshold_is_breach_likely():
    at = START - pd.Timedelta(hours=10)
    risk = assess(
        replace(item(50.0, 80.0), history_span=pd.Timedelta(hours=20), last_day_max=(85.0, at)), RiskWindow()
    )
    assert risk.status == BREACH_LIKELY and risk.breach_probability is None
    assert "already reached the threshold" in risk.note and "85" in risk.note


def test_a_threshold_the_last_day_reached_is_breach_likely_and_the_probability_kept():
    base = replace(item(50.0, 80.0), history_span=pd.Timedelta(days=60))
    plain = assess(base, RiskWindow())
    assert plain.status in {OK, AT_RISK} and plain.breach_probability is not None
    assert plain.breach_probability < 0.5
    reached = assess(replace(base, last_day_max=(81.0, START - pd.Timedelta(hours=3))), RiskWindow())
    assert reached.status == BREACH_LIKELY
    assert (
        reached.breach_probability == plain.breach_probability
    )  # the number is the model's, the note says why
    assert "last day of history already reached the threshold" in reached.note
    below = assess(replace(base, last_day_max=(79.0, START - pd.Timedelta(hours=3))), RiskWindow())
    assert below.status == plain.status and "last day" not in below.note
    # Ranked with the likely breaches, above a higher probability that is only 'at risk'.
    riskier = assess(replace(item(68.0, 80.0, sd=4.0), service="other"), RiskWindow())
    assert riskier.status == AT_RISK and riskier.breach_probability > reached.breach_probability
    assert list(rank([riskier, reached])["service"]) == ["svc", "other"]


def test_a_percent_peak_past_100_is_noted_not_clipped():
    cpu = assess(item(98.0, 90.0, metric="cpu", unit="percent"), RiskWindow())
    assert cpu.peak_p95 is not None and cpu.peak_p95 > 100.0
    assert "passes 100%" in cpu.note and f"p95 {cpu.peak_p95:.1f}%" in cpu.note
    # The stored unit decides, not only the name; a rate past 100 is just a number.
    assert "passes 100%" in assess(item(98.0, 90.0, metric="util_score", unit="percent"), RiskWindow()).note
    assert "passes 100%" not in assess(item(98.0, 90.0, metric="rps", unit="per_second"), RiskWindow()).note
    under = assess(item(60.0, 90.0, metric="cpu", unit="percent"), RiskWindow())
    assert under.peak_p95 is not None and under.peak_p95 < 100.0 and "passes 100%" not in under.note
