"""Why a served forecast is stale: the one sentence a response carries next to ``"stale": true``.

A forecast is served stale when the series' data changed after it was made and no newer forecast can be given:
either forecasting the new data failed (the engine's reason is quoted), or computing it is taking longer than the
request's time budget (it goes on in the background and is stored when done).
"""

from __future__ import annotations

from typing import Any


def stale_reason(
    latest: dict[str, Any] | None, data_version: int, served_version: int, budget_s: float | None = None
) -> str:
    """The reason a forecast of data version ``served_version`` is served for data at ``data_version``.

    Args:
        latest: the series' newest forecast run of any status (``status``, ``data_version``, ``error``).
        data_version: the series' current data version.
        served_version: the data version the served forecast was made from.
        budget_s: the per-series time budget of a forecast request, in seconds, when known.
    """
    behind = f"made before the latest data (data version {served_version}, now {data_version})"
    if (
        latest is not None
        and latest.get("status") == "failed"
        and int(latest.get("data_version", -1)) >= data_version
    ):
        lines = str(latest.get("error") or "no reason recorded").strip().splitlines() or [
            "no reason recorded"
        ]
        return f"the last good forecast, {behind}: forecasting the new data failed: {lines[0][:300]}"
    budget = f"the {budget_s:g} s budget" if budget_s is not None else "the request's time budget"
    return (
        f"the last good forecast, {behind}: the new forecast took longer than {budget} "
        "and is being computed in the background"
    )
