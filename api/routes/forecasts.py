"""Forecasts of one series: JSON (with an ETag), the chart as PNG, and a flat point list for Grafana."""

from __future__ import annotations

import hashlib
import math
from email.utils import format_datetime
from typing import Any

import pandas as pd
from apiflask import APIBlueprint
from flask import Response, request

from api.http import openapi, schemas
from api.http.auth import require
from api.http.render import band, etag_matches, iso, render, window
from api.routes.common import ForecastChartQuery, ForecastQuery, PointsQuery, computing, ms_to_ts, series_key
from api.state import state, store, versioned
from capacity.errors import CapacityError, Computing
from capacity.schema import DEFAULT_QUANTILES, TS, parse_duration, quantile_column, validate_quantiles
from capacity.services.accuracy import series_accuracy
from capacity.services.readiness import forecast_chart
from capacity.services.serving import Freshness
from capacity.store import SeriesInfo

bp = APIBlueprint("forecasts", __name__, tag="Forecasts")


def _quantiles(text: str | None) -> tuple[float, ...] | None:
    """The levels of a ``quantiles`` parameter (already matched against :data:`params.QUANTILES`), each once."""
    if text is None:
        return None
    return validate_quantiles(sorted({float(x) for x in text.split(",")}))


def _window(query: dict[str, Any]) -> tuple[int | None, int | None]:
    """``from``/``to`` as given: a window that ends before it starts selects no points (it is not an error, which
    the OpenAPI document could not say: JSON Schema cannot compare two parameters)."""
    return query.get("from_"), query.get("to")


def _stored_horizon(fresh: Freshness) -> str | None:
    """The horizon of the stored forecast as a duration (None when there is none): what ``/points`` shows by default,
    so that a forecast stored past the default horizon (up to an event) is shown whole."""
    ok = fresh.ok
    if ok is None:
        return None
    minutes = pd.Timedelta(pd.tseries.frequencies.to_offset(ok.freq)) * ok.horizon / pd.Timedelta(minutes=1)  # type: ignore[arg-type]
    return f"{max(1, math.ceil(minutes))}m"


def _history_start(info: SeriesInfo, start: int | None, end: int | None, history: str) -> pd.Timestamp | None:
    """Where ``/points``' actuals begin: ``from`` when given, else ``history`` before the window's end (the last
    sample, or ``to`` when earlier), so that a dashboard opened without a range reads days, not the whole store."""
    if start is not None:
        return ms_to_ts(start)
    ends = [t for t in (info.last_ts, ms_to_ts(end)) if t is not None]
    if not ends:
        return None
    return min(ends) - parse_duration(history, "history") + pd.Timedelta(seconds=1)


@bp.get("/series/<service>/<metric>/forecast")
@require("read")
@bp.input(ForecastQuery, location="query", arg_name="query")
@bp.doc(responses=openapi.forecast_responses())
def get_forecast(service: str, metric: str, query: dict[str, Any]) -> Any:
    """The forecast of a series: fresh when its data changed, else stored; ETag / If-None-Match give 304."""
    service, metric = series_key(service, metric)
    quantiles = _quantiles(query.get("quantiles"))
    start, end = _window(query)
    st = state()
    try:
        fc, steps, qs, stale, fresh = st.serving.resolve(service, metric, query.get("horizon"), quantiles)
    except Computing as exc:
        return computing(exc)
    # A newer failed run, newer data or a changed calendar change the stale reason the body carries.
    latest_id = (fresh.latest or {}).get("id")
    info = fresh.info
    key = (
        service,
        metric,
        fc.run_id,
        steps,
        qs,
        stale,
        start,
        end,
        info.threshold,
        latest_id,
        info.data_version,
        info.events_digest,
    )
    rendered = st.forecasts.get(key)
    if rendered is None:
        rendered = render(fc, steps, qs, stale, fresh, start, end)
        st.forecasts.put(key, rendered)
    headers = {
        "ETag": rendered.etag,
        "Cache-Control": "private, no-cache",
        "X-Forecast-Run": str(rendered.run_id),
        "X-Forecast-Stale": "true" if stale else "false",
    }
    if etag_matches(request.headers.get("If-None-Match"), rendered.etag):
        return Response(status=304, headers=headers)
    return Response(rendered.body, status=200, mimetype="application/json", headers=headers)


