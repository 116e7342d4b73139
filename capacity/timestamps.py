"""Read the timestamp column of history input: ISO 8601 text, epoch seconds or milliseconds, or datetimes.

Exports name time in many ways. Three are read, because each has one meaning: ISO 8601 text (``2025-10-01
00:00:00``, ``2025-10-01T00:00:00+02:00``, a date alone), epoch seconds and epoch milliseconds (CloudWatch,
Prometheus, Datadog and most APIs export these; between 1990 and 2100 the two never overlap, so each value's unit
follows from its size). Day-first and month-first text (``01.05.2014``, ``05/01/2014``) is refused: read one value
at a time, ``01.05.2014`` is January 5 and ``13.05.2014`` May 13 of the same file, a silent shuffle of the history.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

#: ISO 8601 text: a date, an optional time (``T`` or a space) and an optional zone.
ISO_TEXT = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?|UTC|GMT)?"
)
#: Epoch text: 9-10 digits of seconds (1990 is 631152000), optionally with a fraction, or 12-13 digits of ms.
EPOCH_TEXT = re.compile(r"\d{9,10}(?:\.\d+)?|\d{12,13}")
#: An epoch value at or above this is in milliseconds (1990..2100 is 6.3e8..4.1e9 in seconds, 6.3e11..4.1e12 in ms).
EPOCH_MS_FROM = 1e11
#: Beyond this, no unit gives a date before 2100: the value is shown as out of range rather than read.
_EPOCH_MAX = 1e13

#: How a text timestamp refused for its form is described in an error (after "ts is not ...").
EXPECTED = (
    "an ISO 8601 timestamp (2025-10-01 00:00:00, 2025-10-01T00:00:00+02:00, 2025-10-01) nor epoch seconds or "
    "milliseconds: day-first and month-first dates are ambiguous"
)


def readable(value: object) -> bool:
    """Whether pandas would read ``value`` as some date: a refused value that is readable is refused for its
    form (day-first, month-first, a month name), one that is not is no timestamp at all."""
    try:
        return not pd.isna(pd.Timestamp(str(value)))
    except (ValueError, TypeError, OverflowError):
        return False


def from_epoch(values: pd.Series) -> pd.Series:
    """Epoch seconds or milliseconds (each by its size) as UTC timestamps; a value no unit places before 2100
    becomes 1970-01-01, which the caller's range check (1990..2100) reports with the raw value."""
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
    x = np.where(np.isfinite(x) & (x >= 0) & (x < _EPOCH_MAX), x, 0.0)
    seconds = np.where(x >= EPOCH_MS_FROM, x / 1000.0, x)
    return pd.Series(pd.to_datetime(seconds, unit="s", utc=True), index=values.index)


def parse_column(raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Parse a timestamp column to UTC (naive text is UTC; offsets are converted).

    Returns:
        The timestamps (NaT where a value could not be read) and a mask of the text values refused for their
        form (neither ISO 8601 nor epoch), so the caller can say what is expected.
    """
    if pd.api.types.is_datetime64_any_dtype(raw):
        ts = raw.dt.tz_localize("UTC") if raw.dt.tz is None else raw.dt.tz_convert("UTC")
        return ts, np.zeros(len(raw), dtype=bool)
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        return from_epoch(raw), np.zeros(len(raw), dtype=bool)
    all_text = pd.api.types.infer_dtype(raw, skipna=False) == "string"
    if all_text:
        try:  # the common case, and 4x faster than the checks below: strict ISO 8601 throughout
            return pd.to_datetime(raw, utc=True, format="ISO8601"), np.zeros(len(raw), dtype=bool)
        except (ValueError, TypeError, OverflowError):
            pass
    text = raw.astype(str).str.strip()
    is_text = (
        np.ones(len(raw), dtype=bool)
        if all_text
        else raw.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    )
    epoch = is_text & text.str.fullmatch(EPOCH_TEXT).to_numpy(dtype=bool)
    refused = is_text & ~epoch & ~text.str.fullmatch(ISO_TEXT).to_numpy(dtype=bool)
    rest = ~epoch & ~refused
    if rest.all():
        return pd.to_datetime(raw, utc=True, errors="coerce", format="mixed"), refused
    ts = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]")
    if rest.any():
        ts[rest] = pd.to_datetime(raw[rest], utc=True, errors="coerce", format="mixed")
    if epoch.any():
        ts[epoch] = from_epoch(text[epoch])
    return ts, refused
