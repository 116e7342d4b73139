"""Real servers for the reliability bench: ``capacity serve`` subprocesses on loopback, and a throwaway PostgreSQL.

Every process started here runs in its own session (process group), so a SIGKILL reaches the gunicorn master,
its workers and their forecast pools at once, as a machine losing power would.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from capacity.errors import BenchSetupError

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tool(name: str) -> str:
    """The path of a console script installed beside this Python (capacity, locust, st)."""
    return str(Path(sys.executable).with_name(name))


@dataclass
class Server:
    """One ``capacity serve`` process group on loopback, its log file and its base URL."""

    db: str
    log: Path
    workers: int = 1
    threads: int = 4
    env: Mapping[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8123``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> Server:
        """Start the server on a fresh port and wait until ``/healthz`` answers.

        Raises:
            BenchSetupError: when it exits or does not answer within ``timeout`` seconds.
        """
        import requests

        self.port = free_port()
        cmd = [
            tool("capacity"),
            "serve",
            "--db",
            self.db,
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--threads",
            str(self.threads),
            "--access-log",
        ]
        with self.log.open("ab") as handle:
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
                raise BenchSetupError(f"capacity serve exited: {self.text()[-800:]}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop(signal.SIGKILL)
        raise BenchSetupError(f"capacity serve did not answer in {timeout:.0f} s: {self.text()[-800:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Signal the whole process group and wait for the master to exit."""
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


def create_token(db: str, scope: str) -> str:
    """A new token with ``scope``, made by ``capacity token create`` (the secret is its last line)."""
    out = subprocess.run(
        [tool("capacity"), "token", "create", "--scope", scope, "--db", db, "--name", f"reliability-{scope}"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if out.returncode != 0:
        raise BenchSetupError(f"capacity token create failed: {out.stderr.strip()[-400:]}")
    return out.stdout.strip().splitlines()[-1]


def _pg_bindir() -> Path | None:
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True):
        return candidate.parent
    return None


@dataclass
class Postgres:
    """A throwaway PostgreSQL cluster on a loopback port (run as the ``postgres`` user when we are root)."""

    tmp: Path
    port: int
    run_as: tuple[str, ...]
    bindir: Path

    @property
    def url(self) -> str:
        """URL of its ``postgres`` database."""
        return f"postgresql://capacity@127.0.0.1:{self.port}/postgres"

    @classmethod
    def start(cls) -> Postgres:
        """initdb + pg_ctl start, as tests/conftest.py's ``pg_url`` fixture does.

        Raises:
            BenchSetupError: no PostgreSQL binaries, no ``postgres`` user when root, or the server did not start.
        """
        bindir = _pg_bindir()
        if bindir is None:
            raise BenchSetupError(
                "PostgreSQL binaries (initdb, pg_ctl) not found; install Debian's postgresql"
            )
        run_as: tuple[str, ...] = ()
        if os.geteuid() == 0:
            if (
                shutil.which("runuser") is None
                or subprocess.run(["id", "postgres"], capture_output=True).returncode
            ):
                raise BenchSetupError("running as root and there is no 'postgres' user to run initdb as")
            run_as = ("runuser", "-u", "postgres", "--")
        tmp = Path(tempfile.mkdtemp(prefix="capacity-rel-pg-"))
        if run_as:
            shutil.chown(tmp, user="postgres")
        port = free_port()
        data = tmp / "data"
        steps = [
            [
                *run_as,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "capacity",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
            [
                *run_as,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(tmp / "pg.log"),
                "-w",
                "-o",
                f"-p {port} -h 127.0.0.1 -k {tmp} -c fsync=off -c max_connections=200",
                "start",
            ],
        ]
        for cmd in steps:
            result = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise BenchSetupError(f"{Path(cmd[len(run_as)]).name} failed: {result.stderr.strip()[-400:]}")
        return cls(tmp, port, run_as, bindir)

    def create_database(self, name: str) -> str:
        """Create database ``name``; returns its URL."""
        import sqlalchemy as sa

        admin = sa.create_engine(
            self.url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
        )
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        return self.url.rsplit("/", 1)[0] + "/" + name

    def stop(self) -> None:
        """Stop the cluster and remove its files."""
        subprocess.run(
            [
                *self.run_as,
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.tmp / "data"),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.tmp, ignore_errors=True)
