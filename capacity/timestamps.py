"""Read the timestamp column of history input: ISO 8601 text, epoch seconds or milliseconds, or datetimes.

Exports name time in many ways. Three are read, because each has one meaning: ISO 8601 text (``2025-10-01
00:00:00``, ``2025-10-01T00:00:00+02:00``, a date alone), epoch seconds and epoch milliseconds (CloudWatch,
Prometheus, Datadog and most APIs export these; between 1990 and 2100 the two never overlap, so each value's unit
follows from its size). Day-first and month-first text (``01.05.2014``, ``05/01/2014``) is refused: read one value
at a time, ``01.05.2014`` is January 5 and ``13.05.2014`` May 13 of the same file, a silent shuffle of the history.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from capacity.errors import InvalidInput

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


#: A text timestamp whose time carries an offset (``Z``, ``+02:00``, ``+0200``, ``+02``, ``UTC``, ``GMT``); the
#: time before it keeps a date's ``-04`` from reading as an offset.
OFFSET_TEXT = re.compile(
    r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[zZ]|UTC|GMT|(?P<sign>[+-])(?P<hours>\d{2}):?(?P<minutes>\d{2})?)$"
)
_HAS_OFFSET = re.compile(re.sub(r"\(\?P<\w+>", "(?:", OFFSET_TEXT.pattern))


def check_zone(name: str) -> str:
    """An IANA time zone name (``Europe/Berlin``, ``America/New_York``, ``UTC``), checked against the zone
    database, so that a typo is an error before any file is read rather than a shift of every sample.

    Raises:
        InvalidInput: naming the zone given.
    """
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"tz must be an IANA time zone name like Europe/Berlin, America/New_York or UTC, got {name!r}",
            field="tz",
        ) from None
    return name


def _written_offsets(text: pd.Series) -> np.ndarray:
    """Each text timestamp's written offset in minutes (``Z``, ``UTC`` and ``GMT`` are 0)."""
    parts = text.str.extract(OFFSET_TEXT)
    sign = np.where(parts["sign"].to_numpy() == "-", -1, 1)
    hours = pd.to_numeric(parts["hours"], errors="coerce").fillna(0).to_numpy()
    minutes = pd.to_numeric(parts["minutes"], errors="coerce").fillna(0).to_numpy()
    return np.asarray(sign * (hours * 60 + minutes), dtype="int64")


