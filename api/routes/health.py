"""``/healthz`` (liveness and readiness, including the database), ``/metrics`` (Prometheus text), request hooks."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pandas as pd
from apiflask import APIBlueprint
from flask import Flask, Response, g, request

from api import shared_dir as runtime
from api.accuracy import drift_summary
from api.http import openapi, schemas
from api.http.auth import check_scope
from api.http.problems import Problem
from api.http.render import plain
from api.serving.metrics import RequestMetrics, render_series_gauges
from api.state import state
from capacity import __version__
from capacity.services.fleet_risk import risk_gauges
from capacity.store import Store

log = logging.getLogger("capacity.api")

bp = APIBlueprint("health", __name__, tag="Operations")

#: Seconds the per-series gauges are reused between scrapes (they read every forecast).
GAUGE_TTL = 30.0


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


def _gauges() -> list[dict[str, Any]]:
    """Per-series risk and accuracy gauges, recomputed at most every GAUGE_TTL seconds."""
    st = state()
    cached = st.extras.get("fleet_gauges")
    if cached is not None and time.monotonic() - cached[0] < GAUGE_TTL:
        return cached[1]
    lock: threading.Lock = st.extras.setdefault("gauge_lock", threading.Lock())
    with lock:
        cached = st.extras.get("fleet_gauges")
        if cached is not None and time.monotonic() - cached[0] < GAUGE_TTL:
            return cached[1]
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for source in (_risk_gauges, lambda s: drift_summary(s, st.settings.drift_ratio)):
            try:
                for row in source(st.store):
                    rows.setdefault((row["service"], row["metric"]), {}).update(row)
            except Exception:  # gauges are best effort: never fail the scrape
                log.warning("series gauges unavailable", exc_info=True)
        out = list(rows.values())
        st.extras["fleet_gauges"] = (time.monotonic(), out)
        return out


def _risk_gauges(store: Store) -> list[dict[str, Any]]:
    """The fleet's risk gauges as of now, their ratios as JSON-safe numbers."""
    rows = risk_gauges(store, pd.Timestamp(time.time(), unit="s", tz="UTC"))
    for row in rows:
        for key in ("capacity_breach_probability", "capacity_headroom_ratio"):
            row[key] = plain(row[key])
    return rows


@bp.get("/metrics")
@bp.doc(responses=openapi.text_ok("Prometheus text exposition format 0.0.4"))
def metrics() -> Any:
    """Prometheus metrics: request counts and latencies (all worker processes added up), and per series breach
    probability, headroom, days until breach, live forecast error and drift."""
    st = state()
    if not st.settings.metrics_public:
        check_scope("read")
    collector: RequestMetrics = st.extras["request_metrics"]
    lines = collector.render() + render_series_gauges(_gauges())
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
