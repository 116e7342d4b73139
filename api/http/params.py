"""What a request parameter may hold, written once as a regular expression that both the OpenAPI document and the
server's validation use, so that the document says exactly what the server accepts.

A rule the server checks that a JSON Schema keyword cannot say (a pattern, a bound, a length) is not a rule the
document can promise, so the rules here are chosen to be expressible: a horizon is a whole number of minutes, hours,
days or weeks up to 366 days (the bound is part of the pattern), quantile levels are decimals written ``0.x``, dates
are RFC 3339.
"""

from __future__ import annotations

import re

from marshmallow import ValidationError

from capacity.events.names import EVENT_NAME_PATTERN, SURROGATE


def upto(n: int) -> str:
    """A regular expression matching the decimal integers 1..n written without leading zeros."""
    digits = str(n)
    alternatives = [
        f"[1-9][0-9]{{{length - 1}}}" if length > 1 else "[1-9]" for length in range(1, len(digits))
    ]
    for i, char in enumerate(digits):
        low = 1 if i == 0 else 0
        if int(char) > low:
            rest = len(digits) - i - 1
            tail = f"[0-9]{{{rest}}}" if rest else ""
            alternatives.append(f"{digits[:i]}[{low}-{int(char) - 1}]{tail}")
    alternatives.append(digits)
    return "(?:" + "|".join(alternatives) + ")"


