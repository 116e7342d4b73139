"""The one rule for "is this forecast stale?", and the one query that applies it to every stored series.

A forecast run is *behind* its series when the series' samples changed since it was made (``data_version``) or
when the events that apply to the series did (``events_digest``: an event added, changed or deleted, fleet-wide or
for its service) — :func:`forecast_behind`. A series *needs a forecast* when it has none, when its newest run
failed, or when its newest run is behind — :func:`needs_forecast`. Every caller uses these two: ``capacity forecast
--stale`` and the refresh job (``batch.stale_keys``), what a calendar write reports as made stale
(``Store.calendar_stale_series``), the API's stale flag and the risk notes.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from capacity.store.tables import forecast_runs, series

#: Why a series needs a forecast ("" when it does not).
FRESH = ""
NEVER = "never forecast"
FAILED = "its newest run failed"
BEHIND = "made before its data or events changed"


def calendar_changed(run_digest: str | None, series_digest: str | None) -> bool:
    """True when a run was made with other events than the series' calendar has now.

    None on either side means "not recorded" (a run or series from before digests were kept): not a change.
    """
    return run_digest is not None and series_digest is not None and run_digest != series_digest


def forecast_behind(
    run_data_version: int, run_digest: str | None, data_version: int, events_digest: str | None
) -> bool:
    """True when a run made from ``run_data_version`` with the events of ``run_digest`` is behind its series.

    Args:
        run_data_version: the data version the run was made from.
        run_digest: the calendar digest of the events the run used (None: not recorded).
        data_version: the series' data version now.
        events_digest: the series' calendar digest now (None: not recorded).
    """
    return int(run_data_version) != int(data_version) or calendar_changed(run_digest, events_digest)


def needs_forecast(
    status: str | None,
    run_data_version: int | None,
    run_digest: str | None,
    data_version: int,
    events_digest: str | None,
) -> str:
    """Why a series needs a new forecast, given its newest run of any status; :data:`FRESH` when it does not.

    Args:
        status: the newest run's status (None: the series has no run).
        run_data_version, run_digest: the newest run's data version and calendar digest.
        data_version, events_digest: the series' now.
    """
    if status is None or run_data_version is None:
        return NEVER
    if status != "ok":
        return FAILED
    return BEHIND if forecast_behind(run_data_version, run_digest, data_version, events_digest) else FRESH


def staleness_by_series(conn: Connection) -> dict[tuple[str, str], str]:
    """Every stored series and why it needs a forecast (:data:`FRESH` when it does not), in one query."""
    newest = (
        select(forecast_runs.c.series_id, func.max(forecast_runs.c.id).label("run_id"))
        .group_by(forecast_runs.c.series_id)
        .subquery()
    )
    query = (
        select(
            series.c.service,
            series.c.metric,
            series.c.data_version,
            series.c.events_digest,
            forecast_runs.c.status,
            forecast_runs.c.data_version.label("run_data_version"),
            forecast_runs.c.events_digest.label("run_digest"),
        )
        .select_from(
            series.outerjoin(newest, newest.c.series_id == series.c.id).outerjoin(
                forecast_runs, forecast_runs.c.id == newest.c.run_id
            )
        )
        .order_by(series.c.service, series.c.metric)
    )
    return {
        (r.service, r.metric): needs_forecast(
            r.status, r.run_data_version, r.run_digest, r.data_version, r.events_digest
        )
        for r in conn.execute(query)
    }
