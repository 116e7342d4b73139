"""``capacity serve`` with several gunicorn workers on loopback: state that must hold for the whole server.

Each test checks from the access log (which names the worker process of every request) that its requests were
answered by at least two workers, so each would fail if the state were kept per worker:

- ``/metrics`` request counts and latency histograms are the server's totals, whichever worker is scraped;
- the 429 limit on invalid tokens counts a client's failures over all workers;
- a revoked token is refused at once by every worker, although they cache verified tokens;
- requests gunicorn refuses for their size (URL, header count, header size) get a problem document naming what was
  too large, not gunicorn's HTML page; so do those it refuses for other reasons (Transfer-Encoding, Expect,
  contradictory scheme headers), with gunicorn's status codes.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from api import shared_dir as runtime
from api.http.ratelimit import AuthFailures
from capacity.store import Store
from tests.support.api import assert_problem
from tests.support.data import hourly_history
from tests.support.live import LiveServer, start_server

#: Invalid tokens a client may send per window on the test server.
FAIL_LIMIT = 4


@dataclass
class Answer:
    """One HTTP answer, shaped like a Flask test response for :func:`assert_problem`."""

    status_code: int
    headers: dict[str, str]
    body: bytes
    tag: str

    @property
    def mimetype(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()

    def get_json(self, force: bool = False) -> Any:
        return json.loads(self.body)

    def get_data(self, as_text: bool = False) -> str | bytes:
        return self.body.decode("utf-8", "replace") if as_text else self.body


@dataclass
class Server:
    """A live server, its port, an admin token and the database."""

    live: LiveServer
    port: int
    admin: str
    db: Path

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        source: str = "127.0.0.1",
    ) -> Answer:
        """One request on a new connection (so any worker may accept it), from loopback address ``source``."""
        tag = f"w-{uuid.uuid4().hex[:12]}"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60, source_address=(source, 0))
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            sent = {"User-Agent": tag, "Connection": "close", **(headers or {})}
            if token is not None:
                sent["Authorization"] = f"Bearer {token}"
            for name, value in sent.items():
                conn.putheader(name, value)
            conn.endheaders()
            response = conn.getresponse()
            answer = Answer(
                response.status, {k.lower(): v for k, v in response.getheaders()}, response.read(), tag
            )
        finally:
            conn.close()
        return answer

    def many(self, count: int, send: Callable[[int], Answer], *, parallel: int = 8) -> list[Answer]:
        """``count`` requests from ``parallel`` threads; answers in request order."""
        with ThreadPoolExecutor(parallel) as pool:
            return list(pool.map(send, range(count)))

    def spread(
        self, send: Callable[[int], Answer], *, at_least: int = 8, parallel: int = 8, rounds: int = 20
    ) -> list[Answer]:
        """Requests in batches of ``at_least`` until at least two workers have answered some; all answers in order.

        Which worker accepts a connection is up to the kernel: a short burst can go to one worker only.
        """
        answers: list[Answer] = []
        for _ in range(rounds):
            offset = len(answers)
            answers += self.many(at_least, lambda i, first=offset: send(first + i), parallel=parallel)
            if len(self.workers_of(answers)) >= 2:
                return answers
        raise AssertionError(f"{len(answers)} requests all reached one worker")

    def workers_of(self, answers: list[Answer]) -> set[str]:
        """The worker pids that served ``answers``, from the access log (waits for its lines)."""
        wanted = {a.tag for a in answers}
        deadline = time.monotonic() + 120  # a hang guard, not a speed check
        while True:
            pids = {}
            for line in self.live.text().splitlines():
                match = re.search(r'"(w-[0-9a-f]{12})" pid=<(\d+)>', line)
                if match and match.group(1) in wanted:
                    pids[match.group(1)] = match.group(2)
            if len(pids) == len(wanted) or time.monotonic() > deadline:
                assert len(pids) == len(wanted), (
                    f"{len(wanted) - len(pids)} requests missing from the access log"
                )
                return set(pids.values())
            time.sleep(0.1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Two workers, a long token cache (a revocation must not wait for it) and a small invalid-token limit."""
    tmp = tmp_path_factory.mktemp("workers")
    store = Store.open(tmp / "api.db")
    store.series.ingest(hourly_history("svc", "cpu", days=3))
    _, admin = store.tokens.create_token(["admin"], "workers-test")
    store.close()
    env = {
        "CAPACITY_API_TOKEN_CACHE_S": "300",
        "CAPACITY_API_AUTH_FAIL_LIMIT": str(FAIL_LIMIT),
        "CAPACITY_API_AUTH_FAIL_WINDOW_S": "120",
        "CAPACITY_API_WORKER": "false",
        "CAPACITY_SERVE_ACCESS_LOG": "true",  # each line names the worker that answered
    }
    live = start_server(tmp / "api.db", tmp / "server.log", workers=2, env=env)
    server = Server(live, int(live.url.rsplit(":", 1)[1]), admin, tmp / "api.db")
    deadline = time.monotonic() + 300  # /healthz answered once one worker was up; wait for the second too
    while len(server.workers_of(server.many(8, lambda i: server.request("GET", "/healthz")))) < 2:
        if time.monotonic() > deadline:
            live.stop(signal.SIGKILL)
            raise AssertionError(f"the second worker never answered: {live.text()[-3000:]}")
        time.sleep(0.5)
    yield server
    shared = _shared_dirs(live.proc.pid)
    live.stop()
    log = live.text()
    assert "Traceback" not in log, log[-3000:]
    assert shared, "found no shared directory of the server"
    for path in shared:
        assert not path.exists(), f"capacity serve left {path} behind"


