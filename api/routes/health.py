"""``/healthz`` (liveness and readiness, including the database), ``/metrics`` (Prometheus text), request hooks."""

from __future__ import annotations

import logging
import time
from typing import Any

import pandas as pd
from apiflask import APIBlueprint
from flask import Flask, Response, g, request

from api import shared_dir as runtime
from api.http import openapi, schemas
from api.http.auth import check_scope
from api.http.problems import Problem
from api.serving.metrics import RequestMetrics, render_series_gauges
from api.state import state
from capacity import __version__
from capacity.errors import StoreError
from capacity.services.gauges import read_gauges

log = logging.getLogger("capacity.api")

bp = APIBlueprint("health", __name__, tag="Operations")


@bp.get("/healthz")
@bp.doc(responses={**openapi.ok(schemas.HEALTH), 503: "The database is not reachable"})
def healthz() -> Any:
    """Liveness and readiness: 200 when the process answers and the database does, 503 otherwise."""
    st = state()
    db_ok = st.store.ping()
    worker = st.extras.get("worker")
    body = {
        "status": "ok" if db_ok else "unavailable",
        "version": __version__,
        "checks": {
            "database": "ok" if db_ok else "unreachable",
            "job_worker": "running" if worker is not None and worker.is_alive() else "off",
        },
    }
    if not db_ok:
        raise Problem(
            503, "the database is not reachable", title="Service unavailable", headers={"Retry-After": "5"}
        )
    return body


@bp.get("/metrics")
@bp.doc(responses=openapi.text_ok("Prometheus text exposition format 0.0.4"))
def metrics() -> Any:
    """Prometheus metrics: request counts and latencies, and per series risk and accuracy gauges.

    Request counts and latencies are added up over all worker processes; per series: breach probability,
    headroom, time to breach, live forecast error, drift and forecast age, as stored."""
    st = state()
    if not st.settings.metrics_public:
        check_scope("read")
    collector: RequestMetrics = st.extras["request_metrics"]
    # The gauges are rows written when what they rest on changed: a scrape reads them, computes nothing, takes no
    # lock, and so never holds up another request.
    try:
        gauges = read_gauges(st.store, pd.Timestamp(time.time(), unit="s", tz="UTC"), st.settings.drift_ratio)
    except StoreError:  # the request metrics are still worth serving
        log.warning("series gauges unavailable", exc_info=True)
        gauges = []
    lines = collector.render() + render_series_gauges(gauges)
    return Response(
        "\n".join(lines) + "\n",
        mimetype="text/plain",
        content_type="text/plain; version=0.0.4; charset=utf-8",
    )


def register(app: Flask) -> None:
    """Install the request hooks (timing, security headers) and the health blueprint."""
    st = app.extensions["capacity"]
    # Under capacity serve the counts are written to the server's shared directory, so every worker's scrape
    # shows the whole server's totals.
    st.extras["request_metrics"] = RequestMetrics(runtime.metrics_dir())

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        started = g.get("started")
        if started is not None:
            route = request.url_rule.rule if request.url_rule is not None else "unmatched"
            st.extras["request_metrics"].observe(
                request.method, route, response.status_code, time.perf_counter() - started
            )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    app.register_blueprint(bp)
