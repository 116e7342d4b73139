"""MSTL: multiple seasonal-trend decomposition by Loess, the adjusted part forecast by a damped ETS or an AR model.

Reference: Bandara, Hyndman & Bergmeir, "MSTL: A Seasonal-Trend Decomposition Algorithm for Time Series with
Multiple Seasonal Patterns" (2021); statsmodels ``MSTL``. The daily and weekly components are carried forward
(each repeats its last cycle); the seasonally adjusted remainder is forecast by an additive damped-trend ETS
(``mstl_ets``, the grid-fitted Holt recursions of :mod:`capacity.forecast.models.ets`) or by an autoregression with a constant (``mstl_ar``), which reverts to the recent mean.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np
from statsmodels.tsa.ar_model import AutoReg
from statsmodels.tsa.seasonal import MSTL

from capacity.forecast.models.base import FitInput, ModelSpec, register
from capacity.forecast.models.ets import holt_winters

#: The last few decompositions, keyed by the history's bytes: mstl_ets and mstl_ar share one decomposition.
_CACHE: OrderedDict[tuple[bytes, tuple[int, ...], int], tuple[np.ndarray, np.ndarray]] = OrderedDict()
_CACHE_SIZE = 8


def _decompose(data: FitInput) -> tuple[np.ndarray, np.ndarray]:
    """Return (seasonally adjusted history, seasonal forecast for the horizon), cached for the sibling model."""
    key = (hashlib.sha1(data.y.tobytes()).digest(), data.periods, data.horizon)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    out = _decompose_now(data)
    _CACHE[key] = out
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return out


def _decompose_now(data: FitInput) -> tuple[np.ndarray, np.ndarray]:

    y = data.y
    periods = tuple(p for p in sorted(data.periods) if len(y) >= 2 * p)
    res = MSTL(
        y, periods=periods if len(periods) > 1 else periods[0], iterate=1, stl_kwargs={"inner_iter": 1}
    ).fit()
    seasonal = np.asarray(res.seasonal).reshape(len(y), -1)
    future = np.zeros(data.horizon)
    for j, p in enumerate(periods):
        last = seasonal[-p:, j]
        future += np.tile(last, int(np.ceil(data.horizon / p)))[: data.horizon]
    adjusted = y - seasonal.sum(axis=1)
    return adjusted, future


def mstl_ets(data: FitInput) -> np.ndarray:
    """MSTL seasons carried forward plus a damped-trend ETS of the adjusted series."""
    adjusted, future = _decompose(data)
    return holt_winters(adjusted, data.horizon, 1) + future


def mstl_ar(data: FitInput) -> np.ndarray:
    """MSTL seasons carried forward plus an AR(2) with a constant on the adjusted series (mean reverting)."""

    adjusted, future = _decompose(data)
    fit = AutoReg(adjusted, lags=2, trend="c").fit()
    return np.asarray(fit.forecast(data.horizon)) + future


def _min_points(p: tuple[int, ...]) -> int:
    return 2 * min(p) + 10 if p else 10**9


def _window(p: tuple[int, ...]) -> int:
    return 4 * max(p) if len(p) > 1 else 28 * min(p) if p else 1000


register(
    ModelSpec(
        "mstl_ets", mstl_ets, _min_points, _window, True, "MSTL seasons + damped ETS of the adjusted part"
    )
)
register(
    ModelSpec("mstl_ar", mstl_ar, _min_points, _window, True, "MSTL seasons + AR(2) of the adjusted part")
)