def _offset(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


#: What to do with a local time the zone skips or repeats and the file does not place: refuse the file naming the
#: row, or shift (a skipped time is read an hour later, as the clocks moved; a repeated hour given once as the
#: first of the two). Hour-ending exports (PJM's load data) label the hour the clocks skip.
DST_POLICIES: tuple[str, ...] = ("refuse", "shift")


def localize(
    ts: pd.Series, raw: pd.Series, zone: str, keys: np.ndarray | None = None, dst: str = "refuse"
) -> pd.Series:
    """Read the timestamps that carry no offset as wall-clock time in ``zone``; return every timestamp in UTC.

    Exports from dashboards and spreadsheets often write local time without an offset. Two hours a year a local
    time does not name one instant: when the clocks go forward an hour of wall-clock times never happens, and
    when they go back an hour happens twice. A repeated hour given twice is read in the order of the file (the
    first one is before the change in a file that runs forward in time, after it in one that runs backward). A
    skipped time, and a repeated hour that a series gives once, are refused, or with ``dst="shift"`` read an hour
    later and as the first of the two (see :data:`DST_POLICIES`).
    Epoch values are instants already and stay as they are; a timestamp with an offset must agree with the zone
    at that instant (a file in UTC read with ``--tz Europe/Berlin`` is refused, not shifted twice).

    Args:
        ts: the column as :func:`parse_column` read it (text without an offset read as UTC).
        raw: the column as given, to tell text without an offset from text with one and from epoch values.
        zone: a name that passed :func:`check_zone`.
        keys: a series id per row, so a repeated hour is counted within each series of a long file.
        dst: one of :data:`DST_POLICIES`.

    Returns:
        The timestamps in UTC, in the same order.

    Raises:
        ZoneMismatch: naming the position of the first row that cannot be read in ``zone`` and why.
    """
    if pd.api.types.is_datetime64_any_dtype(raw):
        naive = np.full(len(raw), raw.dt.tz is None)
        offset = np.zeros(len(raw), dtype=bool)
    elif pd.api.types.is_numeric_dtype(raw):
        return ts
    else:
        is_text = raw.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
        text = raw.astype(str).str.strip()
        epoch = text.str.fullmatch(EPOCH_TEXT).to_numpy(dtype=bool) | ~is_text
        offset = ~epoch & text.str.contains(_HAS_OFFSET).to_numpy(dtype=bool)
        naive = ~epoch & ~offset
        if offset.any():
            _check_offsets(ts, text, offset, zone)
    if not naive.any():
        return ts
    wall = ts[naive].dt.tz_localize(None)
    shift = dst == "shift"
    skipped: Any = pd.Timedelta(hours=1) if shift else "NaT"
    earlier = wall.dt.tz_localize(zone, ambiguous=np.ones(len(wall), dtype=bool), nonexistent=skipped)
    later = wall.dt.tz_localize(zone, ambiguous=np.zeros(len(wall), dtype=bool), nonexistent="NaT")
    positions = np.flatnonzero(naive)
    gap = later.isna().to_numpy()
    if gap.any() and not shift:
        raise ZoneMismatch(
            int(positions[np.argmax(gap)]),
            f"does not exist in {zone} (the clocks skip that hour when summer time begins): is the file in "
            "another zone, or are its labels hour-ending? --dst shift reads it as the hour after",
        )
    twice = (earlier != later).to_numpy() & ~gap
    chosen = _ns(earlier)
    if twice.any():
        group = pd.Series(
            keys[naive] if keys is not None else np.zeros(len(wall), dtype=int), index=wall.index
        )
        frame = pd.DataFrame({"key": group, "wall": wall})[twice]
        seen = frame.groupby(["key", "wall"], sort=False).cumcount().to_numpy()
        count = frame.groupby(["key", "wall"], sort=False)["wall"].transform("size").to_numpy()
        steps = np.diff(wall.to_numpy().astype("int64"))
        forward = len(steps) == 0 or np.median(steps) >= 0
        first = seen == 0 if forward else seen == count - 1
        if shift:
            first |= count == 1
        unplaced = count > 2 if shift else count != 2
        if unplaced.any():
            bad = int(np.argmax(unplaced))
            times = "once" if count[bad] == 1 else f"{count[bad]} times"
            raise ZoneMismatch(
                int(positions[np.flatnonzero(twice)[bad]]),
                f"happens twice in {zone} (the clocks go back an hour) but the series gives it {times}, so "
                "which is meant is unknown: export with UTC offsets, "
                + (
                    "delete the row, or give --dst shift (a repeated hour given once is then the first of the two)"
                    if count[bad] == 1
                    else "or keep one row per reading"
                ),
            )
        chosen[twice] = np.where(first, chosen[twice], _ns(later)[twice])
    out = _ns(ts)
    out[naive] = chosen
    return pd.Series(pd.to_datetime(out, unit="ns", utc=True), index=ts.index)


def _ns(stamps: pd.Series) -> np.ndarray:
    """Aware timestamps as int64 nanoseconds since the epoch (UTC): fast to pick from and assign."""
    return np.asarray(pd.DatetimeIndex(stamps).tz_convert("UTC").asi8, dtype="int64").copy()


def _check_offsets(ts: pd.Series, text: pd.Series, offset: np.ndarray, zone: str) -> None:
    utc = ts[offset]
    local = utc.dt.tz_convert(zone).dt.tz_localize(None)
    zone_minutes = ((local - utc.dt.tz_localize(None)) / pd.Timedelta(minutes=1)).to_numpy().astype("int64")
    written = _written_offsets(text[offset])
    differ = zone_minutes != written
    if differ.any():
        bad = int(np.argmax(differ))
        raise ZoneMismatch(
            int(np.flatnonzero(offset)[bad]),
            f"has the offset {_offset(int(written[bad]))}, but {zone} was at {_offset(int(zone_minutes[bad]))} "
            "then: --tz gives the zone of timestamps written without an offset; drop it, or give the zone the "
            "file was written in",
        )


@dataclass(frozen=True)
class LocalTime:
    """How to read timestamps written without an offset: as wall-clock time in ``zone`` (checked with
    :func:`check_zone`), with ``dst`` one of :data:`DST_POLICIES`."""

    zone: str
    dst: str = "refuse"


class ZoneMismatch(Exception):
    """A row that cannot be read in the zone asked for: the caller names the file and the row."""

    def __init__(self, position: int, what: str) -> None:
        super().__init__(what)
        self.position = position
        self.what = what
