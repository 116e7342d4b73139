"""Put a running job back in the queue when its worker stops gracefully (a server's SIGTERM/HUP), not failed.

A released job is claimed again at once by the next worker (no wait for its heartbeat to go stale). The release
gives back the claim's attempt (``max_attempts`` counts workers that died, not graceful stops) and counts the
release in ``params["released"]``, so the resumed run knows it is a resumption (a forced refresh does not redo the
series it already stored).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from sqlalchemy import and_, select, update

from capacity.store.db import now, translate_errors
from capacity.store.jobs import QUEUED, RUNNING
from capacity.store.tables import jobs

if TYPE_CHECKING:
    from capacity.store import Store


def release_job(store: Store, job_id: str, worker: str) -> bool:
    """Put ``job_id`` back in the queue if it is still running under ``worker``.

    Args:
        store: an open store.
        job_id: the job.
        worker: the worker that claimed it (as given to ``claim_job``).

    Returns:
        True when the job was released; False when it was no longer that worker's running job.

    Raises:
        StoreError: when the database fails.
    """
    owned = and_(jobs.c.id == job_id, jobs.c.status == RUNNING, jobs.c.worker == worker[:64])
    with translate_errors("release job"), store.write() as conn:
        row = conn.execute(select(jobs.c.params).where(owned)).first()
        if row is None:
            return False
        params = json.loads(row[0] or "{}")
        params["attempts"] = max(0, int(params.get("attempts", 0)) - 1)
        params["released"] = int(params.get("released", 0)) + 1
        n = conn.execute(
            update(jobs)
            .where(owned)
            .values(status=QUEUED, worker=None, params=json.dumps(params), updated_at=now())
        ).rowcount
    return bool(n)
