"""forecast_series end to end: monotone quantiles, lo <= median <= hi, paths, and every robustness case runs
without error and says what it did."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from capacity.errors import InvalidInput, NotEnoughHistory
from capacity.events.calendar import EventOccurrence
from capacity.forecast.pipeline import event_regressors, forecast_series, regularize_for
from capacity.forecast.types import ForecastSpec
from capacity.schema import quantile_columns

SPEC = ForecastSpec(horizon=48, n_paths=300)


def series(values: np.ndarray, start: str = "2024-03-04") -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="1h", tz="UTC"))


def wave(n: int, seed: int = 0, level: float = 50.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return level + 15 * np.sin(2 * np.pi * t / 24) + 4 * np.sin(2 * np.pi * t / 168) + rng.normal(0, 1, n)


def check_result(result, spec: ForecastSpec = SPEC) -> None:  # type: ignore[no-untyped-def]
    frame = result.frame
    cols = quantile_columns(sorted(spec.quantiles))
    assert list(frame.columns[:2]) == ["ts", "mean"] and set(cols) <= set(frame.columns)
    assert len(frame) == spec.horizon
    q = frame[cols].to_numpy()
    assert np.isfinite(q).all() and np.isfinite(frame["mean"]).all()
    assert (np.diff(q, axis=1) >= -1e-9).all(), "quantiles must be monotone"
    assert (frame["q0.025"] <= frame["q0.5"] + 1e-9).all() and (frame["q0.5"] <= frame["q0.975"] + 1e-9).all()
    assert result.paths.shape == (spec.n_paths, spec.horizon) and np.isfinite(result.paths).all()
    assert frame["ts"].iloc[0] > result.history_end
    assert result.model and result.members
    assert result.diagnostics, "the result says what the engine did"


def test_seasonal_series_gets_a_selected_model_with_scores_and_calibrated_paths() -> None:
    result = forecast_series(series(wave(24 * 35)), SPEC)
    check_result(result)
    assert result.periods == (24, 168)
    assert not result.fallback and result.backtest_folds >= 3 and result.backtest_horizon == 48
    assert {"mase", "smape", "wape"} <= set(result.scores)
    assert result.model in result.candidates
    assert result.scores["mase"] < 1.0  # beats the in-sample seasonal naive scale on a clean pattern
    truth = 50 + 15 * np.sin(2 * np.pi * np.arange(24 * 35, 24 * 35 + 48) / 24)
    truth += 4 * np.sin(2 * np.pi * np.arange(24 * 35, 24 * 35 + 48) / 168)
    assert np.mean(np.abs(result.frame["mean"].to_numpy() - truth)) < 1.5
    # the paths' marginal quantiles agree with the quantile columns
    emp = np.quantile(result.paths, [0.1, 0.9], axis=0)
    spread = (result.frame["q0.975"] - result.frame["q0.025"]).to_numpy()
    assert np.median(np.abs(emp[0] - result.frame["q0.1"].to_numpy()) / spread) < 0.1
    assert np.median(np.abs(emp[1] - result.frame["q0.9"].to_numpy()) / spread) < 0.1


def _cases() -> dict[str, pd.Series]:
    rng = np.random.default_rng(5)
    gap = series(wave(24 * 20, seed=1))
    gap = gap.drop(gap.index[100:300])
    dup = series(wave(24 * 10, seed=2))
    irregular_index = dup.index + pd.to_timedelta(rng.integers(0, 3600, len(dup)), unit="s")
    zeros = np.where(rng.random(24 * 10) < 0.9, 0.0, rng.exponential(5.0, 24 * 10))
    shift = wave(24 * 20, seed=3)
    shift[-60:] += 40.0
    return {
        "three points": series(np.array([1.0, 2.0, 3.0])),
        "one day": series(wave(24)),
        "five days": series(wave(24 * 5)),
        "flat": series(np.full(24 * 10, 7.0)),
        "zero heavy": series(zeros),
        "level shift": series(shift),
        "big gap": gap,
        "duplicated and unsorted": pd.concat([dup, dup.iloc[:50] + 1.0]).sample(frac=1.0, random_state=1),
        "irregular": pd.Series(dup.to_numpy(), index=irregular_index),
        "with nan and inf": series(np.r_[wave(100), [np.nan, np.inf], wave(100, seed=4)]),
    }


@pytest.mark.parametrize("name", list(_cases()))
def test_robustness_cases_run_and_say_what_they_did(name: str) -> None:
    values = _cases()[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no statsmodels warning may leak
        result = forecast_series(values, SPEC)
    check_result(result)
    text = " ".join(result.diagnostics)
    if name in ("three points", "one day"):
        assert result.periods == () and "no seasonal period" in text
        assert set(result.members) <= {"naive", "drift", "ets_damped"}
    if name == "five days":
        assert result.periods == (24,)
    if name == "flat":
        assert np.allclose(result.frame["mean"], 7.0)
    if name == "zero heavy":
        assert (result.frame["q0.025"] >= 0).all() and (result.paths >= 0).all()
    if name == "big gap":
        assert "filled 200 empty step(s)" in text
    if name == "duplicated and unsorted":
        assert "merged 50 duplicated" in text
    if name == "level shift":
        assert result.frame["mean"].iloc[:24].mean() > 70  # follows the new level


def test_too_short_and_bad_specs_raise_named_errors() -> None:
    with pytest.raises(NotEnoughHistory):
        forecast_series(series(np.array([1.0, 2.0])), SPEC)
    with pytest.raises(InvalidInput, match="horizon"):
        forecast_series(series(wave(100)), ForecastSpec(horizon=0))
    with pytest.raises(InvalidInput, match="model"):
        forecast_series(series(wave(100)), ForecastSpec(horizon=5, models=("nope",)))


def test_named_models_regularize_for_and_no_argument_mutation() -> None:
    values = series(wave(24 * 15))
    before = values.copy()
    spec = ForecastSpec(horizon=24, models=("seasonal_naive_daily", "theta"), agg="max", freq="2h")
    result = forecast_series(values, spec)
    assert set(result.members) <= {"seasonal_naive_daily", "theta"}
    assert result.frame["ts"].diff().dropna().eq(pd.Timedelta("2h")).all()
    regular = regularize_for(values, spec)
    assert regular.values.index[-1] == result.history_end
    pd.testing.assert_series_equal(values, before)


def test_event_regressors_mark_windows() -> None:
    index = pd.date_range("2024-11-28", periods=72, freq="1h", tz="UTC")
    ev = EventOccurrence(
        "Black Friday", pd.Timestamp("2024-11-29", tz="UTC"), pd.Timestamp("2024-11-30", tz="UTC")
    )
    x = event_regressors(index, [ev])
    assert x is not None and x.shape == (72, 1) and x[:, 0].sum() == 24 and x[24, 0] == 1.0
    assert event_regressors(index, []) is None
