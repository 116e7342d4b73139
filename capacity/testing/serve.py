"""A real ``capacity serve`` on loopback: started in its own process group, ready once ``/healthz`` answers.

Every server started here runs in its own session (process group), so a signal reaches the gunicorn master, its
workers and their forecast pools at once; a SIGKILL does what a machine losing power would. The tests, the API
benchmark and the reliability bench all start their servers here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import requests

from capacity.errors import BenchSetupError
from capacity.testing.net import free_port, tool

#: The repository (servers run from it, as ``make serve`` does).
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ServeProcess:
    """One ``capacity serve`` process group on loopback, its log file and its base URL.

    Attributes:
        db: the database (SQLite path or URL).
        log: the file the server's output is appended to.
        workers: gunicorn worker processes.
        threads: threads per worker (None: the command's default).
        access_log: log every request.
        env: extra environment variables (settings as ``CAPACITY_API_*``).
        port: the port, once started.
        proc: the master process, once started.
    """

    db: str | Path
    log: Path
    workers: int = 1
    threads: int | None = None
    access_log: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8123``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> ServeProcess:
        """Start the server on a free port and wait until ``/healthz`` answers 200.

        Raises:
            BenchSetupError: when it exits or does not answer within ``timeout`` seconds (with its log's tail).
        """
        self.port = free_port()
        cmd = [
            tool("capacity"),
            "serve",
            "--db",
            str(self.db),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        cmd += ["--workers", str(self.workers)]
        if self.threads is not None:
            cmd += ["--threads", str(self.threads)]
        if self.access_log:
            cmd.append("--access-log")
        with self.log.open("ab") as handle:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                cmd,
                stdout=handle,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env={**os.environ, **self.env},
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchSetupError(f"capacity serve exited: {self.text()[-3000:]}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop(signal.SIGKILL)
        raise BenchSetupError(f"capacity serve did not answer in {timeout:.0f} s: {self.text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Signal the whole process group and wait for the master to exit (SIGKILL after 30 s)."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        if sig == signal.SIGKILL:
            _reap_group(proc.pid)

    def text(self) -> str:
        """The server's log so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _reap_group(pgid: int, timeout: float = 10.0) -> None:
    """Wait until no process of group ``pgid`` is left (workers die with the master, but not at the same instant)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def create_token(db: str | Path, scope: str, name: str = "") -> str:
    """A new token with ``scope`` in ``db``, made by ``capacity token create`` as an operator would (the secret is
    its output's last line).

    Raises:
        BenchSetupError: when the command fails.
    """
    out = subprocess.run(
        [
            tool("capacity"),
            "token",
            "create",
            "--scope",
            scope,
            "--db",
            str(db),
            "--name",
            name or f"reliability-{scope}",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if out.returncode != 0:
        raise BenchSetupError(f"capacity token create failed: {out.stderr.strip()[-400:]}")
    return out.stdout.strip().splitlines()[-1]
