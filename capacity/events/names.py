"""Event names: what one may hold, written once as a regular expression that the server's validation and the OpenAPI
document share.

An event name is addressed by the API as a URL path segment (``/api/v1/events/{name}``), so every rule here is one
that lets an accepted name be read back exactly as it was stored.
"""

from __future__ import annotations

import re

from capacity.errors import InvalidName, describe_value

#: The longest event name (the store's column).
EVENT_NAME_MAX = 128

# An event name must come back from a URL path exactly as it went in: no control characters or angle brackets, no
# "/" (a path separator, decoded before routing), not "." or ".." once stripped (clients resolve those path segments
# away), and something besides the whitespace stripped from its ends (spelled out: the characters str.isspace()
# holds that are not control characters, so that the pattern means the same in Python and in an OpenAPI validator).
# Lone UTF-16 surrogates are refused too, apart from the pattern (see SURROGATE).
_EVENT_WS = r" \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_EVENT_BAD = r"\x00-\x1f\x7f<>/"
_EVENT_ANY = rf"[^{_EVENT_BAD}]"
_EVENT_EDGE = rf"[^{_EVENT_BAD}{_EVENT_WS}]"
_EVENT_EDGE_NOT_DOT = rf"[^{_EVENT_BAD}{_EVENT_WS}.]"
#: An event name as a regular expression (the OpenAPI document states this one): optional whitespace around a core
#: that starts and ends with another character and is not ``.`` or ``..``.
EVENT_NAME_PATTERN = (
    rf"^[{_EVENT_WS}]*(?:{_EVENT_EDGE_NOT_DOT}|{_EVENT_EDGE_NOT_DOT}{_EVENT_EDGE}|\.{_EVENT_EDGE_NOT_DOT}"
    rf"|{_EVENT_EDGE}{_EVENT_ANY}+{_EVENT_EDGE})[{_EVENT_WS}]*$"
)
_EVENT_NAME_RE = re.compile(EVENT_NAME_PATTERN)
#: A lone UTF-16 surrogate (JSON can spell one as ``\ud800``): not text, so it cannot be stored or put in a URL. It is
#: checked apart from the pattern, which cannot name surrogates and still compile in every validator (Rust's regex
#: engine, which schemathesis validates with, refuses them), and no conforming JSON text holds one (RFC 8259 8.2).
SURROGATE = re.compile(r"[\ud800-\udfff]")


def _non_empty(value: object, field: str) -> str:
    """The checks every event name passes, strict or loose: text, not blank, at most :data:`EVENT_NAME_MAX` long."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidName(f"{field} must be a non-empty name, got {describe_value(value)}", field=field)
    if len(value) > EVENT_NAME_MAX:
        raise InvalidName(
            f"{field} must be at most {EVENT_NAME_MAX} characters, got {len(value)}", field=field
        )
    return value


def validate_event_name(value: object, field: str = "event") -> str:
    """Check an event name (:data:`EVENT_NAME_PATTERN`) and strip the whitespace around it.

    The rules are the ones that let every accepted name be read back through ``/api/v1/events/{name}`` exactly as
    it was stored (an emoji, combining marks and any case round-trip; a "/" or a lone surrogate cannot).

    Raises:
        InvalidName: naming the field, the rule and echoing the value.
    """
    value = _non_empty(value, field)
    if not _EVENT_NAME_RE.fullmatch(value) or SURROGATE.search(value):
        if SURROGATE.search(value):
            why = "may not hold lone UTF-16 surrogates (they are not text)"
        elif value.strip() in (".", ".."):
            why = 'may not be "." or ".." (a URL path cannot address it)'
        elif "/" in value:
            why = 'may not hold "/" (a URL path cannot address it)'
        else:
            why = "may not hold control characters or < >"
        raise InvalidName(f"{field} {why}, got {describe_value(value)}", field=field)
    return value.strip()


_LOOKUP_RE = re.compile(r"^[^\x00-\x1f\x7f<>]+$")


def lookup_event_name(value: object, field: str = "event") -> str:
    """Check a name that looks an event up (``--event``, a delete, a path) and strip it.

    Looser than :func:`validate_event_name`: a calendar written before the URL-path rules may hold a name with "/",
    and it must stay reachable from the command line. Control characters and angle brackets are still refused.

    Raises:
        InvalidName: naming the field and echoing the value.
    """
    value = _non_empty(value, field)
    if not _LOOKUP_RE.fullmatch(value) or SURROGATE.search(value):
        raise InvalidName(
            f"{field} may not hold control characters or < > (or lone surrogates), got {describe_value(value)}",
            field=field,
        )
    return value.strip()
