"""The peak-event calendar: list, create, read, replace and delete named events and their occurrences."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint, Schema
from apiflask.fields import Float, List, Nested, String
from apiflask.validators import Length, Range, Regexp
from flask import url_for

from api.http import openapi, params, schemas
from api.http.auth import require
from api.http.render import iso
from api.routes.common import event_key
from api.state import state, store
from capacity.errors import UnknownEvent
from capacity.events.calendar import EventOccurrence, check_distinct, make_occurrence

bp = APIBlueprint("events", __name__, tag="Events")


def _multiplier(description: str) -> Float:
    """An optional peak multiplier in (0, 1000] (``exclusiveMinimum`` so that the document says 0 is refused)."""
    return Float(
        allow_none=True,
        validate=Range(0, 1000, min_inclusive=False),
        metadata={"description": description, "exclusiveMinimum": True},
    )


class OccurrenceIn(Schema):
    """One occurrence: a window, an optional multiplier band and an optional service scope."""

    start = String(
        required=True,
        validate=Regexp(params.DATE_OR_TIME),
        metadata={
            "description": "A date (2026-11-27) or a time (2026-11-27T08:00:00Z; without an offset: UTC)"
        },
    )
    end = String(
        required=True,
        validate=Regexp(params.DATE_OR_TIME),
        metadata={"description": "A date (inclusive) or a time (exclusive), after start"},
    )
    multiplier_low = _multiplier("Low end of the expected peak multiplier, in (0, 1000]")
    multiplier_high = _multiplier("High end of the expected peak multiplier, at least multiplier_low")
    service = String(
        allow_none=True,
        validate=[Length(1, 128), Regexp(params.NAME)],
        metadata={"description": "Only this service"},
    )


class EventIn(OccurrenceIn):
    """A new event occurrence, named."""

    name = String(
        required=True,
        validate=[
            Length(1, 128),
            Regexp(params.EVENT_NAME, error=params.EVENT_NAME_RULE),
            params.no_surrogates,
        ],
        metadata={
            "description": "Read back exactly as sent through /api/v1/events/{name}, found in any case; spaces "
            "around it dropped. No /, control characters or < >, not . or .., and no lone UTF-16 surrogate "
            "(not text; a pattern cannot say it)"
        },
    )


class EventPut(Schema):
    """Every occurrence of an event (replaces what is stored)."""

    occurrences = List(
        Nested(OccurrenceIn), required=True, validate=Length(1, 1000), metadata={"uniqueItems": True}
    )


def occurrence_json(occ: EventOccurrence) -> dict[str, Any]:
    """An occurrence as JSON."""
    return {
        "start": iso(occ.start),
        "end": iso(occ.end),
        "multiplier_low": occ.multiplier_low,
        "multiplier_high": occ.multiplier_high,
        "service": occ.service,
    }


def event_json(name: str, occurrences: list[EventOccurrence]) -> dict[str, Any]:
    """An event with its occurrences."""
    return {"name": name, "occurrences": [occurrence_json(o) for o in occurrences]}


def _make(name: str, raw: dict[str, Any], where: str) -> EventOccurrence:
    return make_occurrence(
        name,
        raw["start"],
        raw["end"],
        raw.get("multiplier_low"),
        raw.get("multiplier_high"),
        raw.get("service"),
        where=where,
    )


def _changed() -> None:
    # Events change forecasts (uplifts) and risks: drop rendered caches and the cached freshness records so that
    # the next read sees the series' new calendar digest at once (other processes see it within freshness_ttl_s).
    st = state()
    st.forecasts.clear()
    st.serving.forget_all()


@bp.get("/events")
@require("read")
@bp.doc(responses=openapi.ok(schemas.EVENT_LIST))
def list_events() -> Any:
    """List events with their occurrences."""
    grouped: dict[str, list[EventOccurrence]] = {}
    for occ in store().events.list_events():
        grouped.setdefault(occ.name, []).append(occ)
    return {"events": [event_json(n, occs) for n, occs in grouped.items()]}


@bp.post("/events")
@openapi.rules(
    "end is after start (a date-only end is inclusive of its day)",
    "multiplier_high is at least multiplier_low",
)
@require("write")
@bp.input(EventIn, arg_name="body")
@bp.doc(responses=openapi.ok(schemas.EVENT, "Occurrence stored", status=201))
def create_event(body: dict[str, Any]) -> Any:
    """Add an occurrence of an event (the same name, start and scope updates it)."""
    occ = _make(body["name"], body, "body")
    store().events.add_events([occ], source="api")
    _changed()
    stored = store().events.list_events(occ.name)
    name = stored[0].name  # an event stored in another case keeps its spelling
    return event_json(name, stored), 201, {"Location": url_for("events.get_event", name=name)}


@bp.get("/events/<name>")
@require("read")
@bp.doc(responses=openapi.ok(schemas.EVENT))
def get_event(name: str) -> Any:
    """An event and its occurrences."""
    name = event_key(name)
    occs = store().events.list_events(name)
    if not occs:
        raise UnknownEvent(f"unknown event {name!r}", field="event")
    return event_json(occs[0].name, occs)


@bp.put("/events/<name>")
@openapi.rules(
    "in each occurrence, end is after start (a date-only end is inclusive of its day)",
    "in each occurrence, multiplier_high is at least multiplier_low",
    "no two occurrences share a start and a service (starts count to the whole second; a date is its midnight)",
)
@require("write")
@bp.input(EventPut, arg_name="body")
@bp.doc(responses=openapi.ok(schemas.EVENT))
def put_event(name: str, body: dict[str, Any]) -> Any:
    """Replace every occurrence of an event (creates it when new)."""
    name = event_key(name)
    where = [f"occurrences[{i}]" for i in range(len(body["occurrences"]))]
    occs = [_make(name, raw, w) for raw, w in zip(body["occurrences"], where, strict=True)]
    check_distinct(occs, where)  # 422 naming both, before the store's unique key would refuse the write
    store().events.replace_event(name, occs, source="api")
    _changed()
    return event_json(name, store().events.list_events(name))


@bp.delete("/events/<name>")
@require("admin")
@bp.doc(responses=openapi.no_content())
def delete_event(name: str) -> Any:
    """Delete an event and all its occurrences (admin)."""
    name = event_key(name)
    store().events.delete_event(name)
    _changed()
    return "", 204
