"""The peers the accuracy benchmark compares against: seasonal naive, Prophet, statsforecast AutoETS and MSTL.

Each peer is ``fit(train, horizon, steps_per_day, quantiles) -> PeerForecast``. Each method's seasons come from
the step (:func:`seasons`): daily and weekly on hourly data, weekly and (with two years) yearly on daily data; a
daily step used to hand MSTL a season of 1, which it cannot fit. A peer with sample paths (Prophet) also gives its
forecast of the window's peak: the median over its paths of each path's maximum. Prophet and statsforecast are
optional dependencies (the ``bench`` extra) imported lazily; a missing one raises :class:`PeerUnavailable`, which
the benchmark reports instead of failing. Prophet's cmdstanpy logging is silenced.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from capacity.errors import PeerUnavailable


@dataclass(frozen=True)
class PeerForecast:
    """A peer's point forecast, its quantile forecasts by level and, when it has one, its window-peak forecast
    (None: the benchmark takes the maximum of the point forecast)."""

    mean: np.ndarray
    quantiles: dict[float, np.ndarray]
    peak: float | None = None


def seasons(day: int, n: int) -> list[int]:
    """The seasonal periods (in steps) worth fitting with ``day`` steps a day and ``n`` steps of training.

    Daily with two days (sub-daily steps only), weekly with three weeks, yearly (365 days) with two years and a
    week (daily steps only: a yearly season of 8,766 hourly steps is beyond the peers).
    """
    out = []
    if day > 1 and n >= 2 * day:
        out.append(day)
    if n >= 21 * day:
        out.append(7 * day)
    if day == 1 and n >= 2 * 365 + 7:
        out.append(365)
    return out


PeerFn = Callable[[pd.Series, int, int, Sequence[float]], PeerForecast]


def seasonal_naive(train: pd.Series, horizon: int, day: int, quantiles: Sequence[float]) -> PeerForecast:
    """Weekly seasonal naive with three weeks of training, else daily; quantiles from its in-sample errors."""
    y = train.to_numpy(dtype="float64")
    period = 7 * day if len(y) >= 21 * day else day
    period = period if len(y) > period else 1
    mean = np.tile(y[-period:], int(np.ceil(horizon / period)))[:horizon]
    errors = y[period:] - y[:-period] if len(y) > period else np.zeros(1)
    return PeerForecast(mean=mean, quantiles={q: mean + np.quantile(errors, q) for q in quantiles})


def _levels(quantiles: Sequence[float]) -> list[int]:
    return sorted({round(abs(1 - 2 * q) * 100) for q in quantiles if abs(q - 0.5) > 1e-9})


def _from_levels(out: dict[str, np.ndarray], quantiles: Sequence[float]) -> dict[float, np.ndarray]:
    result = {}
    for q in quantiles:
        if abs(q - 0.5) < 1e-9:
            result[q] = np.asarray(out["mean"])
            continue
        level = round(abs(1 - 2 * q) * 100)
        result[q] = np.asarray(out[f"lo-{level}" if q < 0.5 else f"hi-{level}"])
    return result


def _statsforecast() -> tuple[type, type]:
    try:
        from statsforecast.models import MSTL, AutoETS  # deferred: optional and heavy (the bench extra)
    except ImportError as exc:
        raise PeerUnavailable(
            f"statsforecast is not installed ({exc}); pip install capacity-planner[bench]"
        ) from None
    return AutoETS, MSTL


def statsforecast_autoets(
    train: pd.Series, horizon: int, day: int, quantiles: Sequence[float]
) -> PeerForecast:
    """statsforecast AutoETS with a daily season (weekly on daily data)."""
    auto_ets, _ = _statsforecast()
    y = train.to_numpy(dtype="float64")
    season = day if day > 1 else (7 if len(y) >= 14 else 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = auto_ets(season_length=season).forecast(y=y, h=horizon, level=_levels(quantiles))
    return PeerForecast(mean=np.asarray(out["mean"]), quantiles=_from_levels(out, quantiles))


def statsforecast_mstl(train: pd.Series, horizon: int, day: int, quantiles: Sequence[float]) -> PeerForecast:
    """statsforecast MSTL with the step's seasons (:func:`seasons`) and an AutoETS trend; AutoETS without any."""
    auto_ets, mstl = _statsforecast()
    y = train.to_numpy(dtype="float64")
    periods = seasons(day, len(y))
    if not periods:
        return statsforecast_autoets(train, horizon, day, quantiles)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = mstl(
            season_length=periods if len(periods) > 1 else periods[0], trend_forecaster=auto_ets(model="ZZN")
        )
        out = model.forecast(y=y, h=horizon, level=_levels(quantiles))
    return PeerForecast(mean=np.asarray(out["mean"]), quantiles=_from_levels(out, quantiles))