#: The longest horizon a request may ask for, in days (``capacity.services.serving.MAX_HORIZON``).
MAX_HORIZON_DAYS = 366
#: A horizon: a whole number of minutes, hours, days or weeks, at most 366 days.
HORIZON = (
    "^(?:"
    + "|".join(
        (
            upto(MAX_HORIZON_DAYS * 24 * 60) + "m",
            upto(MAX_HORIZON_DAYS * 24) + "h",
            upto(MAX_HORIZON_DAYS) + "d",
            upto(MAX_HORIZON_DAYS // 7) + "w",
        )
    )
    + ")$"
)
#: One quantile level strictly between 0 and 1: ``0.`` and 1 to 4 decimals, not all zero (a forecast column is
#: named after its level, so two levels must not round to one name).
_LEVEL = r"0\.(?:[1-9][0-9]{0,3}|0[1-9][0-9]{0,2}|00[1-9][0-9]?|000[1-9])"
#: Comma-separated quantile levels, 1 to 20 of them, no spaces (a level named twice counts once).
QUANTILES = rf"^{_LEVEL}(?:,{_LEVEL}){{0,19}}$"
#: A service or metric name (``capacity.schema.validate_name``).
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$"
#: An event name (``capacity.events.names.validate_event_name``): printable, addressable in a URL path.
EVENT_NAME = EVENT_NAME_PATTERN

#: What a name the pattern refuses is told (marshmallow's default does not say which rule).
EVENT_NAME_RULE = "{input!r} is not an event name: it may not hold control characters, < > or /, be . or .., or be only spaces"


def _ci(text: str) -> str:
    """``text`` as a case-insensitive pattern (``rps`` -> ``[Rr][Pp][Ss]``)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in text)


#: A request-rate metric name (``capacity.schema.unit_for`` gives ``per_second``): the names load plans exist for.
#: A name starting like a percent (``cpu``, ``mem``) is a percent even when it ends like a rate; one ending like a
#: rate cannot also end like a percent (``_pct``, ``percent``, ``_util``).
_RATE_ENDINGS = ("rps", "qps", "_per_s", "_per_second", "_rate", "requests")
RATE_METRIC = (
    "^(?!(?:"
    + "|".join(_ci(p) for p in ("cpu", "mem"))
    + r"))(?:[A-Za-z0-9][A-Za-z0-9_.:\-]*(?:"
    + "|".join(_ci(s) for s in _RATE_ENDINGS)
    + ")|"
    + "|".join(_ci(s) for s in ("rps", "qps", "requests", "rate"))
    + ")$"
)
#: A job id (``uuid4`` text).
UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
#: A token's label: any text without control characters (``capacity.store.tokens.create_token``).
#: A plan's horizon: whole weeks, 1 to 52 (:func:`capacity.plan.weeks.parse_weeks`).
PLAN_WEEKS = r"^ *0*([1-9]|[1-4][0-9]|5[0-2]) *[wW]? *$"
#: A quarter, 1990Q1 to 2099Q4 (:func:`capacity.plan.weeks.parse_quarter`).
QUARTER = r"^ *(199[0-9]|20[0-9][0-9]) *-? *[Qq][1-4] *$"
#: A signed URL's signature: a hex SHA-256 HMAC (:mod:`api.http.signing`).
SIGNATURE = r"^[0-9a-fA-F]{64}$"
TOKEN_NAME = r"^[^\x00-\x1f]*$"
#: SERVICE/METRIC, as a refresh job names series.
SERIES_KEY = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}/[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$"

# Calendar dates the store can hold (1990..2099), every one of them a real date: month lengths and leap years are
# spelled out so that a date the pattern admits is one the server accepts. The first and last day of the range are
# left out, so that no admitted time with a UTC offset falls outside it once converted to UTC.
_DAYS_31 = r"(?:0[1-9]|[12][0-9]|3[01])"
_DAYS_30 = r"(?:0[1-9]|[12][0-9]|30)"
_DAYS_28 = r"(?:0[1-9]|1[0-9]|2[0-8])"
_MONTH_DAY = rf"(?:(?:0[13578]|1[02])-{_DAYS_31}|(?:0[469]|11)-{_DAYS_30}|02-{_DAYS_28})"
_LEAP_DAYS = r"(?:199[26]|20(?:0[048]|[2468][048]|[13579][26]))-02-29"
_FIRST_YEAR = rf"1990-(?:01-(?:0[2-9]|[12][0-9]|3[01])|(?:0[3578]|1[02])-{_DAYS_31}|(?:0[469]|11)-{_DAYS_30}|02-{_DAYS_28})"
_LAST_YEAR = rf"2099-(?:(?:0[13578]|10)-{_DAYS_31}|12-{_DAYS_30}|(?:0[469]|11)-{_DAYS_30}|02-{_DAYS_28})"
_DATE = rf"(?:(?:199[1-9]|20[0-8][0-9]|209[0-8])-{_MONTH_DAY}|{_LEAP_DAYS}|{_FIRST_YEAR}|{_LAST_YEAR})"
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
_ZONE = r"(?:Z|[+-](?:0[0-9]|1[0-4]):[0-5][0-9])"
#: A date, 1990-01-02..2099-12-30 (``YYYY-MM-DD``).
DATE = rf"^{_DATE}$"
#: An RFC 3339 time with its UTC offset (``2026-11-27T00:00:00Z``), in the same range.
DATE_TIME = rf"^{_DATE}T{_TIME}{_ZONE}$"
#: A date, or a time with or without an offset (a time without one is UTC): an event's start and end.
DATE_OR_TIME = rf"^{_DATE}(?:T{_TIME}{_ZONE}?)?$"
#: The epoch seconds the store can hold (1990-01-01 included, 2100-01-01 excluded).
EPOCH_MIN, EPOCH_MAX = 631_152_000, 4_102_444_800
#: A date (its end is meant) or an RFC 3339 time: how far a risk assessment looks.
UNTIL = rf"^{_DATE}(?:T{_TIME}{_ZONE})?$"


def no_surrogates(value: str) -> None:
    """Refuse text holding a lone UTF-16 surrogate (a validator: no pattern can say it, see
    :data:`capacity.events.names.SURROGATE`); stored or put in a URL it would fail to encode (a 500)."""
    if SURROGATE.search(value):
        raise ValidationError(f"{value!r} holds a lone UTF-16 surrogate, which is not text")
