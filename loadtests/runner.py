"""Run the headroom suite: Locust headless in a subprocess (plus local workers), a live step feed, the result.

This module never imports locust: it starts ``python -m locust -f loadtests/headroom_locustfile.py`` with the
plan in a file named by ``HEADROOM_PLAN`` and reads back ``steps.jsonl`` (live) and ``result.json`` (final).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from capacity.errors import HeadroomRunError, InvalidInput
from capacity.testing.net import free_port
from loadtests.plan import WARMUP_SECONDS, LoadPlan

LOCUSTFILE = Path(__file__).resolve().parent / "headroom_locustfile.py"


@dataclass(frozen=True)
class RunOutcome:
    """What a run produced."""

    result: dict[str, Any]
    exit_code: int
    out_dir: Path
    seconds: float


def check_host(host: str) -> str:
    """Validate the base URL under test.

    Raises:
        InvalidInput: when it is not an http(s) URL.
    """
    if not host.startswith(("http://", "https://")) or len(host) < 10 or any(c in host for c in " \r\n"):
        raise InvalidInput(f"--host must be an http:// or https:// URL, got {host!r}", field="host")
    return host.rstrip("/")


def preflight(host: str, timeout_s: float = 5.0) -> None:
    """Check that the host accepts TCP connections before any load is sent.

    Raises:
        HeadroomRunError: when it does not (refused, unresolvable, timed out).
    """
    url = urlsplit(host)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise HeadroomRunError(f"cannot connect to --host {host}: {reason}; no load was sent") from None


def locust_command(
    host: str, out: Path, *, master: bool = False, expect_workers: int = 0, master_port: int | None = None
) -> list[str]:
    """The command line of the local (or master) Locust process."""
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        host,
        "--csv",
        str(out / "locust"),
        "--html",
        str(out / "locust.html"),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    if master:
        cmd += ["--master", "--expect-workers", str(expect_workers)]
        if master_port is not None:
            cmd += ["--master-bind-port", str(master_port)]
    return cmd


def worker_command(master_host: str, master_port: int) -> list[str]:
    """The command line of one Locust worker process."""
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--worker",
        "--master-host",
        master_host,
        "--master-port",
        str(master_port),
        "--loglevel",
        "WARNING",
    ]


def _read_new_lines(path: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
    if not path.exists():
        return [], offset
    with path.open("rb") as fh:
        fh.seek(offset)
        data = fh.read()
    complete = data[: data.rfind(b"\n") + 1] if b"\n" in data else b""
    rows = [json.loads(line) for line in complete.decode().splitlines() if line.strip()]
    return rows, offset + len(complete)


def run_headroom(
    plan: LoadPlan,
    host: str,
    out_dir: Path,
    *,
    workers: int = 0,
    remote_workers: int = 0,
    master_port: int | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
    grace_s: float = 60.0,
) -> RunOutcome:
    """Run the plan against ``host`` with Locust in subprocesses and return the result.

    Args:
        plan: the validated plan (validate before calling: nothing is sent for a bad plan).
        host: the base URL under test.
        out_dir: where ``plan.json``, ``result.json``, ``steps.jsonl``, ``locust*.csv``, ``locust.html`` and
            the Locust logs go.
        workers: local worker processes (0: a single process without a master).
        remote_workers: workers started elsewhere that the master also waits for.
        master_port: the master's port (default: a free one; give it when remote workers connect).
        on_step: called with each judged step (a ``result.json`` step dict) as soon as the gate judges it.
        grace_s: seconds past the plan's nominal length before the run is killed as hung.

    Returns:
        The result document, the exit code (0 pass, 1 fail, 2 unreachable), the folder and the wall time.

    Raises:
        HeadroomRunError: when Locust does not produce a result.
        InvalidInput: when the host or worker counts are bad.
    """
    host = check_host(host)
    if workers < 0 or remote_workers < 0:
        raise InvalidInput("--workers must be >= 0", field="workers")
    preflight(host)
    out = out_dir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("result.json", "steps.jsonl"):
        (out / stale).unlink(missing_ok=True)
    plan_path = out / "plan.json"
    plan_path.write_text(json.dumps(plan.to_dict(), indent=2) + "\n")
    env = {**os.environ, "HEADROOM_PLAN": str(plan_path), "HEADROOM_OUT": str(out), "PYTHONUNBUFFERED": "1"}
    distributed = workers + remote_workers > 0
    port = master_port if master_port is not None else (free_port() if distributed else None)
    started = time.monotonic()
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[IO[bytes]] = []
    try:
        log = (out / "locust.log").open("wb")
        logs.append(log)
        cmd = locust_command(
            host, out, master=distributed, expect_workers=workers + remote_workers, master_port=port
        )
        main = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=out)
        procs.append(main)
        for i in range(workers):
            wlog = (out / f"locust-worker-{i}.log").open("wb")
            logs.append(wlog)
            assert port is not None
            procs.append(
                subprocess.Popen(
                    worker_command("127.0.0.1", port), env=env, stdout=wlog, stderr=subprocess.STDOUT, cwd=out
                )
            )
        deadline = started + WARMUP_SECONDS + plan.duration_s + plan.timeout_s + grace_s
        offset = 0
        while True:
            rows, offset = _read_new_lines(out / "steps.jsonl", offset)
            for row in rows:
                if on_step is not None:
                    on_step(row)
            if main.poll() is not None:
                break
            if time.monotonic() > deadline:
                main.terminate()
                main.wait(10)
                raise HeadroomRunError(f"the load test did not finish in time; see {out / 'locust.log'}")
            time.sleep(0.2)
        rows, offset = _read_new_lines(out / "steps.jsonl", offset)
        for row in rows:
            if on_step is not None:
                on_step(row)
    finally:
        for proc in procs[1:] + procs[:1]:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for fh in logs:
            fh.close()
    result_path = out / "result.json"
    if not result_path.exists():
        tail = (out / "locust.log").read_text(errors="replace").strip().splitlines()[-3:]
        raise HeadroomRunError(
            f"locust exited with code {main.returncode} and wrote no result ({' | '.join(tail)}); see {out / 'locust.log'}"
        )
    result = json.loads(result_path.read_text())
    return RunOutcome(result, int(result["exit_code"]), out, time.monotonic() - started)
