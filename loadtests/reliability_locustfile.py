"""The concurrency mix of ``capacity bench reliability``: ingest, forecasts, risk queries and reports at once.

One plain Locust user class, ``MixUser``: each user ingests small batches into a few shared series (writers
contend for the same rows and the database lock) and into its own series, reads forecasts of series whose data
just changed (so forecasts are recomputed while writes go on), ranks risks, renders the event's readiness report
and now and then queues a fleet forecast job. Any answer other than 200/201/202/304 is a failure, with the body's
problem ``detail`` as the message, so a "database is locked" reaching a client shows up by name.

Configuration comes from the environment: ``CAPACITY_REL_TOKEN`` (a write token), ``CAPACITY_REL_SERIES``
(``svc/metric,...``, the shared series) and ``CAPACITY_REL_EVENT`` (the event whose report is rendered).
"""

from __future__ import annotations

import itertools
import json
import os
import random
from typing import Any

from locust import FastHttpUser, between, task

TOKEN = os.environ.get("CAPACITY_REL_TOKEN", "")
SERIES = [s for s in os.environ.get("CAPACITY_REL_SERIES", "").split(",") if "/" in s]
EVENT = os.environ.get("CAPACITY_REL_EVENT", "Launch")
BATCH = int(os.environ.get("CAPACITY_REL_BATCH", "200"))
OK = (200, 201, 202, 304)
_ids = itertools.count()


def _headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}", **(extra or {})}


def _detail(response: Any) -> str:
    try:
        return str(response.json().get("detail", ""))[:200]
    except Exception:  # not JSON (a proxy page, a cut connection)
        return (response.text or "")[:200]


class MixUser(FastHttpUser):
    """Writes and reads at once, as a busy deployment sees them."""

    wait_time = between(0.05, 0.3)

    def on_start(self) -> None:
        self.own = f"mix-{os.getpid()}-{next(_ids)}"
        # Hourly timestamps after the shared series' history; each user writes its own hour-of-minute slots,
        # so shared series get new rows from every user and overlapping rows (updates) as the run goes on.
        self.clock = 1_767_225_600 + random.randrange(0, 3600)

    def _check(self, response: Any) -> None:
        if response.status_code not in OK:
            response.failure(f"HTTP {response.status_code}: {_detail(response)}")

    def _ingest(self, series: str, name: str) -> None:
        ts = [self.clock + 60 * i for i in range(BATCH)]
        self.clock += 60 * BATCH
        body = {"ts": ts, "value": [40.0 + (i % 17) for i in range(BATCH)]}
        with self.client.post(
            f"/api/v1/series/{series}/samples",
            data=json.dumps(body),
            headers=_headers({"Content-Type": "application/json"}),
            name=name,
            catch_response=True,
        ) as response:
            self._check(response)

    @task(4)
    def ingest_shared(self) -> None:
        self._ingest(random.choice(SERIES), "POST /samples (shared series)")

    @task(2)
    def ingest_own(self) -> None:
        self._ingest(f"{self.own}/cpu", "POST /samples (own series)")

    @task(4)
    def forecast(self) -> None:
        with self.client.get(
            f"/api/v1/series/{random.choice(SERIES)}/forecast?horizon=24h",
            headers=_headers(),
            name="/forecast",
            catch_response=True,
        ) as response:
            self._check(response)

    @task(2)
    def risks(self) -> None:
        with self.client.get(
            f"/api/v1/risks?event={EVENT}", headers=_headers(), name="/risks", catch_response=True
        ) as response:
            self._check(response)

    @task(1)
    def report(self) -> None:
        with self.client.get(
            f"/api/v1/events/{EVENT}/report?format=html",
            headers=_headers(),
            name="/events/{name}/report",
            catch_response=True,
        ) as response:
            self._check(response)

    @task(1)
    def job(self) -> None:
        service = random.choice(SERIES).split("/", 1)[0]
        with self.client.post(
            "/api/v1/jobs/forecasts",
            data=json.dumps({"service": service, "horizon": "24h"}),
            headers=_headers({"Content-Type": "application/json"}),
            name="/jobs/forecasts",
            catch_response=True,
        ) as response:
            self._check(response)

    @task(1)
    def series_list(self) -> None:
        with self.client.get(
            "/api/v1/series", headers=_headers(), name="/series", catch_response=True
        ) as response:
            self._check(response)
