"""Backtest pieces: cutoffs strictly before their windows, the backtest loop (with a fake model), selection,
conformal calibration, monotone quantiles and sample paths consistent with them."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from capacity.forecast.backtest import backtest, backtest_plan, make_cutoffs
from capacity.forecast.choose import choose
from capacity.forecast.intervals import calibrate, quantile_forecast, sample_paths
from capacity.forecast.models.base import REGISTRY, FitInput, ModelSpec, register

LEVELS = (0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975)


@given(
    n=st.integers(3, 3000),
    horizon=st.integers(1, 400),
    folds=st.integers(1, 8),
    spacing=st.integers(1, 200),
    min_train=st.integers(1, 500),
)
def test_cutoffs_lie_strictly_before_their_test_windows(
    n: int, horizon: int, folds: int, spacing: int, min_train: int
) -> None:
    cutoffs = make_cutoffs(n, horizon, folds, spacing, min_train)
    assert list(cutoffs) == sorted(set(cutoffs))
    for c in cutoffs:
        assert c >= 1 and c >= min_train  # training part [0, c) is not empty
        assert c + horizon <= n  # the test window [c, c + horizon) is inside the history


@given(n=st.integers(3, 5000), horizon=st.integers(1, 500))
@settings(max_examples=60)
def test_backtest_plan_fits_inside_the_history(n: int, horizon: int) -> None:
    for periods in ((), (24,), (24, 168)):
        hb, cutoffs = backtest_plan(n, horizon, periods)
        assert 1 <= hb <= horizon
        assert all(c > 0 and c + hb <= n for c in cutoffs)


def _register_fakes() -> None:
    """Fake models that record the history they were given: a perfect oracle is impossible without the future."""

    def last_value(data: FitInput) -> np.ndarray:
        return np.full(data.horizon, data.y[-1])

    def off_by_ten(data: FitInput) -> np.ndarray:
        return np.full(data.horizon, data.y[-1] - 10.0)

    def fails(data: FitInput) -> np.ndarray:
        raise ValueError("cannot fit")

    for name, fn in (("fake_last", last_value), ("fake_off", off_by_ten), ("fake_fails", fails)):
        if name not in REGISTRY:
            register(ModelSpec(name, fn, lambda p: 1, lambda p: None))


def test_backtest_uses_only_the_past_drops_failures_and_choose_prefers_the_better_model() -> None:
    _register_fakes()
    y = np.arange(200, dtype="float64")  # a line: the training part's last value is y[c - 1]
    cutoffs = (100, 150, 180)
    bt = backtest(y, (), ["fake_last", "fake_off", "fake_fails"], 10, cutoffs)
    assert set(bt.forecasts) == {"fake_last", "fake_off"}
    assert "fake_fails" in bt.failures
    for i, c in enumerate(cutoffs):
        np.testing.assert_allclose(bt.forecasts["fake_last"][i], y[c - 1])
        np.testing.assert_allclose(bt.actuals[i], y[c : c + 10])
    choice = choose(bt)
    assert choice.members[0] == "fake_last"
    assert choice.name == "fake_last" and choice.scores == choice.candidates["fake_last"]
    assert set(choice.candidates) >= {"fake_last", "fake_off"}
    assert choice.candidates["fake_last"]["mase"] < choice.candidates["fake_off"]["mase"]


def test_calibrated_quantiles_are_monotone_and_cover_as_stated() -> None:
    rng = np.random.default_rng(1)
    horizon = 24
    # backtest errors of a random walk-ish forecaster: spread grows with the step
    steps = np.sqrt(np.arange(1, horizon + 1))
    errors = rng.standard_normal((40, horizon)) * steps
    cal = calibrate(errors, horizon, widen_center=1.0, widen_tail=1.0)  # plain split-conformal
    mean = np.zeros(horizon)
    q = quantile_forecast(mean, cal, LEVELS)
    assert (np.diff(q, axis=0) >= 0).all()
    assert (q[0] <= q[4]).all() and (q[4] <= q[-1]).all()
    assert (np.diff(cal.scale) >= 0).all()
    fresh = rng.standard_normal((2000, horizon)) * steps
    inside80 = np.mean((fresh >= q[2]) & (fresh <= q[6]))
    inside95 = np.mean((fresh >= q[0]) & (fresh <= q[-1]))
    assert 0.74 <= inside80 <= 0.88
    assert 0.90 <= inside95 <= 0.99


def test_default_widening_is_wider_and_shrinks_with_more_errors() -> None:
    rng = np.random.default_rng(4)
    few, many = rng.standard_normal((4, 24)), rng.standard_normal((40, 24))
    plain = quantile_forecast(np.zeros(24), calibrate(few, 24, widen_center=1.0, widen_tail=1.0), LEVELS)
    wide = quantile_forecast(np.zeros(24), calibrate(few, 24), LEVELS)
    assert (wide[-1] - wide[0] > plain[-1] - plain[0]).all()
    ratio_few = (wide[-1] - wide[0]) / (plain[-1] - plain[0])
    many_plain = quantile_forecast(
        np.zeros(24), calibrate(many, 24, widen_center=1.0, widen_tail=1.0), LEVELS
    )
    many_wide = quantile_forecast(np.zeros(24), calibrate(many, 24), LEVELS)
    ratio_many = (many_wide[-1] - many_wide[0]) / (many_plain[-1] - many_plain[0])
    assert ratio_many.mean() < ratio_few.mean()


def test_paths_match_the_quantiles_and_carry_correlation() -> None:
    rng = np.random.default_rng(2)
    horizon = 48
    walk = np.cumsum(rng.standard_normal((30, horizon)), axis=1)  # strongly autocorrelated errors
    cal = calibrate(walk, horizon)
    assert cal.phi > 0.5
    mean = np.linspace(10, 20, horizon)
    paths = sample_paths(mean, cal, 4000, seed=3)
    q = quantile_forecast(mean, cal, LEVELS)
    empirical = np.quantile(paths, LEVELS, axis=0)
    spread = q[-1] - q[0]
    assert np.max(np.abs(empirical - q) / spread) < 0.1
    lag1 = np.corrcoef(paths[:, 20], paths[:, 21])[0, 1]
    assert lag1 > 0.5
    np.testing.assert_array_equal(paths, sample_paths(mean, cal, 4000, seed=3))  # seeded


def test_few_errors_give_wide_student_t_intervals() -> None:
    cal = calibrate(np.array([[1.0, -1.0, 0.5]]), 5)
    q = quantile_forecast(np.zeros(5), cal, (0.025, 0.5, 0.975))
    assert (q[2] - q[0] > 2 * 1.96 * 0.5).all()


def test_errors_that_last_a_window_give_paths_with_a_shared_level() -> None:
    rng = np.random.default_rng(4)
    horizon, windows = 96, 40
    noise = rng.standard_normal((windows, horizon))
    persistent = noise * 0.6 + rng.standard_normal((windows, 1)) * 0.8  # 64% of the variance lasts the window
    iid = calibrate(noise, horizon)
    lasting = calibrate(persistent, horizon)
    assert iid.persistence < 0.1
    assert 0.4 < lasting.persistence < 0.85
    mean = np.full(horizon, 50.0)
    flat, shared = sample_paths(mean, iid, 3000, seed=5), sample_paths(mean, lasting, 3000, seed=5)
    for paths, cal in ((flat, iid), (shared, lasting)):  # the marginals still follow the calibrated quantiles
        q = quantile_forecast(mean, cal, LEVELS)
        assert np.max(np.abs(np.quantile(paths, LEVELS, axis=0) - q) / (q[-1] - q[0])) < 0.1
    # far-apart steps move together only with the shared level, and the window maxima sit lower relative to the
    # marginal spread: a path's maximum no longer collects a fresh draw every few hours
    assert abs(np.corrcoef(flat[:, 5], flat[:, 90])[0, 1]) < 0.1
    assert np.corrcoef(shared[:, 5], shared[:, 90])[0, 1] > 0.4

    def peak_z(paths: np.ndarray) -> float:
        return float(np.median((paths.max(axis=1) - 50.0) / paths.std(axis=0).mean()))

    assert peak_z(shared) < peak_z(flat)
