"""Signed chart URLs: a caller with the ``read`` scope gets a short-lived URL of a series' chart that a page can embed
(an ``<img>`` tag or a Grafana panel sends no bearer header); see :mod:`api.http.signing`."""

from __future__ import annotations

from typing import Any

import pandas as pd
from apiflask import APIBlueprint, Schema
from apiflask.fields import Integer, String
from apiflask.validators import OneOf, Range
from flask import request, url_for

from api.http import openapi, schemas, signing
from api.http.auth import require
from api.http.render import iso
from api.routes.common import series_key
from api.state import state, store

bp = APIBlueprint("charts", __name__, tag="Forecasts")

#: Each chart a signed URL can name, and the endpoint that draws it.
CHARTS = {"forecast": "forecasts.get_forecast_png", "plan": "plans.get_series_plan_chart"}


class ChartUrlQuery(Schema):
    """Which chart, and for how long."""

    chart = String(
        load_default="forecast",
        validate=OneOf(sorted(CHARTS)),
        metadata={"description": "forecast (forecast.png) or plan (plan.png)"},
    )
    ttl = Integer(
        load_default=signing.DEFAULT_TTL_S,
        validate=Range(1, signing.MAX_TTL_S),
        metadata={"description": f"Seconds the URL stays valid (at most {signing.MAX_TTL_S})"},
    )


@bp.get("/series/<service>/<metric>/chart-url")
@require("read")
@bp.input(ChartUrlQuery, location="query", arg_name="query")
@bp.doc(responses=openapi.ok(schemas.CHART_URL, "A signed URL of the chart"))
def get_chart_url(service: str, metric: str, query: dict[str, Any]) -> Any:
    """A signed, short-lived URL of the series' chart that needs no token, for an img tag or Grafana.

    The URL is `…/forecast.png?expires=…&signature=…` (or `plan.png`). Add `horizon`/`quantiles` to it as you
    like: only the path and the expiry are signed."""
    service, metric = series_key(service, metric)
    store().series.describe(service, metric)  # 404 for an unknown series
    path = url_for(CHARTS[query["chart"]], service=service, metric=metric)
    signed, expires = signing.sign(state(), path, query["ttl"])
    return {
        "chart": query["chart"],
        "path": signed,
        "url": request.host_url.rstrip("/") + signed,
        "expires": expires,
        "expires_at": iso(pd.Timestamp(expires, unit="s", tz="UTC")),
    }
