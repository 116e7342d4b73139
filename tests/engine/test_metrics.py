"""Accuracy metrics: definitions on hand-checkable inputs and their invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from capacity.forecast.metrics import (
    POINT_METRICS,
    brier,
    coverage,
    mase,
    pinball,
    scaled_pinball,
    seasonal_scale,
    smape,
    wape,
)

floats = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False)


def test_mase_uses_the_seasonal_naive_scale() -> None:
    train = np.tile([1.0, 3.0], 10) + np.arange(20)  # lag-2 differences are all 2
    assert seasonal_scale(train, 2) == pytest.approx(2.0)
    assert mase(np.array([10.0, 10.0]), np.array([12.0, 8.0]), 2.0) == pytest.approx(1.0)
    assert seasonal_scale(np.full(10, 4.0), 2) > 0  # flat history never divides by zero


def test_smape_wape_and_pinball_by_hand() -> None:
    a, f = np.array([100.0, 0.0]), np.array([50.0, 0.0])
    assert smape(a, f) == pytest.approx(100.0 * (2 * 50 / 150) / 2)
    assert wape(a, f) == pytest.approx(0.5)
    assert pinball(np.array([10.0]), np.array([8.0]), 0.9) == pytest.approx(1.8)
    assert pinball(np.array([10.0]), np.array([12.0]), 0.9) == pytest.approx(0.2)
    assert scaled_pinball(np.array([10.0]), {0.9: np.array([8.0])}, 2.0) == pytest.approx(0.9)


def test_coverage_and_brier() -> None:
    a = np.array([1.0, 2.0, 3.0, 4.0])
    assert coverage(a, np.full(4, 1.5), np.full(4, 3.5)) == 0.5
    assert brier([1.0, 0.0], [True, False]) == 0.0
    assert brier([0.5], [True]) == pytest.approx(0.25)


@given(st.lists(floats, min_size=1, max_size=30), st.lists(floats, min_size=1, max_size=30))
def test_point_metrics_are_non_negative_and_zero_for_a_perfect_forecast(
    xs: list[float], ys: list[float]
) -> None:
    n = min(len(xs), len(ys))
    a, f = np.array(xs[:n]), np.array(ys[:n])
    for fn in POINT_METRICS.values():
        assert fn(a, f, 1.0) >= 0.0
        assert fn(a, a, 1.0) == pytest.approx(0.0, abs=1e-12)
    assert 0.0 <= smape(a, f) <= 200.0
