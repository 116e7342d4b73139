"""Talk to the capacity-planner API from the headroom CLI: fetch a plan, post a result (plain ``requests``).

Endpoints (``Authorization: Bearer TOKEN``)::

    GET  /api/v1/series/{service}/{metric}/loadtest-plan?event=NAME&margin=1.3&step_seconds=10  -> plan dict
    POST /api/v1/loadtests  {"service", "metric", "result", "apply"}  -> {"id", "measured_capacity_rps", "applied", ...}

Errors come back as RFC 9457 problem documents; they are turned into the matching one-line
:class:`capacity.errors.CapacityError` (404 -> unknown series, 4xx -> invalid input, others -> source error).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from capacity.errors import CapacityError, InvalidInput, SourceError, UnknownSeries
from loadtests.plan import LoadPlan
from loadtests.plan_build import parse_plan

TIMEOUT_S = 30.0


def _headers(token: str | None) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _base(api: str) -> str:
    if not api.startswith(("http://", "https://")):
        raise InvalidInput(f"--api must be an http:// or https:// URL, got {api!r}", field="api")
    return api.rstrip("/")


def _raise_for(resp: Any, what: str) -> None:
    if resp.status_code < 400:
        return
    detail = ""
    try:
        body = resp.json()
        detail = str(body.get("detail") or body.get("title") or "")
    except ValueError:
        detail = resp.text.strip().splitlines()[0] if resp.text.strip() else ""
    message = f"{what}: HTTP {resp.status_code}" + (f": {detail}" if detail else "")
    if resp.status_code == 404:
        raise UnknownSeries(message, field="series")
    if resp.status_code in (401, 403):
        raise InvalidInput(message + " (check --token / CAPACITY_TOKEN)", field="token")
    if resp.status_code < 500:
        raise InvalidInput(message)
    raise SourceError(message)


def _call(method: str, url: str, what: str, token: str | None, **kwargs: Any) -> Any:

    try:
        resp = requests.request(method, url, headers=_headers(token), timeout=TIMEOUT_S, **kwargs)
    except requests.RequestException as exc:
        raise SourceError(f"{what}: cannot reach {url}: {type(exc).__name__}") from None
    _raise_for(resp, what)
    try:
        return resp.json()
    except ValueError:
        raise SourceError(f"{what}: the API answered with something that is not JSON") from None


def fetch_plan(
    api: str,
    service: str,
    metric: str,
    *,
    token: str | None = None,
    event: str | None = None,
    margin: float | None = None,
    step_seconds: float | None = None,
) -> LoadPlan:
    """Get the load plan the API derives from the series' forecast peak, and validate it.

    Raises:
        UnknownSeries: when the API does not know the series (HTTP 404).
        InvalidInput: for another 4xx, or a plan that fails validation.
        SourceError: when the API cannot be reached or fails.
    """
    params: dict[str, Any] = {}
    if event:
        params["event"] = event
    if margin is not None:
        params["margin"] = margin
    if step_seconds is not None:
        params["step_seconds"] = step_seconds
    url = f"{_base(api)}/api/v1/series/{quote(service, safe='')}/{quote(metric, safe='')}/loadtest-plan"
    raw = _call("GET", url, f"plan for {service}/{metric}", token, params=params)
    try:
        return parse_plan(raw)
    except CapacityError as exc:
        raise InvalidInput(
            f"the API's plan for {service}/{metric} is invalid: {exc}", field=exc.field
        ) from None


def post_result(
    api: str, service: str, metric: str, result: dict[str, Any], *, apply: bool, token: str | None = None
) -> dict[str, Any]:
    """Send a run's result to the API to be stored (and, with ``apply``, to become the series' threshold).

    Returns:
        The API's answer (``id``, ``measured_capacity_rps``, ``applied``, ...).

    Raises:
        UnknownSeries, InvalidInput, SourceError: as :func:`fetch_plan`.
    """
    body = {"service": service, "metric": metric, "result": result, "apply": apply}
    answer = _call(
        "POST", f"{_base(api)}/api/v1/loadtests", f"post result for {service}/{metric}", token, json=body
    )
    if not isinstance(answer, dict) or "id" not in answer:
        raise SourceError("post result: the API's answer has no id")
    return answer
