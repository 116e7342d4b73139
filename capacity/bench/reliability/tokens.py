"""Tokens under attack, against a live server: guessing is slowed (429), and no secret leaks into logs or answers.

The server runs with a small failed-authentication limit and window (``AUTH_LIMIT``, ``AUTH_WINDOW_S``). A burst
of invalid tokens gets 401 up to the limit and then 429 problem documents with ``Retry-After``, even for a valid
token (a guesser must not learn the right one at full speed); after the window a valid token works again. Then
every token value the run used is searched for in the server's log (access log on), in ``/metrics`` and in
error answers, along with tracebacks and database URLs.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

AUTH_LIMIT = 5
AUTH_WINDOW_S = 3.0
#: Server environment for the token check (limits small enough to hit and wait out in seconds).
SERVER_ENV = {
    "CAPACITY_API_AUTH_FAIL_LIMIT": str(AUTH_LIMIT),
    "CAPACITY_API_AUTH_FAIL_WINDOW_S": str(AUTH_WINDOW_S),
}


@dataclass
class TokenResult:
    """What the token checks found."""

    cases: int = 0
    failures: int = 0
    problems: list[str] = field(default_factory=list)

    def expect(self, ok: bool, message: str) -> None:
        """Count one check; record ``message`` when it failed."""
        self.cases += 1
        if not ok:
            self.failures += 1
            self.problems.append(message)


def check_tokens(url: str, token: str, log: Path, other_secrets: tuple[str, ...] = ()) -> TokenResult:
    """Run the brute-force and leak checks against the server at ``url`` whose log is ``log``."""

    result = TokenResult()
    api = f"{url}/api/v1/series"
    guesses = [f"cp_{secrets.token_urlsafe(32)}" for _ in range(AUTH_LIMIT + 3)]
    statuses = []
    answers = []
    for guess in guesses:
        resp = requests.get(api, headers={"Authorization": f"Bearer {guess}"}, timeout=30)
        statuses.append(resp.status_code)
        answers.append(resp)
    result.expect(
        statuses[:AUTH_LIMIT] == [401] * AUTH_LIMIT,
        f"the first {AUTH_LIMIT} invalid tokens should get 401, got {statuses[:AUTH_LIMIT]}",
    )
    result.expect(
        all(s == 429 for s in statuses[AUTH_LIMIT:]),
        f"invalid tokens past the limit should get 429, got {statuses[AUTH_LIMIT:]}",
    )
    limited = answers[-1]
    retry = limited.headers.get("Retry-After", "")
    result.expect(
        limited.headers.get("Content-Type", "").startswith("application/problem+json")
        and retry.isdigit()
        and 1 <= int(retry) <= int(AUTH_WINDOW_S) + 1,
        f"429 should be a problem document with Retry-After in 1..{AUTH_WINDOW_S:g}, got "
        f"{limited.headers.get('Content-Type')} Retry-After={retry!r}",
    )
    blocked = requests.get(api, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    result.expect(
        blocked.status_code == 429,
        f"a valid token during the lockout should get 429, got {blocked.status_code}",
    )
    time.sleep(AUTH_WINDOW_S + 0.5)
    again = requests.get(api, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    result.expect(
        again.status_code == 200, f"after the window a valid token should work, got {again.status_code}"
    )
    missing = requests.get(api, timeout=30)
    result.expect(missing.status_code == 401, f"no token should get 401, got {missing.status_code}")

    # Nothing secret in answers: error bodies, /metrics.
    metrics = requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    bodies = {"/metrics": metrics.text, **{f"answer {i + 1}": r.text for i, r in enumerate(answers)}}
    bodies["no-token answer"] = missing.text
    all_secrets = (token, *guesses, *other_secrets)
    for where, text in bodies.items():
        leaked = [s[:6] + "..." for s in all_secrets if s and s in text]
        result.expect(not leaked, f"{where} contains token values {leaked}")
        for needle in ("Traceback", 'File "', "postgresql://", "sqlite:///", "password"):
            result.expect(needle not in text, f"{where} contains {needle!r}")
    for resp in answers:
        try:
            detail = json.loads(resp.text).get("detail", "")
        except ValueError:
            detail = ""
        result.expect(bool(detail), f"an auth failure answer has no detail: {resp.text[:200]!r}")

    # Nothing secret in the server's log (gunicorn error log, access log, app log).
    text = log.read_text(errors="replace") if log.exists() else ""
    result.expect(bool(text.strip()), f"the server log {log} is empty, so it proves nothing")
    leaked = [s[:6] + "..." for s in all_secrets if s and s in text]
    result.expect(not leaked, f"the server log contains token values {leaked}")
    prefix_only = [s for s in all_secrets if s and s[:20] in text]
    result.expect(not prefix_only, "the server log contains long token prefixes")
    return result
