"""The staging stub for the load-test suites, and the step tallies the verdict is computed from."""

from __future__ import annotations

import subprocess
import sys

from loadtests.verdict import Tally, bucket


def start_stub(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Start ``capacity stub`` on a free port; returns the process and its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "capacity.cli", "stub", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "http://" not in line:
        stop(proc)
        raise AssertionError(f"stub did not start: {line!r}")
    url = line.split("serving on ", 1)[1].split()[0]
    return proc, url


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def tally(
    rate: float, seconds: float = 10, latency_ms: float = 20, failed: int = 0, unresolved: int = 0
) -> Tally:
    sent = round(rate * seconds)
    resolved = sent - unresolved
    return Tally(
        sent=sent, ok=resolved - failed, failed=failed, hist={bucket(latency_ms): resolved}, seconds=seconds
    )