@bp.get("/series/<service>/<metric>/forecast.png")
@require("read", signed=True)
@bp.input(ForecastChartQuery, location="query", arg_name="query")
@bp.doc(responses=openapi.png_responses())
def get_forecast_png(service: str, metric: str, query: dict[str, Any]) -> Any:
    """The forecast chart: history, forecast with its band, threshold and events (PNG)."""
    service, metric = series_key(service, metric)
    st = state()
    try:
        fc, steps, qs, _stale, fresh = st.serving.resolve(
            service, metric, query.get("horizon"), _quantiles(query.get("quantiles"))
        )
    except Computing as exc:
        return computing(exc)
    # Rendered once per (series, horizon, quantiles) and what the picture rests on (the forecast run, the samples'
    # data version, the calendar, the threshold), shared by every worker of the server; a read whose
    # If-None-Match names the current ETag gets a 304 without the chart being drawn or read at all.
    info = fresh.info
    key = ("png", service, metric, steps, qs)
    version = f"{fc.run_id}:{info.data_version}:{info.events_digest}:{info.threshold!r}"
    etag = '"png-' + hashlib.sha256(repr((key, version)).encode()).hexdigest()[:24] + '"'
    # The picture changes with the run, the samples and settings (updated_at) and the calendar: the latest of them.
    changed = max(t for t in (fc.created_at, info.updated_at, info.events_changed_at) if t is not None)
    headers = {
        "ETag": etag,
        "Last-Modified": format_datetime(changed.floor("s").to_pydatetime(), usegmt=True),
        "Cache-Control": "private, no-cache",
        "X-Forecast-Run": str(fc.run_id),
    }
    if etag_matches(request.headers.get("If-None-Match"), etag):
        return Response(status=304, headers=headers)
    png = versioned("charts", 64).shared(key, version, lambda: forecast_chart(store(), info, fc, steps))
    return Response(png, status=200, mimetype="image/png", headers=headers)


@bp.get("/series/<service>/<metric>/points")
@require("read")
@bp.input(PointsQuery, location="query", arg_name="query")
@bp.doc(responses=openapi.ok(schemas.POINTS))
def get_points(service: str, metric: str, query: dict[str, Any]) -> Any:
    """Actuals and forecast as one flat list of points, for Grafana's Infinity datasource.

    By default the last `history` (14 days) of actuals, `from`/`to` for any other span; the forecast part reaches
    `horizon` ahead, by default as far as the stored forecast does."""
    service, metric = series_key(service, metric)
    start, end = _window(query)
    st = state()
    info = st.store.series.describe(service, metric)
    empty = start is not None and end is not None and end < start
    history = (
        st.store.series.load_history(
            service,
            metric,
            _history_start(info, start, end, query["history"]),
            ms_to_ts(end + 1) if end is not None else None,
        )
        if not empty
        else pd.Series(dtype="float64")
    )
    points: list[dict[str, Any]] = [
        {
            "ts": iso(ts),
            "actual": float(v),
            "forecast": None,
            "lower": None,
            "upper": None,
            "threshold": info.threshold,
        }
        for ts, v in zip(history.index, history.to_numpy(), strict=True)
    ]
    if info.samples and not empty:
        try:
            horizon = query.get("horizon") or _stored_horizon(st.serving.freshness(service, metric))
            fc, steps, qs, _stale, _fresh = st.serving.resolve(service, metric, horizon, None)
        except (Computing, CapacityError):  # actuals are still worth plotting
            fc = None
        if fc is not None:
            frame = window(fc.frame.iloc[:steps], start, end)
            lo_hi = band(qs) or (min(DEFAULT_QUANTILES), max(DEFAULT_QUANTILES))
            lo_col, hi_col = quantile_column(lo_hi[0]), quantile_column(lo_hi[1])
            for ts, mean, lo, hi in zip(frame[TS], frame["mean"], frame[lo_col], frame[hi_col], strict=True):
                points.append(
                    {
                        "ts": iso(ts),
                        "actual": None,
                        "forecast": float(mean),
                        "lower": float(lo),
                        "upper": float(hi),
                        "threshold": info.threshold,
                    }
                )
    return points


@bp.get("/series/<service>/<metric>/accuracy")
@require("read")
@bp.doc(responses=openapi.ok(schemas.ACCURACY))
def get_accuracy(service: str, metric: str) -> Any:
    """Backtest scores of the newest forecast, and live accuracy of stored forecasts against later actuals.

    Live accuracy is read from the forecast ledger, as `capacity accuracy` prints it."""

    service, metric = series_key(service, metric)
    return series_accuracy(store(), service, metric, drift_ratio=state().settings.drift_ratio)
