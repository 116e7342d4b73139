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
from api.state import store, versioned
from capacity.report.render import ReportInput, render_html, render_json
from capacity.services.readiness import readiness_report

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


def _render(fmt: str, report: ReportInput) -> bytes:
    """The report's body in ``fmt`` (html or json), as bytes to share between workers."""
    return (render_html if fmt == "html" else render_json)(report).encode()


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
    # is served from memory until something the report rests on changes. The first read computes the report once
    # for the whole server (the other workers wait for it and read the bodies from the shared directory) and
    # renders both formats, so the next format asked for is not computed again either.
    cache = versioned("reports", 16)
    version = store().fleet.version()
    other = "json" if fmt == "html" else "html"

    def compute() -> bytes:
        report = readiness_report(store(), name)
        cache.put_shared((other, name.lower()), version, _render(other, report))
        return _render(fmt, report)

    body = cache.shared((fmt, name.lower()), version, compute, group=name.lower()).decode()
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
