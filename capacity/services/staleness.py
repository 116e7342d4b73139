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

from capacity.store import Store
from capacity.store.staleness import FRESH, NEVER


def stale_keys(store: Store, keys: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The series of ``keys`` whose newest run is not a successful forecast of their current data and calendar.

    A forecast is stale when samples changed since it was made (``data_version``) or when the events that apply
    to its series changed (``events_digest``: an event added, changed or deleted, fleet-wide or for its service);
    a series with no run, or whose newest run failed, needs one too. The rule is :mod:`capacity.store.staleness`'s
    (one query for every series); a key the store does not hold is returned (forecasting it records why not).
    """
    needs = store.forecast_staleness()
    return [key for key in keys if needs.get(key, NEVER) != FRESH]
