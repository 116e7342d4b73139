"""Every GET route of the API, as the load test and the API benchmark read them (a plain module: no Locust).

Each route has the name its latency is reported under (the route template) and a path with placeholders that
:func:`path_for` fills: ``{series}`` (``service/metric``), ``{rate}`` (a request-rate series), ``{event}`` (an event
name, URL-quoted) and ``{job}`` (a job id).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Route:
    """One GET route: its report name, its path template, and whether it needs a token."""

    name: str
    path: str
    auth: bool = True


_S = "/api/v1/series/{service}/{metric}"
_E = "/api/v1/events/{name}"

#: Every GET route (the report twice: HTML for browsers, JSON for programs).
ROUTES: tuple[Route, ...] = (
    Route("GET /healthz", "/healthz", auth=False),
    Route("GET /metrics", "/metrics", auth=False),
    Route("GET /openapi.json", "/openapi.json", auth=False),
    Route("GET /docs", "/docs", auth=False),
    Route("GET /api/v1/services", "/api/v1/services"),
    Route("GET /api/v1/series", "/api/v1/series"),
    Route(f"GET {_S}", "/api/v1/series/{series}"),
    Route(f"GET {_S}/forecast", "/api/v1/series/{series}/forecast"),
    Route(f"GET {_S}/forecast.png", "/api/v1/series/{series}/forecast.png"),
    Route(f"GET {_S}/points", "/api/v1/series/{series}/points"),
    Route(f"GET {_S}/accuracy", "/api/v1/series/{series}/accuracy"),
    Route(f"GET {_S}/loadtest-plan", "/api/v1/series/{rate}/loadtest-plan"),
    Route("GET /api/v1/risks", "/api/v1/risks"),
    Route("GET /api/v1/risks?event={name}", "/api/v1/risks?event={event}"),
    Route("GET /api/v1/events", "/api/v1/events"),
    Route(f"GET {_E}", "/api/v1/events/{event}"),
    Route(f"GET {_E}/report (json)", "/api/v1/events/{event}/report?format=json"),
    Route(f"GET {_E}/report (html)", "/api/v1/events/{event}/report?format=html"),
    Route("GET /api/v1/jobs", "/api/v1/jobs"),
    Route("GET /api/v1/jobs/{job_id}", "/api/v1/jobs/{job}"),
    Route("GET /api/v1/tokens", "/api/v1/tokens"),
)


def usable(*, rate: str, event: str, job: str) -> tuple[Route, ...]:
    """The routes whose placeholders can be filled (a route needing an event is left out without one)."""
    have = {"{rate}": rate, "{event}": event, "{job}": job}
    return tuple(r for r in ROUTES if all(value or key not in r.path for key, value in have.items()))


def path_for(route: Route, *, series: str, rate: str = "", event: str = "", job: str = "") -> str:
    """The route's path with its placeholders filled."""
    return (
        route.path.replace("{series}", series)
        .replace("{rate}", rate)
        .replace("{event}", quote(event, safe=""))
        .replace("{job}", job)
    )
