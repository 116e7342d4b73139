"""The ranked fleet risk table for an event (``?event=NAME``), a date (``?until=ISO_DATE``) or the horizon."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint, Schema
from apiflask.fields import String
from apiflask.validators import Length, Regexp

from api.http import openapi, params, schemas
from api.http.auth import require
from api.http.render import risk_records
from api.state import state, store
from capacity.errors import InvalidInput
from capacity.risk.assess import status_counts
from capacity.services.fleet_risk import load_fleet_risks, parse_until
from capacity.services.versioned import VersionedCache

bp = APIBlueprint("risks", __name__, tag="Risks")


class RiskQuery(Schema):
    """The window: an event's next occurrence, or until a date."""

    event = String(
        validate=[
            Length(1, 128),
            Regexp(params.EVENT_NAME, error=params.EVENT_NAME_RULE),
            params.no_surrogates,
        ],
        metadata={"description": "Assess until the end of this event (not with until)"},
    )
    until = String(
        validate=Regexp(params.UNTIL),
        metadata={
            "description": "Assess until this date (its end) or RFC 3339 time, e.g. 2026-11-30 (not with event)"
        },
    )


def _until(text: str | None) -> Any:
    return None if text is None else parse_until(text)


@bp.get("/risks")
@openapi.rules("event or until, not both")
@require("read")
@bp.input(RiskQuery, location="query", arg_name="query")
@bp.doc(responses=openapi.ok(schemas.RISKS))
def get_risks(query: dict[str, Any]) -> Any:
    """The fleet's series ranked by breach probability, first breach time and headroom."""
    if query.get("event") and query.get("until"):
        raise InvalidInput("give event or until, not both", field="until")
    until = _until(query.get("until"))

    def rank() -> dict[str, Any]:
        run = load_fleet_risks(store(), event=query.get("event"), until=until)
        return {
            "window": run.label,
            "event": run.event,
            "counts": status_counts(run.frame) if len(run.frame) else {},
            "risks": risk_records(run.frame),
        }

    # Cached by the fleet's data version: the same ranking is served until a series, forecast or event changes.
    cache: VersionedCache[dict[str, Any]] = state().extras.setdefault("risks", VersionedCache(32))
    key = ((query.get("event") or "").lower(), until)
    return cache.get(key, store().fleet.version(ledger=False), rank)  # the ranking shows no live accuracy
