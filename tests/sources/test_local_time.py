"""Local time read with a zone lands on the instants it was written from: any zone (with or without DST, a 30-minute
change, the southern hemisphere), any step, a file running forward or backward; the only refusal is a repeated
wall-clock time the file gives once (a range that starts or ends inside the repeated hour), named by its row."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from capacity.timestamps import ZoneMismatch, localize, parse_column

ZONES = ("Europe/Berlin", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe", "Asia/Tokyo", "UTC")


@settings(max_examples=150, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    start=st.datetimes(min_value=pd.Timestamp("2005-01-01"), max_value=pd.Timestamp("2030-12-31")),
    step=st.sampled_from(["15min", "30min", "1h"]),
    periods=st.integers(min_value=1, max_value=24 * 8),
    backward=st.booleans(),
    near_change=st.booleans(),
)
def test_wall_clock_text_in_a_zone_reads_back_as_the_instants_it_was_written_from(
    zone: str, start: pd.Timestamp, step: str, periods: int, backward: bool, near_change: bool
) -> None:
    first = pd.Timestamp(start).floor(step).tz_localize("UTC")
    if near_change:  # start a few hours before the zone's next change of offset, so most runs cross one
        stamps = pd.date_range(first, periods=24 * 200, freq="1h")
        offsets = stamps.tz_convert(zone).map(lambda t: t.utcoffset())
        changes = stamps[1:][offsets[1:] != offsets[:-1]]
        if len(changes):
            first = changes[0] - pd.Timedelta(hours=periods // 2 * pd.Timedelta(step) / pd.Timedelta("1h"))
            first = first.floor(step)
    utc = pd.date_range(first, periods=periods, freq=step)
    if backward:
        utc = utc[::-1]
    raw = pd.Series([f"{t:%Y-%m-%d %H:%M:%S}" for t in utc.tz_convert(zone)], dtype=object)
    ts, refused = parse_column(raw)
    assert not refused.any()
    try:
        out = localize(ts, raw, zone)
    except ZoneMismatch as exc:
        wall = raw.iloc[exc.position]
        assert "happens twice" in exc.what and (raw == wall).sum() == 1, (exc.what, wall)
        return
    assert pd.DatetimeIndex(out).equals(pd.DatetimeIndex(utc))
