"""Load test of our own API (``capacity bench api`` runs it headless in a subprocess).

Three plain Locust user classes, chosen on the command line:

- ``ReadUser``: cached forecast reads (``GET .../forecast``) across the benchmark series, plus a few series-list
  and health reads;
- ``RouteUser``: every GET route of :mod:`loadtests.api_routes` in equal shares, no wait, each request reported
  under its route template (one stats row per route);
- ``IngestUser``: bulk ingest, each request ``CAPACITY_BENCH_BATCH`` new samples (columnar JSON) into its own
  series, timestamps moving forward so every sample is new.

Configuration comes from the environment: ``CAPACITY_BENCH_TOKEN`` (a write token; an admin one for ``RouteUser``,
which lists tokens), ``CAPACITY_BENCH_SERIES`` (``svc/metric,svc/metric``), ``CAPACITY_BENCH_RATE_SERIES`` (a
request-rate series, for the load plan), ``CAPACITY_BENCH_EVENT`` (an event with a next occurrence),
``CAPACITY_BENCH_JOB`` (a stored job's id), ``CAPACITY_BENCH_BATCH`` (default 20000) and
``CAPACITY_BENCH_USER_RPS`` (requests/s per read user; 0 = no wait).
"""

from __future__ import annotations

import itertools
import json
import os
import random
from typing import Any

from locust import FastHttpUser, constant, constant_throughput, task

from loadtests.api_routes import path_for, usable

TOKEN = os.environ.get("CAPACITY_BENCH_TOKEN", "")
SERIES = [s for s in os.environ.get("CAPACITY_BENCH_SERIES", "").split(",") if "/" in s]
BATCH = int(os.environ.get("CAPACITY_BENCH_BATCH", "20000"))
RATE_SERIES = os.environ.get("CAPACITY_BENCH_RATE_SERIES", "")
EVENT = os.environ.get("CAPACITY_BENCH_EVENT", "")
JOB = os.environ.get("CAPACITY_BENCH_JOB", "")
#: Requests/s each read user offers (0: as fast as it can, which measures queueing more than service time).
USER_RPS = float(os.environ.get("CAPACITY_BENCH_USER_RPS", "0"))
#: Ingested timestamps start here (2026-01-01 UTC) and move forward one minute per sample.
START = 1_767_225_600
_ids = itertools.count()


def _headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


class ReadUser(FastHttpUser):
    """Cached forecast reads, as a dashboard or a CI gate does them, at a fixed offered rate per user."""

    wait_time = constant_throughput(USER_RPS) if USER_RPS > 0 else constant(0)

    @task(18)
    def forecast(self) -> None:
        series = random.choice(SERIES)
        self.client.get(
            f"/api/v1/series/{series}/forecast", headers=_headers(), name="GET /forecast (cached)"
        )

    @task(1)
    def series_list(self) -> None:
        self.client.get("/api/v1/series", headers=_headers(), name="GET /series")

    @task(1)
    def health(self) -> None:
        self.client.get("/healthz", name="GET /healthz")


class RouteUser(FastHttpUser):
    """Every GET route in equal shares, no wait: each user sends its next request as soon as the last one is
    answered (a page of panels, a report reader and a scraper at once)."""

    wait_time = constant(0)
    routes = usable(rate=RATE_SERIES, event=EVENT, job=JOB)

    @task
    def any_route(self) -> None:
        route = random.choice(self.routes)
        path = path_for(route, series=random.choice(SERIES), rate=RATE_SERIES, event=EVENT, job=JOB)
        self.client.get(path, headers=_headers() if route.auth else {}, name=route.name)


class IngestUser(FastHttpUser):
    """Bulk ingest of new samples."""

    wait_time = constant(0)

    def on_start(self) -> None:
        self.series = f"bench-ingest-{os.getpid()}-{next(_ids)}"
        self.offset = 0

    @task
    def ingest(self) -> None:
        ts = list(range(START + self.offset * 60, START + (self.offset + BATCH) * 60, 60))
        self.offset += BATCH
        body: dict[str, Any] = {"ts": ts, "value": [float(i % 997) for i in range(BATCH)]}
        with self.client.post(
            f"/api/v1/series/{self.series}/rps/samples",
            data=json.dumps(body),
            headers={**_headers(), "Content-Type": "application/json"},
            name=f"POST /samples ({BATCH} samples)",
            catch_response=True,
        ) as response:
            if response.status_code not in (200, 201):
                response.failure(f"HTTP {response.status_code}")
            elif response.json().get("inserted") != BATCH:
                response.failure(f"inserted {response.json().get('inserted')} of {BATCH}")
