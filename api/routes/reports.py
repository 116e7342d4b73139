"""The readiness report of an event: HTML for browsers, JSON for programs (chosen by ``Accept`` or ``?format=``).

The page is the one ``capacity report`` writes (:func:`capacity.services.readiness.readiness_report`, rendered by
:mod:`capacity.report.render`): self-contained, charts embedded as PNG data
URIs, every user-supplied string escaped. It is served with a Content-Security-Policy that allows nothing but
inline styles and data: images.
"""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint, Schema
from apiflask.fields import String
from apiflask.validators import OneOf
from flask import Response, request

from api.http import schemas
from api.http.auth import require
from api.http.problems import Problem
from api.routes.common import event_key
from api.state import state, store
from capacity.report.render import render_html, render_json
from capacity.services.readiness import readiness_report
from capacity.services.versioned import VersionedCache

bp = APIBlueprint("reports", __name__, tag="Reports")

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


REPORT_RESPONSES: Any = {
    200: {
        "description": "The readiness report (HTML or JSON by Accept)",
        "content": {
            "text/html": {"schema": {"type": "string"}},
            "application/json": {"schema": schemas.REPORT},
        },
    },
    406: {"description": "Neither HTML nor JSON is acceptable"},
}


class ReportQuery(Schema):
    """Output format (else chosen by the Accept header)."""

    format = String(validate=OneOf(["html", "json"]), metadata={"description": "html or json"})


@bp.get("/events/<name>/report")
@require("read")
@bp.input(ReportQuery, location="query", arg_name="query")
@bp.doc(responses=REPORT_RESPONSES)
def get_report(name: str, query: dict[str, Any]) -> Any:
    """The readiness report of an event: ranked risks and a chart per at-risk series."""
    name = event_key(name)
    fmt = query.get("format")
    if fmt is None and not request.accept_mimetypes:
        fmt = "json"  # no Accept header: a program
    if fmt is None:
        best = request.accept_mimetypes.best_match(["application/json", "text/html"])
        if best is None:
            raise Problem(406, "this resource is available as text/html or application/json", field="Accept")
        fmt = "html" if best == "text/html" else "json"
    # Cached by the fleet's data version (series data and settings, forecasts, calendar, ledger): a repeated read
    # is served from memory until something the report rests on changes; concurrent first reads compute it once.
    cache: VersionedCache[Any] = state().extras.setdefault("reports", VersionedCache(16))
    version = store().fleet.version()
    report = cache.get(("report", name.lower()), version, lambda: readiness_report(store(), name))
    body = cache.get(
        (fmt, name.lower()), version, lambda: (render_html if fmt == "html" else render_json)(report)
    )
    if fmt == "html":
        return Response(
            body,
            mimetype="text/html",
            headers={
                "Content-Security-Policy": CSP,
                "X-Frame-Options": "DENY",
                "Cache-Control": "private, max-age=30",
            },
        )
    return Response(body, mimetype="application/json")
