"""Persistent background jobs (e.g. a fleet forecast refresh): create, claim, progress, heartbeat, finish, fail.

A job moves ``queued -> running -> done | failed``. A worker claims the oldest queued job atomically (an
``UPDATE ... WHERE status = 'queued'`` that only one worker can win), beats a heartbeat while it works, and records
progress after every item, so a job whose worker died (heartbeat older than ``stale_after``) is put back in the
queue by :meth:`JobRepository.recover_stale_jobs` and resumes where it stopped; after ``max_attempts`` it is marked
failed with the reason. A job is never silently lost.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import and_, desc, select, update

from capacity.errors import UnknownJob, describe_value
from capacity.store.db import Database, now, translate_errors
from capacity.store.tables import jobs

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STATUSES = (QUEUED, RUNNING, DONE, FAILED)


@dataclass(frozen=True)
class JobInfo:
    """One job as stored."""

    id: str
    kind: str
    status: str
    created_at: pd.Timestamp
    updated_at: pd.Timestamp
    heartbeat_at: pd.Timestamp | None
    total: int
    done: int
    failed: int
    params: dict[str, Any]
    error: str | None
    worker: str | None

    @property
    def attempts(self) -> int:
        """How many times a worker has claimed this job."""
        return int(self.params.get("attempts", 0))

    @property
    def finished(self) -> bool:
        """True once the job is done or failed."""
        return self.status in (DONE, FAILED)


def _ts(value: int | None) -> pd.Timestamp | None:
    return pd.Timestamp(value, unit="s", tz="UTC") if value is not None else None


def _info(row: Any) -> JobInfo:
    return JobInfo(
        id=row["id"],
        kind=row["kind"],
        status=row["status"],
        created_at=pd.Timestamp(row["created_at"], unit="s", tz="UTC"),
        updated_at=pd.Timestamp(row["updated_at"], unit="s", tz="UTC"),
        heartbeat_at=_ts(row["heartbeat_at"]),
        total=row["total"],
        done=row["done"],
        failed=row["failed"],
        params=json.loads(row["params"] or "{}"),
        error=row["error"],
        worker=row["worker"],
    )


class JobRepository:
    """Background jobs: create, claim, progress, heartbeat, release, finish, fail, recover.

    Every method runs in one transaction of the shared :class:`~capacity.store.db.Database`.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def create_job(self, kind: str, params: dict[str, Any], total: int) -> JobInfo:
        """Queue a new job; returns it (status ``queued``)."""
        job_id = str(uuid.uuid4())
        t = now()
        with translate_errors("create job"), self.db.write() as conn:
            conn.execute(
                jobs.insert().values(
                    id=job_id,
                    kind=kind,
                    status=QUEUED,
                    created_at=t,
                    updated_at=t,
                    total=int(total),
                    params=json.dumps({**params, "attempts": 0}),
                )
            )
        return self.get_job(job_id)

    def get_job(self, job_id: str) -> JobInfo:
        """One job.

        Raises:
            UnknownJob: when there is no job with this id.
        """
        with translate_errors("read job"), self.db.read() as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == str(job_id))).mappings().first()
        if row is None:
            raise UnknownJob(f"unknown job {describe_value(job_id)}", field="id")
        return _info(row)

    def list_jobs(self, limit: int = 50, status: str | None = None) -> list[JobInfo]:
        """The newest jobs first (of ``status`` when given)."""
        query = select(jobs).order_by(desc(jobs.c.created_at), desc(jobs.c.id)).limit(limit)
        if status is not None:
            query = query.where(jobs.c.status == status)
        with translate_errors("list jobs"), self.db.read() as conn:
            return [_info(r) for r in conn.execute(query).mappings()]

    def claim_job(self, worker: str, kinds: tuple[str, ...] | None = None) -> JobInfo | None:
        """Atomically take the oldest queued job for ``worker``; None when the queue is empty."""
        with translate_errors("claim job"), self.db.write() as conn:
            query = select(jobs.c.id, jobs.c.params).where(jobs.c.status == QUEUED)
            if kinds:
                query = query.where(jobs.c.kind.in_(kinds))
            row = conn.execute(query.order_by(jobs.c.created_at, jobs.c.id).limit(1)).first()
            if row is None:
                return None
            params = json.loads(row[1] or "{}")
            params["attempts"] = int(params.get("attempts", 0)) + 1
            t = now()
            claimed = conn.execute(
                update(jobs)
                .where(and_(jobs.c.id == row[0], jobs.c.status == QUEUED))
                .values(
                    status=RUNNING,
                    worker=worker[:64],
                    heartbeat_at=t,
                    updated_at=t,
                    params=json.dumps(params),
                )
            ).rowcount
            if claimed != 1:
                return None
            job = conn.execute(select(jobs).where(jobs.c.id == row[0])).mappings().one()
        return _info(job)

    def job_progress(self, job_id: str, done: int, failed: int, params: dict[str, Any] | None = None) -> None:
        """Record progress (items done, items failed, and optionally new params) and beat the heartbeat."""
        values: dict[str, Any] = {"done": int(done), "failed": int(failed)}
        if params is not None:
            values["params"] = json.dumps(params)
        t = now()
        with translate_errors("job progress"), self.db.write() as conn:
            conn.execute(
                update(jobs).where(jobs.c.id == job_id).values(**values, heartbeat_at=t, updated_at=t)
            )

    def heartbeat_job(self, job_id: str, worker: str) -> bool:
        """Beat the heartbeat of a running job owned by ``worker``; False when it is no longer its job."""
        with translate_errors("job heartbeat"), self.db.write() as conn:
            n = conn.execute(
                update(jobs)
                .where(and_(jobs.c.id == job_id, jobs.c.status == RUNNING, jobs.c.worker == worker[:64]))
                .values(heartbeat_at=now())
            ).rowcount
        return bool(n)

    def release_job(self, job_id: str, worker: str) -> bool:
        """Put ``job_id`` back in the queue if it is still running under ``worker`` (its worker stops gracefully:
        a server's SIGTERM/HUP), not failed.

        The next worker claims it at once (no wait for its heartbeat to go stale). The release gives back the
        claim's attempt (``max_attempts`` counts workers that died, not graceful stops) and counts itself in
        ``params["released"]``, so the resumed run knows it is a resumption (a forced refresh does not redo the
        series it already stored).

        Returns:
            True when the job was released; False when it was no longer that worker's running job.

        Raises:
            StoreError: when the database fails.
        """
        owned = and_(jobs.c.id == job_id, jobs.c.status == RUNNING, jobs.c.worker == worker[:64])
        with translate_errors("release job"), self.db.write() as conn:
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

    def finish_job(self, job_id: str) -> None:
        """Mark a job done."""
        self._end(job_id, DONE, None)

    def fail_job(self, job_id: str, error: str) -> None:
        """Mark a job failed, with the reason."""
        self._end(job_id, FAILED, error[:2000])

    def _end(self, job_id: str, status: str, error: str | None) -> None:
        t = now()
        with translate_errors("end job"), self.db.write() as conn:
            conn.execute(
                update(jobs).where(jobs.c.id == job_id).values(status=status, error=error, updated_at=t)
            )

    def recover_stale_jobs(self, stale_after: int, max_attempts: int = 3) -> list[JobInfo]:
        """Put back in the queue each running job whose heartbeat is older than ``stale_after`` seconds.

        A job already claimed ``max_attempts`` times is marked failed instead, naming why, so a job that kills
        its worker cannot loop forever.

        Returns:
            The jobs recovered or failed (as they are now).
        """
        cutoff = now() - int(stale_after)
        out = []
        with translate_errors("recover jobs"), self.db.write() as conn:
            rows = (
                conn.execute(
                    select(jobs).where(
                        and_(
                            jobs.c.status == RUNNING,
                            (jobs.c.heartbeat_at.is_(None)) | (jobs.c.heartbeat_at < cutoff),
                        )
                    )
                )
                .mappings()
                .all()
            )
            for row in rows:
                attempts = int(json.loads(row["params"] or "{}").get("attempts", 0))
                if attempts >= max_attempts:
                    values: dict[str, Any] = {
                        "status": FAILED,
                        "error": f"worker {row['worker']} stopped responding {attempts} times; gave up",
                    }
                else:
                    values = {"status": QUEUED, "worker": None}
                conn.execute(update(jobs).where(jobs.c.id == row["id"]).values(**values, updated_at=now()))
                out.append(row["id"])
        return [self.get_job(j) for j in out]