def _quiet_prophet() -> None:
    for name in ("cmdstanpy", "prophet", "prophet.plot"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.CRITICAL)
        logger.propagate = False
        logger.disabled = True


def fit_prophet(train: pd.Series, horizon: int, **options: Any) -> tuple[Any, pd.DataFrame]:
    """Fit Prophet (with ``options``, e.g. ``holidays``) on ``train``; returns the model and the future frame.

    Its logging is silenced and its warnings are kept out of the caller's: what every Prophet peer needs.

    Raises:
        PeerUnavailable: when Prophet is not installed.
    """
    _quiet_prophet()  # before the import: prophet logs "Importing plotly failed" when it loads
    # Something imported earlier may call logging.config.dictConfig(disable_existing_loggers=False), which resets
    # the loggers silenced above; logging.disable holds whatever the configuration, for the import and the fit.
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        try:
            from prophet import Prophet  # deferred: optional and heavy (the bench extra)
        except ImportError as exc:
            raise PeerUnavailable(
                f"prophet is not installed ({exc}); pip install capacity-planner[bench]"
            ) from None
        index = pd.DatetimeIndex(train.index)
        index = index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index
        frame = pd.DataFrame({"ds": index, "y": train.to_numpy(dtype="float64")})
        step = index[-1] - index[-2] if len(index) > 1 else pd.Timedelta("1h")
        future = pd.DataFrame({"ds": pd.date_range(index[-1] + step, periods=horizon, freq=step)})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = Prophet(**options)
            model.fit(frame)
        return model, future
    finally:
        logging.disable(previous)


def prophet(train: pd.Series, horizon: int, day: int, quantiles: Sequence[float]) -> PeerForecast:
    """Prophet with its defaults (it picks its own seasonalities from the history's length and step); quantiles and
    the window's peak from its predictive samples. Its logging is silenced."""
    model, future = fit_prophet(train, horizon)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mean = model.predict(future)["yhat"].to_numpy()
        samples = model.predictive_samples(future)["yhat"]
    return PeerForecast(
        mean=mean,
        quantiles={q: np.quantile(samples, q, axis=1) for q in quantiles},
        peak=float(np.median(np.max(samples, axis=0))),
    )


#: Peer methods by their benchmark name; a ``--peers`` group name selects several.
PEERS: dict[str, PeerFn] = {
    "seasonal_naive": seasonal_naive,
    "prophet": prophet,
    "statsforecast_autoets": statsforecast_autoets,
    "statsforecast_mstl": statsforecast_mstl,
}

#: ``--peers`` names and the methods they stand for.
PEER_GROUPS: dict[str, tuple[str, ...]] = {
    "prophet": ("prophet",),
    "statsforecast": ("statsforecast_autoets", "statsforecast_mstl"),
    "statsforecast_autoets": ("statsforecast_autoets",),
    "statsforecast_mstl": ("statsforecast_mstl",),
    "seasonal_naive": ("seasonal_naive",),
}
