"""Who uses the one staleness rule: which series to forecast again, and what to tell a user about a stale forecast.

The rule itself (a run is *behind* its series when the samples or the events that apply to it changed since it was
made; a series *needs a forecast* when it has none, its newest run failed, or its newest run is behind) is
:mod:`capacity.store.staleness`, next to the one query that applies it to every series. Here are its callers that
both edges share: ``capacity forecast --stale`` and the API's refresh job (:func:`stale_keys`), the note on a risk
that rests on a stale forecast (:func:`stale_notes`), and the sentence the API serves next to ``"stale": true``
(:func:`stale_reason`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from capacity.store import SeriesInfo, Store, StoredForecast
from capacity.store.staleness import FRESH, NEVER, calendar_changed, forecast_behind

#: How the note on a risk resting on an out-of-date forecast begins.
STALE_NOTE = "stale forecast"


def stale_keys(store: Store, keys: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The series of ``keys`` whose newest run is not a successful forecast of their current data and calendar.

    A forecast is stale when samples changed since it was made (``data_version``) or when the events that apply
    to its series changed (``events_digest``: an event added, changed or deleted, fleet-wide or for its service);
    a series with no run, or whose newest run failed, needs one too. The rule is :mod:`capacity.store.staleness`'s
    (one query for every series); a key the store does not hold is returned (forecasting it records why not).
    """
    needs = store.forecasts.forecast_staleness()
    return [key for key in keys if needs.get(key, NEVER) != FRESH]


def calendar_write_effect(
    store: Store, before: dict[tuple[str, str], str | None]
) -> tuple[set[tuple[str, str]], list[tuple[str, str]]]:
    """What a calendar write did: the series whose events it changed, and which of them now need a forecast.

    Args:
        store: the store written to.
        before: ``store.events.calendar_digests()`` from before the write.

    Returns:
        The series whose calendar digest changed, and those of them whose forecast is now stale (sorted).
    """
    after = store.events.calendar_digests()
    changed = {key for key, digest in after.items() if before.get(key, digest) != digest}
    if not changed:
        return changed, []
    return changed, [key for key in store.events.calendar_stale_series() if key in changed]


def behind(data_version: int, events_digest: str | None, info: SeriesInfo) -> bool:
    """True when a run of ``data_version`` made with the events of ``events_digest`` is behind its series: the
    samples changed since, or the events calendar that applies to the series did."""
    return forecast_behind(data_version, events_digest, info.data_version, info.events_digest)


def stale_notes(info: SeriesInfo, stored: StoredForecast) -> tuple[str, ...]:
    """A note when the forecast a risk rests on is out of date: made before the latest samples or before the
    series' events calendar changed (refresh with ``capacity forecast --all --stale``)."""
    if not forecast_behind(stored.data_version, stored.events_digest, info.data_version, info.events_digest):
        return ()
    why = []
    if stored.data_version != info.data_version:
        why.append(f"before the latest data (data version {stored.data_version}, now {info.data_version})")
    if calendar_changed(stored.events_digest, info.events_digest):
        why.append("before the events calendar changed")
    return (f"{STALE_NOTE}: made {' and '.join(why)}; refresh with capacity forecast --all --stale",)


def _iso(ts: pd.Timestamp) -> str:
    return pd.Timestamp(ts).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def stale_reason(
    latest: dict[str, Any] | None,
    data_version: int,
    served_version: int,
    budget_s: float | None = None,
    *,
    events_stale: bool = False,
    events_digest: str | None = None,
    events_changed_at: pd.Timestamp | None = None,
) -> str:
    """The reason a forecast of data version ``served_version`` is served for data at ``data_version``.

    Args:
        latest: the series' newest forecast run of any status (``status``, ``data_version``, ``events_digest``,
            ``error``).
        data_version: the series' current data version.
        served_version: the data version the served forecast was made from.
        budget_s: the per-series time budget of a forecast request, in seconds, when known.
        events_stale: True when the served forecast was made with other events than the series' calendar has now.
        events_digest: the digest of the series' calendar now (to tell whether a failed newer run was current).
        events_changed_at: when the series' calendar last changed, when known.
    """
    data_behind = served_version < data_version
    parts = []
    if data_behind or not events_stale:
        parts.append(f"made before the latest data (data version {served_version}, now {data_version})")
    if events_stale:
        when = f" (changed at {_iso(events_changed_at)})" if events_changed_at is not None else ""
        parts.append(f"{'before' if parts else 'made before'} the events calendar changed{when}")
    behind = " and ".join(parts)
    if (
        latest is not None
        and latest.get("status") == "failed"
        and not forecast_behind(
            int(latest.get("data_version", -1)), latest.get("events_digest"), data_version, events_digest
        )
    ):
        lines = str(latest.get("error") or "no reason recorded").strip().splitlines() or [
            "no reason recorded"
        ]
        what = "the new data" if data_behind else "with the new calendar"
        return f"the last good forecast, {behind}: forecasting {what} failed: {lines[0][:300]}"
    budget = f"the {budget_s:g} s budget" if budget_s is not None else "the request's time budget"
    return (
        f"the last good forecast, {behind}: the new forecast took longer than {budget} "
        "and is being computed in the background"
    )
