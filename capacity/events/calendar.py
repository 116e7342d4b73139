"""The peak-event calendar: named events with past and upcoming occurrences.

An occurrence is a window ``[start, end)`` in UTC, optionally scoped to one service, optionally carrying a
planner-given expected multiplier band (``multiplier_low`` .. ``multiplier_high``, e.g. 2x to 3x normal traffic;
in a CSV also as one ``uplift`` column, ``1.3..1.8`` or ``1.5``).
Whether an occurrence is past or upcoming is relative to a reference time the caller passes: the engine never
reads the clock.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from capacity.errors import InvalidConfig, UnknownEvent, describe_value
from capacity.events.names import validate_event_name
from capacity.schema import parse_timestamp, validate_name

EVENT_CSV_COLUMNS = ("event", "start", "end")
EVENT_CSV_OPTIONAL = ("multiplier_low", "multiplier_high", "uplift", "service")
#: Separator of a planner band written as one value: ``1.3..1.8``.
BAND_SEPARATOR = ".."


@dataclass(frozen=True)
class EventOccurrence:
    """One occurrence of a named peak event.

    Attributes:
        name: the event's name, e.g. ``Black Friday``.
        start: first instant of the window (UTC).
        end: end of the window (UTC, exclusive).
        multiplier_low: planner-given lower bound of the expected multiplier on normal load, if any.
        multiplier_high: planner-given upper bound of the expected multiplier, if any.
        service: the service it applies to, or None for the whole fleet.
    """

    name: str
    start: pd.Timestamp
    end: pd.Timestamp
    multiplier_low: float | None = None
    multiplier_high: float | None = None
    service: str | None = None

    @property
    def has_multiplier(self) -> bool:
        """True when a planner gave an expected multiplier band."""
        return self.multiplier_low is not None

    def applies_to(self, service: str) -> bool:
        """True when the occurrence covers ``service`` (fleet-wide ones cover every service)."""
        return self.service is None or self.service == service


def make_occurrence(
    name: object,
    start: object,
    end: object,
    multiplier_low: object = None,
    multiplier_high: object = None,
    service: object = None,
    *,
    where: str = "",
) -> EventOccurrence:
    """Validate raw fields into an :class:`EventOccurrence`.

    A date-only ``end`` (or one at 23:59) is taken as inclusive of that day. A single multiplier is used for both
    bounds.

    Raises:
        InvalidConfig: naming the field (and ``where``, e.g. ``events.csv row 4``) and echoing the value.
    """
    prefix = f"{where}: " if where else ""
    try:
        event = validate_event_name(name, "event")
        ts_start = parse_timestamp(start, "start")
        ts_end = parse_timestamp(end, "end")
    except InvalidConfig:
        raise
    except Exception as exc:  # InvalidHistory / InvalidName carry the field; re-raise as config errors
        raise InvalidConfig(f"{prefix}{exc}", field=getattr(exc, "field", None)) from None
    if isinstance(end, str) and len(end.strip()) <= 10:
        ts_end = ts_end + pd.Timedelta(days=1)
    elif ts_end.second == 0 and ts_end.minute == 59 and ts_end.hour == 23:
        ts_end = ts_end + pd.Timedelta(minutes=1)
    if ts_end <= ts_start:
        raise InvalidConfig(
            f"{prefix}end must be after start, got start {ts_start.isoformat()} and end {ts_end.isoformat()}",
            field="end",
        )
    low = _multiplier(multiplier_low, "multiplier_low", prefix)
    high = _multiplier(multiplier_high, "multiplier_high", prefix)
    if low is None and high is not None:
        low = high
    if high is None and low is not None:
        high = low
    if low is not None and high is not None and high < low:
        raise InvalidConfig(
            f"{prefix}multiplier_high must be at least multiplier_low, got {low} and {high}",
            field="multiplier_high",
        )
    svc: str | None = None
    if service is not None and not (isinstance(service, float) and pd.isna(service)) and service != "":
        try:
            svc = validate_name(service, "service")
        except Exception as exc:
            raise InvalidConfig(f"{prefix}{exc}", field="service") from None
    return EventOccurrence(event, ts_start, ts_end, low, high, svc)


def _multiplier(value: object, field: str, prefix: str) -> float | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value == "":
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidConfig(
            f"{prefix}{field} must be a number, got {describe_value(value)}", field=field
        ) from None
    if not 0.0 < number <= 1000.0:
        raise InvalidConfig(f"{prefix}{field} must be in (0, 1000], got {describe_value(value)}", field=field)
    return number


def parse_uplift(value: object, field: str = "uplift", where: str = "") -> tuple[float, float] | None:
    """A planner band written as one value: ``LOW..HIGH`` (``1.3..1.8``) or a single multiplier (``1.5``); None
    when empty.

    Raises:
        InvalidConfig: naming the field (and ``where``) and echoing the value, when it is not such a band.
    """
    prefix = f"{where}: " if where else ""
    if value is None or (isinstance(value, float) and pd.isna(value)) or str(value).strip() == "":
        return None
    text = str(value).strip()
    parts = text.split(BAND_SEPARATOR) if BAND_SEPARATOR in text else [text, text]
    if len(parts) != 2:
        raise InvalidConfig(
            f"{prefix}{field} must be a multiplier band like 1.3..1.8 (or one multiplier like 1.5), "
            f"got {describe_value(value)}",
            field=field,
        )
    low = _multiplier(parts[0].strip(), field, prefix)
    high = _multiplier(parts[1].strip(), field, prefix)
    if low is None or high is None:
        raise InvalidConfig(
            f"{prefix}{field} must be a multiplier band like 1.3..1.8, got {describe_value(value)}",
            field=field,
        )
    if high < low:
        raise InvalidConfig(
            f"{prefix}{field} must run from low to high (like 1.3..1.8), got {describe_value(value)}",
            field=field,
        )
    return low, high


def parse_events_csv(text: str, *, source: str = "events") -> tuple[EventOccurrence, ...]:
    """Parse an events CSV: ``event,start,end[,uplift | multiplier_low,multiplier_high][,service]``.

    ``uplift`` is the planner band in one column (``1.3..1.8`` or ``1.5``); a row gives it or the two
    ``multiplier_*`` columns, not both.

    Raises:
        InvalidConfig: on a missing column or a bad row, naming the row (as numbered in the file).
    """
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InvalidConfig(f"{source}: not a readable CSV file ({str(exc).splitlines()[0]})") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in EVENT_CSV_COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidConfig(
            f"{source}: missing column {missing[0]!r} "
            "(expected event,start,end[,uplift | multiplier_low,multiplier_high][,service])",
            field=missing[0],
        )
    out = []
    records: list[dict[str, str]] = frame.to_dict(orient="records")  # type: ignore[assignment]
    for pos, record in enumerate(records):
        where = f"{source} row {pos + 2}"
        low: object = record.get("multiplier_low")
        high: object = record.get("multiplier_high")
        band = parse_uplift(record.get("uplift"), "uplift", where)
        if band is not None:
            if any(str(v or "").strip() for v in (low, high)):
                raise InvalidConfig(
                    f"{where}: give uplift or multiplier_low/multiplier_high, not both, got uplift "
                    f"{describe_value(record.get('uplift'))} and multiplier_low {describe_value(low)}",
                    field="uplift",
                )
            low, high = band
        out.append(
            make_occurrence(
                record["event"], record["start"], record["end"], low, high, record.get("service"), where=where
            )
        )
    check_distinct(out, [f"{source} row {pos + 2}" for pos in range(len(out))])
    return tuple(out)


def occurrence_key(occ: EventOccurrence) -> tuple[str, int, str | None]:
    """The identity the store gives an occurrence: its event's name in any case, its start in whole seconds (what
    the store keeps) and its scope. Two occurrences with one key are one row, so a batch must not hold both."""
    return occ.name.lower(), int(occ.start.timestamp()), occ.service


def check_distinct(occurrences: Sequence[EventOccurrence], where: Sequence[str] | None = None) -> None:
    """Refuse a batch in which two occurrences of an event share a start (to the second) and a scope.

    The store would keep only one of them (or refuse the whole write), so the batch is refused before anything is
    stored, naming both places and the repeated start.

    Args:
        occurrences: the batch, in the order it was given.
        where: how each occurrence is named in an error (``occurrences[2]``, ``events.csv row 5``).

    Raises:
        InvalidConfig: on the first repeat, with field ``start``.
    """
    seen: dict[tuple[str, int, str | None], int] = {}
    for i, occ in enumerate(occurrences):
        key = occurrence_key(occ)
        first = seen.setdefault(key, i)
        if first != i:
            here, there = (
                (where[i], where[first]) if where else (f"occurrence {i + 1}", f"occurrence {first + 1}")
            )
            start = pd.Timestamp(key[1], unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
            scope = f"service {occ.service!r}" if occ.service else "the whole fleet"
            raise InvalidConfig(
                f"{here}: start {start} repeats the start of {there} (event {occ.name!r}, {scope}): "
                "each occurrence of an event needs its own start (to the second) per scope",
                field="start",
            )


def events_named(calendar: Iterable[EventOccurrence], name: str) -> tuple[EventOccurrence, ...]:
    """Every occurrence of the event ``name`` (case-insensitive), sorted by start."""
    key = name.strip().lower()
    return tuple(sorted((e for e in calendar if e.name.lower() == key), key=lambda e: e.start))


def next_occurrence(
    calendar: Sequence[EventOccurrence], name: str | None, after: pd.Timestamp, service: str | None = None
) -> EventOccurrence:
    """The first occurrence of ``name`` (or of any event when None) that ends after ``after``.

    Raises:
        UnknownEvent: when the calendar has no such upcoming occurrence.
    """
    pool = events_named(calendar, name) if name else tuple(sorted(calendar, key=lambda e: e.start))
    pool = tuple(e for e in pool if service is None or e.applies_to(service))
    upcoming = [e for e in pool if e.end > after]
    if not upcoming:
        known = sorted({e.name for e in calendar})
        what = f"event {name!r}" if name else "any event"
        raise UnknownEvent(
            f"no upcoming occurrence of {what} after {after.isoformat()}; known events: {', '.join(known) or 'none'}",
            field="event",
        )
    return upcoming[0]


def event_window(
    calendar: Sequence[EventOccurrence], name: str, after: pd.Timestamp, service: str
) -> tuple[EventOccurrence, bool]:
    """The occurrence of ``name`` whose window a series of ``service`` is assessed over, and whether it applies.

    The next occurrence that covers ``service`` when there is one; else the next occurrence of any scope (an event
    scoped to another service), flagged False: a risk run for that event still asks every series whether it breaches
    before the event ends, only without the event's uplift. Without this, an event added with ``--service checkout``
    turned every other series of ``capacity risks --event`` into ``unknown``.

    Raises:
        UnknownEvent: when no occurrence of ``name`` of any scope ends after ``after``.
    """
    try:
        return next_occurrence(calendar, name, after, service), True
    except UnknownEvent:
        return next_occurrence(calendar, name, after), False


def past_occurrences(
    calendar: Iterable[EventOccurrence], name: str, before: pd.Timestamp, service: str | None = None
) -> tuple[EventOccurrence, ...]:
    """Occurrences of ``name`` that ended at or before ``before`` (and apply to ``service`` when given)."""
    return tuple(
        e
        for e in events_named(calendar, name)
        if e.end <= before and (service is None or e.applies_to(service))
    )
