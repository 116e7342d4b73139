"""A real Prometheus server on loopback scraping one target, and what it recorded about those scrapes.

The API benchmark (``capacity bench api --scrape-interval``) and the integration test start one here: Prometheus
scrapes ``/metrics`` of a running ``capacity serve`` every few seconds, and its own ``up`` series then says how many
scrapes answered in time (1) and how many failed or timed out (0).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from capacity.errors import BenchSetupError
from capacity.testing.net import free_port

#: The scrape job's name (the ``job`` label of its ``up`` series).
JOB = "capacity"


def prometheus_binary() -> str | None:
    """The ``prometheus`` executable on PATH, or None (Debian: ``apt-get install prometheus``)."""
    return shutil.which("prometheus")


@dataclass
class PrometheusServer:
    """One Prometheus process scraping ``target`` (``host:port``) every ``interval_s`` seconds.

    Attributes:
        workdir: where its configuration, TSDB and log go.
        target: the scraped ``host:port``.
        interval_s: the scrape interval (also the evaluation interval).
        timeout_s: the scrape timeout (at most the interval).
        port: its own HTTP port, once started.
        proc: the process, once started.
    """

    workdir: Path
    target: str
    interval_s: float = 2.0
    timeout_s: float | None = None
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its base URL, e.g. ``http://127.0.0.1:9123``."""
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        """The configuration file: one job scraping ``/metrics`` of the target."""
        timeout = min(self.timeout_s or self.interval_s, self.interval_s)
        return (
            "global:\n"
            f"  scrape_interval: {self.interval_s:g}s\n"
            f"  scrape_timeout: {timeout:g}s\n"
            f"  evaluation_interval: {self.interval_s:g}s\n"
            "scrape_configs:\n"
            f"  - job_name: {JOB}\n"
            "    metrics_path: /metrics\n"
            "    static_configs:\n"
            f"      - targets: ['{self.target}']\n"
        )

    def start(self, timeout: float = 60.0) -> PrometheusServer:
        """Start it on a free loopback port and wait until it is ready.

        Raises:
            BenchSetupError: when the binary is missing, or it exits or is not ready within ``timeout`` seconds.
        """
        binary = prometheus_binary()
        if binary is None:
            raise BenchSetupError(
                "the prometheus binary is not installed (Debian: apt-get install prometheus)"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "prometheus.yml").write_text(self.config(), encoding="utf-8")
        self.port = free_port()
        with (self.workdir / "prometheus.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    binary,
                    f"--config.file={self.workdir / 'prometheus.yml'}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchSetupError(f"prometheus exited: {self.log()[-2000:]}")
            try:
                if requests.get(f"{self.url}/-/ready", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise BenchSetupError(f"prometheus was not ready in {timeout:.0f} s: {self.log()[-2000:]}")

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL after 20 s)."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def wait_first_scrape(self, timeout: float = 30.0) -> None:
        """Wait until it has scraped the target once (it hands new targets to its scrapers a few seconds after it
        starts, so "ready" comes before the first scrape).

        Raises:
            BenchSetupError: when no scrape happened within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if any(t.get("health") in ("up", "down") for t in self.target_health()):
                    return
            except (requests.RequestException, KeyError, ValueError):
                pass
            time.sleep(0.2)
        raise BenchSetupError(f"prometheus did not scrape {self.target} within {timeout:.0f} s")

    def log(self) -> str:
        """Its log so far."""
        path = self.workdir / "prometheus.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's result vector.

        Raises:
            BenchSetupError: when Prometheus answers with an error.
        """
        response = requests.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=30)
        body = response.json()
        if body.get("status") != "success":
            raise BenchSetupError(
                f"prometheus query {promql!r} failed: {body.get('error', response.text[:300])}"
            )
        return list(body["data"]["result"])

    def scrapes(self, seconds: float) -> tuple[int, int]:
        """(scrapes that succeeded, scrapes attempted) over the last ``seconds``, from its ``up`` series."""
        window = f"{max(1, round(seconds))}s"
        total = self.query(f'count_over_time(up{{job="{JOB}"}}[{window}])')
        up = self.query(f'sum_over_time(up{{job="{JOB}"}}[{window}])')
        n_total = int(float(total[0]["value"][1])) if total else 0
        n_up = int(float(up[0]["value"][1])) if up else 0
        return n_up, n_total

    def target_health(self) -> list[dict[str, Any]]:
        """The active targets as Prometheus reports them (health, last error, last scrape duration)."""
        response = requests.get(f"{self.url}/api/v1/targets", timeout=30)
        return list(response.json()["data"]["activeTargets"])
