"""Every registered model recovers a known synthetic pattern within a stated tolerance, and never warns."""

from __future__ import annotations

import numpy as np
import pytest

from capacity.errors import ModelFailed
from capacity.forecast.models import DEFAULT_MODELS, REGISTRY, FitInput, get_model, run_model, usable
from capacity.forecast.models.base import ModelSpec

DAY, WEEK = 24, 168
HORIZON = 48
#: (pattern holds a weekly cycle, tolerated mean absolute error against the noiseless truth as a share of the
#: daily amplitude of 20). Daily-season models get a daily-only pattern; seasonal naive copies one noisy season
#: (noise sd 1, so its error is about 0.8), the others average the noise away.
TOLERANCE = {
    "seasonal_naive_daily": (False, 0.06),
    "seasonal_naive_weekly": (True, 0.06),
    "seasonal_mean": (True, 0.05),
    "seasonal_median_weekly": (True, 0.06),
    "seasonal_median_daily": (False, 0.05),
    "recent_daily_mean": (False, 0.06),
    "ets_damped": (False, 0.05),
    "ets_statsmodels": (False, 0.05),
    "theta": (False, 0.05),
    "mstl_ets": (True, 0.05),
    "mstl_ar": (True, 0.05),
    "harmonic": (True, 0.05),
}


def truth(n: int, weekly: bool) -> np.ndarray:
    t = np.arange(n)
    y = 100 + 20 * np.sin(2 * np.pi * t / DAY)
    if weekly:
        y = y + 6 * np.sin(2 * np.pi * t / WEEK)
    return y


def noisy(n: int, weekly: bool, seed: int = 7) -> np.ndarray:
    return truth(n, weekly) + np.random.default_rng(seed).normal(0, 1, n)


@pytest.mark.parametrize("name", sorted(TOLERANCE))
def test_seasonal_models_recover_daily_and_weekly_pattern(name: str) -> None:
    n = 6 * WEEK
    weekly, tolerance = TOLERANCE[name]
    y = noisy(n, weekly=weekly)
    run = run_model(get_model(name), FitInput(y=y, horizon=HORIZON, periods=(DAY, WEEK)))
    target = truth(n + HORIZON, weekly)[n:]
    mae = float(np.mean(np.abs(run.mean - target)))
    assert mae < tolerance * 20, f"{name}: MAE {mae:.2f}"
    assert run.warnings == ()


def test_drift_recovers_a_line_and_naive_repeats_the_last_value() -> None:
    y = 5.0 + 0.5 * np.arange(100)
    run = run_model(get_model("drift"), FitInput(y=y, horizon=10))
    np.testing.assert_allclose(run.mean, 5.0 + 0.5 * np.arange(100, 110))
    run = run_model(get_model("naive"), FitInput(y=y, horizon=3))
    np.testing.assert_allclose(run.mean, [y[-1]] * 3)


def test_harmonic_uses_event_regressors() -> None:
    n = 4 * WEEK
    y = noisy(n, weekly=False)
    exog = np.zeros((n + HORIZON, 1))
    for start in (100, 300, 500):  # three past events lift load by 50
        exog[start : start + 6, 0] = 1.0
        y[start : start + 6] += 50.0
    exog[n + 10 : n + 16, 0] = 1.0  # an upcoming one
    run = run_model(get_model("harmonic"), FitInput(y=y, horizon=HORIZON, periods=(DAY, WEEK), exog=exog))
    lift = run.mean[10:16] - truth(n + HORIZON, False)[n + 10 : n + 16]
    assert lift.mean() > 35.0


def test_every_default_model_is_registered_with_a_description() -> None:
    for name in DEFAULT_MODELS:
        assert name in REGISTRY and REGISTRY[name].description
    assert not usable(get_model("harmonic"), 10_000, ())  # seasonal models need a period
    assert usable(get_model("drift"), 5, ())


def test_run_model_rejects_exploding_and_failing_fits() -> None:
    def boom(data: FitInput) -> np.ndarray:
        raise np.linalg.LinAlgError("singular")

    def explode(data: FitInput) -> np.ndarray:
        return np.full(data.horizon, 1e12)

    for fn in (boom, explode):
        spec = ModelSpec("fake", fn, lambda p: 1, lambda p: None)
        with pytest.raises(ModelFailed, match="fake"):
            run_model(spec, FitInput(y=np.arange(50.0), horizon=5))
