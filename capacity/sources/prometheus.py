"""Pull history from a Prometheus server through ``/api/v1/query_range``.

A long range is split into requests of at most :data:`CHUNK_POINTS` points per series (Prometheus refuses more than
11,000), each retried with exponential backoff on 429/502/503/504 and timeouts. One query may return many series;
a label of each series (``--service-label``) names its service. Errors are one line: a bad query carries
Prometheus' own error text; an unreachable server, refused credentials and an empty result each say so.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import requests

from capacity.errors import InvalidHistory, InvalidInput, InvalidName, SourceError, describe_value
from capacity.schema import METRIC, SERVICE, TS, VALUE, validate_history, validate_name

#: Prometheus' limit of points per series in one range query.
MAX_POINTS = 11_000
#: Points per series asked for in one request: safely under the limit.
CHUNK_POINTS = 10_000
#: HTTP statuses that mean "try again later".
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: The longest wait between two attempts, in seconds (also caps ``Retry-After``).
MAX_BACKOFF = 30.0


@dataclass(frozen=True)
class PromSeries:
    """One series of a range query: its labels and its samples (epoch seconds, float values), sorted by time."""

    labels: Mapping[str, str]
    ts: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class PullStats:
    """What a range query cost: HTTP requests, retries, and samples dropped for being NaN or infinite."""

    requests: int
    retries: int
    dropped: int


def plan_chunks(
    start: float, end: float, step: float, max_points: int = CHUNK_POINTS
) -> list[tuple[float, float]]:
    """Split ``[start, end]`` into ranges of at most ``max_points`` evaluation points each.

    Prometheus evaluates a range query at ``start, start + step, ...`` up to ``end``; the chunks cover exactly those
    points, each once, in order.

    Raises:
        InvalidInput: when the step is not positive or the range is reversed.
    """
    if not step > 0:
        raise InvalidInput(f"step must be positive, got {describe_value(step)}", field="step")
    if end < start:
        raise InvalidInput(f"end ({end}) must not be before start ({start})", field="end")
    if max_points < 1:
        raise InvalidInput(f"max_points must be at least 1, got {max_points}", field="max_points")
    total = math.floor((end - start) / step + 1e-9) + 1
    chunks = []
    for first in range(0, total, max_points):
        last = min(total, first + max_points) - 1
        chunks.append((start + first * step, start + last * step))
    return chunks


def _labels_text(labels: Mapping[str, str]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return "{" + inner + "}"


def _connection_reason(exc: BaseException) -> str:
    # requests wraps the OS error several layers deep; the "[Errno 111] Connection refused" part is what helps.
    match = re.search(r"\[Errno -?\d+\] [^'\")\]]+", str(exc))
    return match.group(0).strip() if match else type(exc).__name__


def _fmt_time(seconds: float) -> str:
    return pd.Timestamp(seconds, unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M:%S")


class PrometheusClient:
    """A small ``query_range`` client with chunking, retries and bearer or basic auth.

    Args:
        url: the server's base URL, e.g. ``http://prometheus:9090`` (a path prefix is kept).
        token: a bearer token (e.g. behind an auth proxy), or None.
        user, password: HTTP basic auth, or None.
        timeout: seconds to wait for one response.
        retries: extra attempts after a 429/502/503/504, a timeout or a refused connection.
        backoff: the first wait between attempts in seconds; doubles each time.
        max_points: points per series per request (at most 11,000).
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        user: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        retries: int = 4,
        backoff: float = 0.5,
        max_points: int = CHUNK_POINTS,
    ) -> None:

        if not url.startswith(("http://", "https://")):
            raise InvalidInput(
                f"url must start with http:// or https://, got {describe_value(url)}", field="url"
            )
        if token and (user or password):
            raise InvalidInput("give either a bearer token or a user and password, not both", field="auth")
        if bool(user) != bool(password):
            raise InvalidInput("basic auth needs both a user and a password", field="auth")
        if not 1 <= max_points <= MAX_POINTS:
            raise InvalidInput(f"max_points must be in 1..{MAX_POINTS}, got {max_points}", field="max_points")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_points = max_points
        self._session = requests.Session()
        self._session.headers["Accept"] = "application/json"
        if token:
            self._session.headers["Authorization"] = f"Bearer {token}"
        elif user and password:
            self._session.auth = (user, password)

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections."""
        self._session.close()

    def _get(self, path: str, params: Mapping[str, str]) -> tuple[dict[str, Any], int]:
        """GET ``path`` and return the decoded JSON body and the number of retries it took."""

        endpoint = self.url + path
        attempt = 0
        while True:
            wait = min(MAX_BACKOFF, self.backoff * 2**attempt)
            try:
                response = self._session.get(endpoint, params=params, timeout=self.timeout)
            except requests.Timeout:
                if attempt >= self.retries:
                    raise SourceError(
                        f"Prometheus at {self.url} did not answer within {self.timeout:g}s ({attempt + 1} attempts)",
                        field="url",
                    ) from None
            except requests.ConnectionError as exc:
                if attempt >= self.retries:
                    reason = _connection_reason(exc)
                    raise SourceError(
                        f"cannot reach Prometheus at {self.url} ({attempt + 1} attempts): {reason}",
                        field="url",
                    ) from None
            else:
                if response.status_code in RETRY_STATUSES and attempt < self.retries:
                    after = response.headers.get("Retry-After", "")
                    if after.replace(".", "", 1).isdigit():
                        wait = min(MAX_BACKOFF, float(after))
                else:
                    return self._decode(response), attempt
            time.sleep(wait)
            attempt += 1

    def _decode(self, response: Any) -> dict[str, Any]:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if status == 200 and isinstance(body, dict) and body.get("status") == "success":
            return body
        detail = ""
        if isinstance(body, dict) and body.get("error"):
            detail = f"{body.get('errorType', 'error')}: {body['error']}"
        text = detail or " ".join(response.text.split())[:200]
        if status in (400, 422):
            raise SourceError(f"Prometheus rejected the query: {text}", field="query")
        if status in (401, 403):
            raise SourceError(
                f"Prometheus at {self.url} refused the credentials (HTTP {status}); give --token, or --user and "
                "--password",
                field="auth",
            )
        if status == 404:
            raise SourceError(
                f"no Prometheus API at {self.url} (HTTP 404 for {response.url}); check --url", field="url"
            )
        if status != 200:
            raise SourceError(f"Prometheus at {self.url} answered HTTP {status}: {text}", field="url")
        raise SourceError(
            f"Prometheus at {self.url} sent an answer that is not a query result: {text}", field="url"
        )

    def query_range(
        self, query: str, start: float, end: float, step: float
    ) -> tuple[list[PromSeries], PullStats]:
        """Evaluate ``query`` over ``[start, end]`` every ``step`` seconds, in chunks; merge the chunks per series.

        Args:
            query: a PromQL expression.
            start, end: epoch seconds (inclusive).
            step: seconds between evaluation points.

        Returns:
            The series (possibly none) with finite samples only, and what it cost.

        Raises:
            InvalidInput: for a bad range or step.
            SourceError: for a rejected query, an unreachable server, refused credentials or an error answer.
        """
        if not query.strip():
            raise InvalidInput("query must not be empty", field="query")
        parts: dict[tuple[tuple[str, str], ...], list[tuple[np.ndarray, np.ndarray]]] = {}
        requests_made = retries = dropped = 0
        for lo, hi in plan_chunks(start, end, step, self.max_points):
            params = {"query": query, "start": f"{lo:.3f}", "end": f"{hi:.3f}", "step": f"{step:g}"}
            body, tries = self._get("/api/v1/query_range", params)
            requests_made += 1
            retries += tries
            data = body.get("data") or {}
            if data.get("resultType") != "matrix":
                raise SourceError(
                    f"Prometheus answered a {data.get('resultType')!r} result, expected a range (matrix) result",
                    field="query",
                )
            for item in data.get("result") or []:
                labels = {str(k): str(v) for k, v in (item.get("metric") or {}).items()}
                points = item.get("values") or []
                ts = np.fromiter((float(p[0]) for p in points), dtype=np.float64, count=len(points))
                values = np.fromiter((float(p[1]) for p in points), dtype=np.float64, count=len(points))
                finite = np.isfinite(values)
                dropped += int((~finite).sum())
                key = tuple(sorted(labels.items()))
                parts.setdefault(key, []).append((ts[finite], values[finite]))
        out = []
        for key, chunks in parts.items():
            ts = np.concatenate([c[0] for c in chunks])
            values = np.concatenate([c[1] for c in chunks])
            order = np.argsort(ts, kind="stable")
            ts, values = ts[order], values[order]
            keep = np.concatenate(([True], np.diff(ts) > 0)) if len(ts) else np.zeros(0, dtype=bool)
            if len(ts):
                out.append(PromSeries(dict(key), ts[keep], values[keep]))
        return out, PullStats(requests_made, retries, dropped)


def to_history(
    series: Sequence[PromSeries], service_label: str, metric: str, *, query: str = ""
) -> pd.DataFrame:
    """Turn range-query series into a validated history frame: the ``service_label`` label names each service.

    Raises:
        SourceError: when a series lacks the label, or two series map to the same service.
        InvalidHistory: when a label value is not a valid service name, or a value fails validation.
    """
    validate_name(metric, "metric")
    seen: dict[str, Mapping[str, str]] = {}
    frames = []
    for s in series:
        if service_label not in s.labels:
            have = ", ".join(sorted(s.labels)) or "no labels"
            raise SourceError(
                f"series {_labels_text(s.labels)} has no label {service_label!r} (it has {have}); choose another "
                f"--service-label or keep the label in the query, e.g. avg by ({service_label}) (...)",
                field="service_label",
            )
        service = s.labels[service_label]
        try:
            validate_name(service, "service")
        except InvalidName as exc:
            raise InvalidHistory(
                f"label {service_label}={service!r} is not a usable service name: {exc.message}",
                field="service",
            ) from None
        if service in seen:
            raise SourceError(
                f"two series map to service {service!r} (label {service_label!r}): {_labels_text(seen[service])} and "
                f"{_labels_text(s.labels)}; aggregate them in the query, e.g. avg by ({service_label}) ({query or '...'})",
                field="service_label",
            )
        seen[service] = s.labels
        frames.append(
            pd.DataFrame(
                {
                    SERVICE: service,
                    METRIC: metric,
                    TS: pd.to_datetime(s.ts, unit="s", utc=True),
                    VALUE: s.values,
                }
            )
        )
    if not frames:
        raise SourceError("no series to store", field="query")
    return validate_history(pd.concat(frames, ignore_index=True), source=f"prometheus {metric}")


def pull_history(
    client: PrometheusClient,
    query: str,
    start: float,
    end: float,
    step: float,
    service_label: str,
    metric: str,
) -> tuple[pd.DataFrame, PullStats]:
    """Run ``query`` over the range and return the validated history frame and what the pull cost.

    Raises:
        SourceError: for an empty result (naming the query and the range) and every error of
            :meth:`PrometheusClient.query_range` and :func:`to_history`.
    """
    series, stats = client.query_range(query, start, end, step)
    if not series:
        raise SourceError(
            f"the query {query!r} returned no samples between {_fmt_time(start)} and {_fmt_time(end)} UTC "
            "(check the metric name, the labels and the range)",
            field="query",
        )
    return to_history(series, service_label, metric, query=query), stats
