"""The fleet risk table over HTTP: the store wiring is ``capacity.cli.fleet_risks.load_fleet_risks``; here its frame
becomes JSON, and per-series gauges for ``/metrics``."""

from __future__ import annotations

import math
import time
from typing import Any

import pandas as pd

from api.forecasting import iso
from capacity.store import Store


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return iso(value)
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 6)
    if hasattr(value, "item"):  # numpy scalars
        return _plain(value.item())
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def risk_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The ranked risk frame as JSON-ready dicts (ISO timestamps, no NaN), with a rank column."""
    out = []
    for i, rec in enumerate(frame.to_dict(orient="records"), start=1):
        row = {"rank": i, **{str(k): _plain(v) for k, v in rec.items()}}
        for key in INTEGER_COLUMNS:  # a column with gaps comes back from pandas as float
            if isinstance(row.get(key), float):
                row[key] = int(row[key])
        out.append(row)
    return out


#: Risk columns that count instances.
INTEGER_COLUMNS = ("instances", "instances_needed", "instances_to_add")


def fleet_risk_run(store: Store, event: str | None, until: pd.Timestamp | None) -> Any:
    """The ranked fleet risk run (``FleetRiskRun``) for an event, a date, or the whole horizon."""
    from capacity.cli.fleet_risks import load_fleet_risks

    return load_fleet_risks(store, event=event, until=until)


def risk_gauges(store: Store) -> list[dict[str, Any]]:
    """Per series: breach probability over the forecast horizon, headroom ratio and days until likely breach."""
    run = fleet_risk_run(store, None, None)
    now = pd.Timestamp(time.time(), unit="s", tz="UTC")
    rows = []
    for rec in run.frame.to_dict(orient="records"):
        threshold, peak = rec.get("threshold"), rec.get("peak_p95")
        ratio = None
        if isinstance(threshold, int | float) and isinstance(peak, int | float) and peak > 0:
            ratio = float(threshold) / float(peak)
        first = rec.get("first_breach")
        days = None
        if isinstance(first, pd.Timestamp) and not pd.isna(first):
            days = max(0.0, (first - now).total_seconds() / 86400.0)
        rows.append(
            {
                "service": rec["service"],
                "metric": rec["metric"],
                "capacity_breach_probability": _plain(rec.get("breach_probability")),
                "capacity_headroom_ratio": _plain(ratio),
                "capacity_days_until_breach": days,
            }
        )
    return rows
