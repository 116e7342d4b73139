"""The invalid-token limit is exact under concurrency: reserve() checks and counts in one locked step, across threads
and across processes mapping one table; release() gives a valid token's place back."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from api.http.ratelimit import AuthFailures
from tests.support.data import ROOT

LIMIT = 5


def reserve_from_threads(table: AuthFailures, client: str, n: int) -> int:
    """``n`` threads reserve at once; returns how many got a place."""
    barrier = threading.Barrier(n)
    got: list[bool] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait(timeout=30)
        reservation, wait = table.reserve(client)
        with lock:
            got.append(reservation is not None)
        assert (reservation is None) == (wait > 0)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(got)


def test_concurrent_threads_get_exactly_the_limit() -> None:
    for _ in range(5):
        table = AuthFailures(limit=LIMIT, window_s=60.0)
        assert reserve_from_threads(table, "10.0.0.9", 32) == LIMIT
        assert table.retry_after("10.0.0.9") >= 1
        assert reserve_from_threads(table, "10.0.0.10", 3) == 3  # another client is not affected
        table.close()


CHILD = """
import sys, threading, time
from pathlib import Path
from api.http.ratelimit import AuthFailures
table = AuthFailures(limit={limit}, window_s=60.0, path=Path(sys.argv[1]))
start = float(sys.argv[2])
got = []
def run():
    while time.time() < start:
        time.sleep(0.001)
    for _ in range(10):
        got.append(table.reserve("10.0.0.9")[0] is not None)
threads = [threading.Thread(target=run) for _ in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
print(sum(got))
"""


def test_processes_sharing_the_table_get_exactly_the_limit(tmp_path: Path) -> None:
    start = time.time() + 1.5  # the children all begin at once, after they have imported
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD.format(limit=LIMIT), str(tmp_path / "table"), str(start)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for _ in range(3)
    ]
    counts = [int(child.communicate(timeout=600)[0]) for child in children]
    assert sum(counts) == LIMIT, counts  # 120 attempts from 12 threads in 3 processes


def test_release_gives_the_place_back() -> None:
    table = AuthFailures(limit=2, window_s=10.0)
    first, _ = table.reserve("c", now=100.0)
    second, _ = table.reserve("c", now=101.0)
    assert first is not None and second is not None
    assert table.reserve("c", now=102.0) == (None, 8)  # until the failure at 100.0 leaves the window
    table.release(first)  # that token was valid after all
    third, wait = table.reserve("c", now=102.5)
    assert third is not None and wait == 0
    assert table.retry_after("c", now=103.0) == 8  # 101.0 is now the oldest
    table.release(None)  # no limit, nothing reserved: a no-op
    table.close()


def test_a_late_release_does_not_free_a_newer_failure() -> None:
    table = AuthFailures(limit=1, window_s=10.0)
    old, _ = table.reserve("c", now=100.0)
    assert old is not None
    table.record("c", now=111.0)  # the window moved on; a new failure took the only cell
    table.release(old)
    assert table.retry_after("c", now=112.0) == 9  # still counted


def test_released_cells_are_reused_before_recent_ones_are_overwritten() -> None:
    table = AuthFailures(limit=3, window_s=100.0)
    a, _ = table.reserve("c", now=1.0)
    table.record("c", now=2.0)
    table.record("c", now=3.0)
    table.release(a)  # cells: released, 2.0, 3.0
    table.record("c", now=4.0)  # must take the released cell, not 2.0
    assert table.retry_after("c", now=5.0) == 97  # 2.0, 3.0 and 4.0 all count: full until 2.0 leaves


def test_no_limit_reserves_nothing() -> None:
    table = AuthFailures(limit=0, window_s=10.0)
    assert table.reserve("c") == (None, 0)