def _shared_dirs(master: int) -> list[Path]:
    """The server's shared directories: those holding metrics files of its worker processes."""
    workers = set()
    for proc in Path("/proc").iterdir():
        try:
            if (
                proc.name.isdigit()
                and int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]) == master
            ):
                workers.add(proc.name)
        except (OSError, IndexError, ValueError):
            continue
    found = []
    for path in Path(tempfile.gettempdir()).glob("capacity-serve-*"):
        names = {p.stem.rsplit("_", 1)[-1] for p in (path / "metrics").glob("*.db")}
        if names & workers:
            found.append(path)
    return found


def _count(text: str, sample: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics_are_the_whole_servers_totals_whichever_worker_answers(server: Server) -> None:
    answers = server.spread(lambda i: server.request("HEAD", "/healthz"), at_least=40)
    assert all(a.status_code == 200 for a in answers)
    n = len(answers)
    scrapes = server.spread(lambda i: server.request("GET", "/metrics"), at_least=6, parallel=3)
    assert len(scrapes) >= 6
    for scrape in scrapes:
        text = scrape.get_data(as_text=True)
        assert (
            _count(text, 'capacity_http_requests_total{method="HEAD",route="/healthz",status="200"}') == n
        ), text[:2000]
        assert (
            _count(text, 'capacity_http_request_duration_seconds_count{method="HEAD",route="/healthz"}') == n
        )
        inf = 'capacity_http_request_duration_seconds_bucket{method="HEAD",route="/healthz",le="+Inf"}'
        assert _count(text, inf) == n


def test_the_invalid_token_limit_counts_a_clients_failures_on_every_worker(server: Server) -> None:
    guesser = "127.0.0.2"  # its own client address, so the other tests' requests are not limited

    def guess(i: int) -> Answer:
        return server.request("GET", "/api/v1/series", token=f"cp_guess{i}", source=guesser)

    # One at a time, so that each guess is counted before the next is checked.
    answers = server.spread(guess, at_least=3 * FAIL_LIMIT, parallel=1)
    statuses = [a.status_code for a in answers]
    assert statuses == [401] * FAIL_LIMIT + [429] * (len(answers) - FAIL_LIMIT), statuses
    assert_problem(answers[-1], 429)
    assert int(answers[-1].headers["retry-after"]) >= 1
    # The right token from the same client is refused by every worker during the lockout; other clients pass.
    locked = server.spread(
        lambda i: server.request("GET", "/api/v1/series", token=server.admin, source=guesser)
    )
    assert {a.status_code for a in locked} == {429}
    assert server.request("GET", "/api/v1/series", token=server.admin).status_code == 200


def test_concurrent_guesses_on_every_worker_get_no_more_than_the_limit(server: Server) -> None:
    guesser = "127.0.0.3"

    def guess(i: int) -> Answer:
        return server.request("GET", "/api/v1/series", token=f"cp_burst{i}", source=guesser)

    # Eight at a time over both workers (4 threads each): without one atomic check-and-count per guess, several
    # would pass the check before any of them was counted.
    answers = server.spread(guess, at_least=6 * FAIL_LIMIT, parallel=8)
    statuses = [a.status_code for a in answers]
    assert statuses.count(401) == FAIL_LIMIT, statuses
    assert set(statuses) == {401, 429}


def test_a_revoked_token_is_refused_at_once_by_every_worker(server: Server) -> None:
    store = Store.open(server.db)
    by_store, secret_store = store.tokens.create_token(["read"], "revoked-by-another-process")
    by_api, secret_api = store.tokens.create_token(["read"], "revoked-over-http")

    def probe(secret: str) -> list[Answer]:
        # A new client address per request: the 401s must not add up to the invalid-token limit.
        return server.spread(
            lambda i: server.request(
                "GET", "/api/v1/services", token=secret, source=f"127.0.{1 + i // 250}.{1 + i % 250}"
            )
        )

    for secret in (secret_store, secret_api):
        assert {a.status_code for a in probe(secret)} == {200}  # now cached by both workers

    store.tokens.revoke_token(by_store.id)  # from another process, as `capacity token revoke` does
    for answer in probe(secret_store):
        assert_problem(answer, 401)

    deleted = server.request("DELETE", f"/api/v1/tokens/{by_api.id}", token=server.admin)
    assert deleted.status_code == 204  # one worker revokes; the other must notice as well
    assert {a.status_code for a in probe(secret_api)} == {401}
    store.close()


@pytest.mark.parametrize(
    ("headers", "path", "status", "field", "words"),
    [
        ({}, "/api/v1/series?name=" + "a" * 5000, 414, "request_line", "4094 bytes"),
        ({f"X-Extra-{i}": "1" for i in range(120)}, "/healthz", 431, "headers", "100 header fields"),
        ({"X-Big": "b" * 9000}, "/healthz", 431, "headers", "8190 bytes"),
    ],
    ids=["long-url", "too-many-headers", "huge-header"],
)
def test_oversized_requests_get_a_problem_document_naming_what_was_too_large(
    server: Server, headers: dict[str, str], path: str, status: int, field: str, words: str
) -> None:
    answers = server.many(6, lambda i: server.request("GET", path, headers=headers), parallel=3)
    for answer in answers:
        body = assert_problem(answer, status, field)
        assert words in body["detail"], body
        assert b"<html" not in answer.body.lower()
    # Just under the limits the same shapes are served normally.
    assert server.request("GET", "/healthz?pad=" + "a" * 3900).status_code == 200
    assert (
        server.request("GET", "/healthz", headers={f"X-Extra-{i}": "1" for i in range(80)}).status_code == 200
    )


@pytest.mark.parametrize(
    ("headers", "status", "words"),
    [
        # gunicorn refuses a body coded without chunked last (RFC 9112 6.3: no length), whatever the coding.
        ({"Transfer-Encoding": "gzip"}, 400, "'TRANSFER-ENCODING'"),
        ({"Transfer-Encoding": "br"}, 501, "Transfer-Encoding is not supported"),
        ({"Expect": "200-ok"}, 417, "Expect header cannot be met"),
        ({"X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "off"}, 400, "contradict each other"),
    ],
    ids=["transfer-encoding-gzip", "transfer-encoding-br", "expect", "scheme-headers"],
)
def test_other_refused_requests_get_a_problem_document_with_gunicorns_status(
    server: Server, headers: dict[str, str], status: int, words: str
) -> None:
    answers = server.many(4, lambda i: server.request("POST", "/api/v1/events", headers=headers), parallel=2)
    for answer in answers:
        body = assert_problem(answer, status)
        assert words in body["detail"], body
        assert b"<html" not in answer.body.lower()
        assert answer.headers["connection"] == "close"


def test_a_workers_counts_stay_in_the_totals_after_it_dies_and_is_replaced(server: Server) -> None:
    answers = server.spread(lambda i: server.request("OPTIONS", "/healthz"), at_least=20)
    assert {a.status_code for a in answers} == {200}
    before = server.workers_of(answers)
    victim = int(sorted(before)[0])
    os.kill(victim, signal.SIGKILL)  # the master's child_exit hook runs, and it starts a new worker
    deadline = time.monotonic() + 300
    while True:
        probes = server.many(8, lambda i: server.request("GET", "/healthz"))
        if len(server.workers_of(probes) - before) >= 1:
            break
        assert time.monotonic() < deadline, "no replacement worker answered"
        time.sleep(0.5)
    scrapes = server.spread(lambda i: server.request("GET", "/metrics"), at_least=6, parallel=3)
    sample = 'capacity_http_requests_total{method="OPTIONS",route="/healthz",status="200"}'
    assert {_count(s.get_data(as_text=True), sample) for s in scrapes} == {len(answers)}
    assert str(victim) not in server.workers_of(scrapes)


def test_two_processes_mapping_one_failure_table_see_each_others_failures(tmp_path: Path) -> None:
    # What two workers do: each maps the server's table file on its own.
    first = AuthFailures(limit=3, window_s=10.0, path=tmp_path / "table")
    second = AuthFailures(limit=3, window_s=10.0, path=tmp_path / "table")
    first.record("10.0.0.1", now=100.0)
    second.record("10.0.0.1", now=101.0)
    assert first.retry_after("10.0.0.1", now=101.5) == 0
    first.record("10.0.0.1", now=102.0)
    assert second.retry_after("10.0.0.1", now=102.5) == 8  # until the failure at 100.0 leaves the window
    assert second.retry_after("10.0.0.2", now=102.5) == 0
    assert first.retry_after("10.0.0.1", now=110.0) == 0
    first.close()
    second.close()


def test_the_failure_table_stays_bounded_under_a_spray_of_addresses(tmp_path: Path) -> None:
    table = AuthFailures(limit=2, window_s=60.0, path=tmp_path / "table", slots=64)
    size = (tmp_path / "table").stat().st_size
    for i in range(5000):
        table.record(f"10.1.{i // 256}.{i % 256}", now=float(i))
    assert (tmp_path / "table").stat().st_size == size
    table.record("192.0.2.7", now=5000.0)
    table.record("192.0.2.7", now=5000.5)
    assert table.retry_after("192.0.2.7", now=5001.0) == 59  # the newest client is tracked
    table.close()


def test_a_killed_servers_shared_directory_is_removed_by_the_next_one(tmp_path: Path) -> None:
    child = subprocess.Popen(["true"])  # once it has exited, its pid names a dead master
    child.wait()
    dead = tmp_path / f"{runtime.PREFIX}{child.pid}-abc"
    (dead / "metrics").mkdir(parents=True)
    running = subprocess.Popen(["sleep", "60"])  # a live master
    try:
        alive = tmp_path / f"{runtime.PREFIX}{running.pid}-def"
        alive.mkdir()
        assert runtime.remove_abandoned(tmp_path) == [dead]
        assert not dead.exists() and alive.exists()
    finally:
        running.kill()
        running.wait()


def test_a_directory_named_by_our_own_pid_is_abandoned(tmp_path: Path) -> None:
    # A container's server is pid 1 every time: the previous one's directory carries the pid this process has now.
    mine = tmp_path / f"{runtime.PREFIX}{os.getpid()}-old"
    (mine / "metrics").mkdir(parents=True)
    assert runtime.remove_abandoned(tmp_path) == [mine]
    assert not mine.exists()


def test_only_directories_actually_removed_are_reported(tmp_path: Path) -> None:
    child = subprocess.Popen(["true"])
    child.wait()
    target = tmp_path / "elsewhere"
    (target / "keep").mkdir(parents=True)
    link = tmp_path / f"{runtime.PREFIX}{child.pid}-link"
    link.symlink_to(target)  # looks like a dead server's directory; rmtree refuses to follow a link
    assert runtime.remove_abandoned(tmp_path) == []
    assert link.is_symlink() and (target / "keep").is_dir()
