"""A throwaway PostgreSQL cluster on a loopback port: initdb, pg_ctl start, and stop with its files removed.

The tests' ``pg_url`` fixture and the reliability bench both start one; as root it runs as the ``postgres`` user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from capacity.errors import BenchSetupError
from capacity.testing.net import free_port


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
