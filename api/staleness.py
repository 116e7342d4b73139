"""Why a served forecast is stale: the one sentence a response carries next to ``"stale": true``.

A forecast is served stale when it is behind its series and no newer forecast can be given. It is behind when the
series' data changed after it was made (``data_version``), or when the events calendar that applies to the series
changed (``events_digest``: an event added, changed or deleted, fleet-wide or for its service), since forecasts
apply learned uplifts and planner multipliers. No newer forecast can be given when forecasting again failed (the
engine's reason is quoted), or when computing it takes longer than the request's time budget (it goes on in the
background and is stored when done).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from capacity.store.staleness import forecast_behind


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
