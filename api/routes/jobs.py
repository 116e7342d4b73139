"""Jobs: a fleet-wide forecast refresh runs as a persisted job (202 + Location), polled for progress."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from apiflask import APIBlueprint, Schema
from apiflask.fields import Boolean, List, String
from apiflask.validators import Length, Regexp
from flask import url_for

from api.http import openapi, params, schemas
from api.http.auth import require
from api.http.render import iso
from api.serving.worker import FORECASTS
from api.state import state, store
from capacity.errors import UnknownSeries
from capacity.schema import check_horizon, duration_steps, validate_name
from capacity.store.jobs import JobInfo

bp = APIBlueprint("jobs", __name__, tag="Jobs")


class ForecastJobIn(Schema):
    """Which series to refresh and how far ahead."""

    service = String(
        validate=[Length(1, 128), Regexp(params.NAME)],
        metadata={"description": "Only this service (default: all)"},
    )
    series = List(
        String(validate=Regexp(params.SERIES_KEY)),
        validate=Length(1, 10_000),
        metadata={"description": "Only these series, as SERVICE/METRIC (each must exist: 404 otherwise)"},
    )
    horizon = String(
        validate=Regexp(params.HORIZON),
        metadata={"description": "How far ahead: 90m, 24h, 14d, 2w (at most 366d; default 14d)"},
    )
    force = Boolean(metadata={"description": "Re-forecast series whose forecast is already current"})


def job_json(job: JobInfo) -> dict[str, Any]:
    """A job as JSON."""
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "total": job.total,
        "done": job.done,
        "failed": job.failed,
        "progress": round(job.done / job.total, 4) if job.total else (1.0 if job.finished else 0.0),
        "attempts": job.attempts,
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
        "heartbeat_at": iso(job.heartbeat_at),
        "error": job.error,
        "failures": job.params.get("failures", []),
        "horizon": job.params.get("horizon"),
    }


@bp.post("/jobs/forecasts")
@require("write")
@bp.input(ForecastJobIn, arg_name="body")
@bp.doc(responses=openapi.accepted(schemas.JOB))
def create_forecast_job(body: dict[str, Any]) -> Any:
    """Start a fleet-wide forecast refresh; 202 with a Location to poll."""
    horizon = body.get("horizon") or state().settings.default_horizon
    steps = duration_steps(horizon, freq="1h")
    check_horizon(horizon)  # the absolute cap; each series' own limit is checked when it is read
    known = [(s.service, s.metric) for s in store().series.list_series() if s.samples > 0]
    keys = known
    if body.get("service"):
        service = validate_name(body["service"], "service")
        keys = [k for k in keys if k[0] == service]
    if body.get("series"):
        wanted = []
        for item in body["series"]:
            service, metric = item.split("/", 1)
            wanted.append((validate_name(service, "service"), validate_name(metric, "metric")))
        missing = [w for w in wanted if w not in set(known)]
        if missing:
            raise UnknownSeries(f"unknown series {missing[0][0]}/{missing[0][1]}", field="series")
        keys = [k for k in keys if k in set(wanted)]
    params = {
        "keys": [list(k) for k in keys],
        "horizon": horizon,
        "horizon_steps": steps,
        "force": bool(body.get("force")),
    }
    job = store().jobs.create_job(FORECASTS, params, total=len(keys))
    location = url_for("jobs.get_job", job_id=job.id)
    return job_json(job), 202, {"Location": location, "Retry-After": "1"}


# A UUID converter: ``/jobs/forecasts`` (POST only) must not also match this GET route, or OPTIONS would advertise
# a GET there that answers 404.
@bp.get("/jobs/<uuid:job_id>")
@require("read")
@bp.doc(responses=openapi.ok(schemas.JOB))
def get_job(job_id: UUID) -> Any:
    """A job's status and progress."""
    return job_json(store().jobs.get_job(str(job_id)))


@bp.get("/jobs")
@require("read")
@bp.doc(responses=openapi.ok(schemas.JOB_LIST))
def list_jobs() -> Any:
    """The 50 newest jobs."""
    return {"jobs": [job_json(j) for j in store().jobs.list_jobs(50)]}
