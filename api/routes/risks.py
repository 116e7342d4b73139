"""The ranked fleet risk table for an event (``?event=NAME``), a date (``?until=ISO_DATE``) or the horizon."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint, Schema
from apiflask.fields import String
from apiflask.validators import Length

from api import openapi, schemas
from api.auth import require
from api.context import store
from api.risks import fleet_risk_run, risk_records
from capacity.errors import InvalidInput
from capacity.risk.assess import status_counts

bp = APIBlueprint("risks", __name__, tag="Risks")


class RiskQuery(Schema):
    """The window: an event's next occurrence, or until a date."""

    event = String(validate=Length(1, 128), metadata={"description": "Assess until the end of this event"})
    until = String(validate=Length(1, 40), metadata={"description": "Assess until this ISO date or time"})


def _until(text: str | None) -> Any:
    if text is None:
        return None
    from capacity.cli.fleet_risks import parse_until

    return parse_until(text)


@bp.get("/risks")
@require("read")
@bp.input(RiskQuery, location="query", arg_name="query")
@bp.doc(responses=openapi.ok(schemas.RISKS))
def get_risks(query: dict[str, Any]) -> Any:
    """The fleet's series ranked by breach probability, first breach time and headroom."""
    if query.get("event") and query.get("until"):
        raise InvalidInput("give event or until, not both", field="until")
    run = fleet_risk_run(store(), query.get("event"), _until(query.get("until")))
    return {
        "window": run.label,
        "event": run.event,
        "counts": status_counts(run.frame) if len(run.frame) else {},
        "risks": risk_records(run.frame),
    }
