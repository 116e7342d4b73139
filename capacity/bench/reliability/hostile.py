"""Hostile and broken input for the API: each case must get a clear 4xx problem document and store nothing.

The cases are data (method, path, content type, body, the statuses allowed), run through a ``send`` function, so
the same list runs against a live ``capacity serve`` (the bench) and against Flask's test client (the tests).
After each case the row counts of every table are compared with those before it: a rejected request that left
anything behind is a failure. Injection strings that are valid names are stored verbatim (parameterized SQL)
and must come back unchanged and escaped in the HTML report.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import quote

import requests

#: (status, lower-cased headers, body) of one answer.
Answer = tuple[int, dict[str, str], bytes]
#: send(method, path, headers, body) -> Answer
Send = Callable[[str, str, dict[str, str], bytes | None], Answer]

SAMPLES = "/api/v1/series/hostile/cpu/samples"
JSON = "application/json"
CSV = "text/csv"
T0 = 1_767_225_600
SQL_NAME = "x'); DROP TABLE events;--"
SCRIPT = "<script>alert(1)</script>"
#: Text that must never appear in an answer: a traceback, a Python frame, a driver error.
LEAKS = ("Traceback", 'File "', "sqlalchemy", "sqlite3.", "psycopg")


@dataclass(frozen=True)
class Case:
    """One hostile request and the statuses it may get."""

    name: str
    method: str
    path: str
    body: bytes | None = None
    content_type: str | None = JSON
    expect: tuple[int, ...] = (400, 422)
    #: False only where a front server (gunicorn) may answer before the app can: its own error page, still 4xx.
    problem: bool = True


def _j(obj: object) -> bytes:
    return json.dumps(obj).encode()


def _cols(ts: list[object], values: list[object]) -> bytes:
    return _j({"ts": ts, "value": values})


def _prom(labels: list[object], value: str = "1") -> bytes:
    """A Prometheus query_range response with one result per label set, each of two samples."""
    result = [{"metric": m, "values": [[T0, "1"], [T0 + 60, value]]} for m in labels]
    return _j({"status": "success", "data": {"resultType": "matrix", "result": result}})


def cases() -> list[Case]:
    """Every hostile request, by name."""
    good_csv = "timestamp,value\n2026-01-01T00:00:00Z,1\n"
    return [
        Case("csv: malformed timestamp", "POST", SAMPLES, f"{good_csv}not-a-date,2\n".encode(), CSV),
        Case("csv: truncated mid-row", "POST", SAMPLES, f"{good_csv}2026-01-01T0".encode(), CSV),
        Case("csv: extra column", "POST", SAMPLES, b"timestamp,value\n2026-01-01T00:00:00Z,1,5\n", CSV),
        Case("csv: bad number", "POST", SAMPLES, f"{good_csv}2026-01-01T01:00:00Z,1e\n".encode(), CSV),
        Case("csv: empty body", "POST", SAMPLES, b"", CSV),
        Case("csv: UTF-16", "POST", SAMPLES, good_csv.encode("utf-16"), CSV),
        Case("csv: Latin-1 byte", "POST", SAMPLES, f"{good_csv}\xe9,2\n".encode("latin-1"), CSV),
        Case("csv: NUL bytes", "POST", SAMPLES, b"timestamp,value\n2026-01-01T00:00:00Z,1\x00\n", CSV),
        Case("csv: nan", "POST", SAMPLES, b"timestamp,value\n2026-01-01T00:00:00Z,nan\n", CSV),
        Case("csv: inf", "POST", SAMPLES, b"timestamp,value\n2026-01-01T00:00:00Z,-inf\n", CSV),
        Case("json: malformed", "POST", SAMPLES, b'{"ts": [1767225600, "value": [1]}'),
        Case("json: truncated", "POST", SAMPLES, _cols([T0, T0 + 60], [1, 2])[:-9]),
        Case(
            "json: Latin-1 byte",
            "POST",
            SAMPLES,
            '{"ts":[1767225600],"value":[1],"x":"\xe9"}'.encode("latin-1"),
        ),
        Case("json: NaN", "POST", SAMPLES, b'{"ts":[1767225600,1767225660],"value":[1,NaN]}'),
        Case("json: Infinity", "POST", SAMPLES, b'{"ts":[1767225600,1767225660],"value":[Infinity,1]}'),
        Case("json: 1e999", "POST", SAMPLES, b'{"ts":[1767225600,1767225660],"value":[1,1e999]}'),
        Case(
            "json: 5000-digit integer", "POST", SAMPLES, b'{"ts":[1767225600],"value":[' + b"9" * 5000 + b"]}"
        ),
        Case("json: value is text", "POST", SAMPLES, _cols([T0], ["12; DROP TABLE samples"])),
        Case("json: value is null", "POST", SAMPLES, _cols([T0, T0 + 60], [1, None])),
        Case("json: ts and value lengths differ", "POST", SAMPLES, _cols([T0, T0 + 60], [1])),
        Case("json: not an object", "POST", SAMPLES, b"[1, 2, 3]"),
        Case("json: nested 100,000 deep", "POST", SAMPLES, b"[" * 100_000 + b"]" * 100_000),
        Case("json: object nested 50,000 deep", "POST", SAMPLES, b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
        Case("ts: year 1800", "POST", SAMPLES, _cols(["1800-01-01T00:00:00Z"], [1])),
        Case("ts: year 9999", "POST", SAMPLES, _cols(["9999-12-31T00:00:00Z"], [1])),
        Case("ts: epoch 0", "POST", SAMPLES, _cols([0], [1])),
        Case("ts: epoch 1e15", "POST", SAMPLES, _cols([1e15], [1])),
        Case("ts: negative epoch", "POST", SAMPLES, _cols([-T0], [1])),
        Case(
            "ts: one bad row among good",
            "POST",
            SAMPLES,
            _cols([T0, "2026-13-01T00:00:00Z", T0 + 120], [1, 2, 3]),
        ),
        Case("prometheus: two results, no label", "POST", SAMPLES, _prom([{"i": "a"}, {"i": "b"}])),
        Case(
            "prometheus: label naming none", "POST", f"{SAMPLES}?label=%7Bi%3D%22c%22%7D", _prom([{"i": "a"}])
        ),
        Case("prometheus: value is text", "POST", SAMPLES, _prom([{}], "1; DROP TABLE samples")),
        Case("prometheus: labels not an object", "POST", SAMPLES, _prom([["a"]])),
        Case(
            "prometheus: vector result",
            "POST",
            SAMPLES,
            _j({"status": "success", "data": {"resultType": "vector"}}),
        ),
        Case("prometheus: failed query", "POST", SAMPLES, _j({"status": "error", "error": SCRIPT})),
        Case("content type: XML", "POST", SAMPLES, b"<samples/>", "application/xml", (415,)),
        Case("name: 1000 characters", "POST", f"/api/v1/series/{'a' * 1000}/cpu/samples", _cols([T0], [1])),
        Case(
            "name: 5000 characters (request line past gunicorn's 4094-byte limit: 414)",
            "POST",
            f"/api/v1/series/{'a' * 5000}/cpu/samples",
            _cols([T0], [1]),
            JSON,
            (414, 422),
            problem=False,
        ),
        Case("name: newline", "POST", "/api/v1/series/sv%0Ac/cpu/samples", _cols([T0], [1])),
        Case("name: NUL", "POST", "/api/v1/series/sv%00c/cpu/samples", _cols([T0], [1])),
        Case("name: escape sequence", "POST", "/api/v1/series/sv%1B%5B31mc/cpu/samples", _cols([T0], [1])),
        Case(
            "name: SQL injection",
            "POST",
            "/api/v1/series/x'%3B%20DROP%20TABLE%20samples%3B--/cpu/samples",
            _cols([T0], [1]),
        ),
        Case("name: HTML", "POST", "/api/v1/series/%3Cscript%3E/cpu/samples", _cols([T0], [1])),
        Case("name: unicode lookalike", "POST", "/api/v1/series/s%D0%B5rvice/cpu/samples", _cols([T0], [1])),
        Case(
            "path: traversal in report",
            "GET",
            "/api/v1/events/..%2F..%2Fetc%2Fpasswd/report",
            None,
            None,
            (400, 404, 422),
        ),
        Case(
            "path: traversal in series",
            "GET",
            "/api/v1/series/..%2F..%2Fetc/passwd/forecast",
            None,
            None,
            (400, 404, 422),
        ),
        Case(
            "path: dot-dot segments", "GET", "/api/v1/series/../../../etc/passwd", None, None, (400, 404, 422)
        ),
        Case(
            "event: script name",
            "POST",
            "/api/v1/events",
            _j({"name": SCRIPT, "start": "2026-02-01", "end": "2026-02-02"}),
        ),
        Case(
            "event: control characters",
            "POST",
            "/api/v1/events",
            _j({"name": "a\u0000b\u001b", "start": "2026-02-01", "end": "2026-02-02"}),
        ),
        Case(
            "event: 10,000-character name",
            "POST",
            "/api/v1/events",
            _j({"name": "e" * 10_000, "start": "2026-02-01", "end": "2026-02-02"}),
        ),
        Case(
            "event: NaN multiplier",
            "POST",
            "/api/v1/events",
            b'{"name":"n","start":"2026-02-01","end":"2026-02-02","multiplier_low":NaN}',
        ),
        Case(
            "event: year 1 to 9999",
            "POST",
            "/api/v1/events",
            _j({"name": "far", "start": "0001-01-01", "end": "9999-12-31"}),
        ),
        Case(
            "event: end before start",
            "POST",
            "/api/v1/events",
            _j({"name": "back", "start": "2026-02-05", "end": "2026-02-01"}),
        ),
        Case("event: deeply nested", "POST", "/api/v1/events", b"[" * 50_000 + b"]" * 50_000),
        Case(
            "job: traversal in series", "POST", "/api/v1/jobs/forecasts", _j({"series": ["../../etc/passwd"]})
        ),
        Case(
            "series patch: NaN threshold",
            "PATCH",
            "/api/v1/series/hostile/cpu",
            b'{"threshold": NaN}',
            JSON,
            (400, 404, 422),
        ),
        Case(
            "forecast: horizon 10 years",
            "GET",
            "/api/v1/series/hostile/cpu/forecast?horizon=3650d",
            None,
            None,
            (400, 404, 422),
        ),
        Case(
            "forecast: quantiles injection",
            "GET",
            "/api/v1/series/hostile/cpu/forecast?quantiles=1;DROP",
            None,
            None,
            (400, 404, 422),
        ),
    ]


@dataclass
class HostileResult:
    """What the hostile cases found."""

    cases: int = 0
    failures: int = 0
    stored: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check_answer(
    case: str, answer: Answer, expect: Iterable[int], secrets: Iterable[str] = (), *, problem: bool = True
) -> list[str]:
    """What is wrong with an answer to a hostile request (empty when it is a clear problem document)."""
    status, headers, body = answer
    wrong: list[str] = []
    if status not in tuple(expect):
        wrong.append(f"{case}: status {status}, wanted one of {tuple(expect)}: {body[:200]!r}")
    if not problem and headers.get("content-type", "").split(";")[0] != "application/problem+json":
        pass  # the front server's own 4xx page; the status alone is checked
    elif headers.get("content-type", "").split(";")[0] != "application/problem+json":
        wrong.append(f"{case}: content type {headers.get('content-type')!r}, not a problem document")
    else:
        try:
            doc = json.loads(body)
        except ValueError:
            doc = {}
        if doc.get("status") != status or not str(doc.get("detail", "")).strip():
            wrong.append(f"{case}: problem document without status or detail: {body[:200]!r}")
    text = body.decode("utf-8", "replace")
    for needle in (*LEAKS, *secrets):
        if needle and needle in text:
            shown = needle if needle in LEAKS else "a token"
            wrong.append(f"{case}: the answer leaks {shown}")
    return wrong


def run_cases(
    send: Send, snapshot: Callable[[], dict[str, int]], token: str, selected: Iterable[Case] | None = None
) -> HostileResult:
    """Send every case with a write token; check each answer and that nothing was stored."""
    result = HostileResult()
    auth = {"Authorization": f"Bearer {token}"}
    for case in cases() if selected is None else selected:
        before = snapshot()
        headers = {**auth, **({"Content-Type": case.content_type} if case.content_type else {})}
        answer = send(case.method, case.path, headers, case.body)
        wrong = check_answer(case.name, answer, case.expect, (token,), problem=case.problem)
        after = snapshot()
        if after != before:
            result.stored += 1
            wrong.append(f"{case.name}: stored something: {before} -> {after}")
        result.cases += 1
        result.failures += bool(wrong)
        result.problems.extend(wrong)
    return result


def run_injection_roundtrip(send: Send, token: str) -> HostileResult:
    """Injection strings that are valid input are stored verbatim and come back escaped in the HTML report."""

    result = HostileResult()
    auth = {"Authorization": f"Bearer {token}", "Content-Type": JSON}
    steps = [
        (
            "POST",
            SAMPLES,
            _cols([T0 + 3600 * i for i in range(48)], [40.0 + i % 7 for i in range(48)]),
            (200, 201),
        ),
        (
            "POST",
            "/api/v1/events",
            _j({"name": SQL_NAME, "start": "2026-01-03", "end": "2026-01-04"}),
            (201,),
        ),
        ("PATCH", "/api/v1/series/hostile/cpu", _j({"description": SCRIPT + SQL_NAME}), (200,)),
    ]
    for method, path, body, expect in steps:
        status, _h, text = send(method, path, auth, body)
        result.cases += 1
        if status not in expect:
            result.failures += 1
            result.problems.append(f"{method} {path}: {status} {text[:200]!r}")
    status, _h, text = send("GET", f"/api/v1/events/{quote(SQL_NAME, safe='')}", auth, None)
    result.cases += 1
    if status != 200 or json.loads(text).get("name") != SQL_NAME:
        result.failures += 1
        result.problems.append(f"event {SQL_NAME!r} did not come back verbatim: {status} {text[:200]!r}")
    status, _h, page = send(
        "GET",
        f"/api/v1/events/{quote(SQL_NAME, safe='')}/report?format=html",
        {**auth, "Accept": "text/html"},
        None,
    )
    result.cases += 1
    html = page.decode("utf-8", "replace")
    if status != 200 or SCRIPT in html or SQL_NAME in html:
        result.failures += 1
        result.problems.append(
            f"report of {SQL_NAME!r}: status {status}, raw script or unescaped name in the HTML"
        )
    return result


def live_send(url: str) -> Send:
    """A ``send`` for a live server at ``url`` (requests, no retries)."""

    session = requests.Session()

    def send(method: str, path: str, headers: dict[str, str], body: bytes | None) -> Answer:
        resp = session.request(method, url + path, headers=headers, data=body, timeout=60)
        return resp.status_code, {k.lower(): v for k, v in resp.headers.items()}, resp.content

    return send


def huge_body_check(host: str, port: int, token: str, rows: int = 10_000_000) -> HostileResult:
    """Announce a CSV body of ``rows`` rows, send only its first 256 KB, and expect 413 before the rest is sent."""

    result = HostileResult(cases=1)
    row = b"2026-01-01T00:00:00Z,41.5\n"
    head = b"timestamp,value\n"
    size = len(head) + rows * len(row)
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.putrequest("POST", SAMPLES)
        conn.putheader("Authorization", f"Bearer {token}")
        conn.putheader("Content-Type", CSV)
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        sent = 0
        try:
            conn.send(head + row * (256 * 1024 // len(row)))
            sent = 256 * 1024
        except OSError:  # the server answered and closed before taking even this much
            pass
        resp = conn.getresponse()
        answer = (resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()
    wrong = check_answer(f"{rows:,} rows in one request", answer, (413,), (token,))
    if wrong:
        result.failures = 1
        result.problems.extend(wrong)
    result.notes.append(f"413 after sending {sent:,} of {size:,} bytes")
    return result
