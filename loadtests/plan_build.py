"""Building validated load plans: from a dict (:func:`parse_plan`), plan text or a file (:func:`load_plan`), a
forecast peak (:func:`plan_from_peak`) or another plan with changes (:func:`with_overrides`). Pure apart from
reading the plan file; never imports locust.

Every check names the setting and the value that failed it (:class:`capacity.errors.InvalidConfig`).
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from capacity.errors import InvalidConfig, describe_value
from loadtests.plan import (
    DEFAULT_MARGIN,
    DEFAULT_REQUESTS,
    DEFAULT_SLO,
    DEFAULT_STEPS,
    MAX_RPS,
    MAX_STEPS,
    METHODS,
    REQUIRED,
    SETTINGS,
    LoadPlan,
    RequestSpec,
    Slo,
)


def _default(key: str) -> Any:
    """A setting's default, from the one table of them (:data:`loadtests.plan.SETTINGS`)."""
    return SETTINGS[key][0]


def _number(
    raw: Mapping[str, Any], key: str, where: str, *, lo: float, hi: float, lo_open: bool = True
) -> float:
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
        raise InvalidConfig(f"{where}{key} must be a number, got {describe_value(value)}", field=where + key)
    number = float(value)
    bad_lo = number <= lo if lo_open else number < lo
    if bad_lo or number > hi:
        bracket = "(" if lo_open else "["
        raise InvalidConfig(
            f"{where}{key} must be in {bracket}{lo:g}, {hi:g}], got {describe_value(value)}",
            field=where + key,
        )
    return number


def _optional_str(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidConfig(f"{key} must be a non-empty string, got {describe_value(value)}", field=key)
    return value


def _headers(value: object, where: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and k and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidConfig(
            f"{where} must be a table of header name -> string value, got {describe_value(value)}",
            field=where,
        )
    return tuple(sorted(value.items()))


def _check_keys(raw: Mapping[str, Any], known: Sequence[str], where: str) -> None:
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise InvalidConfig(
            f"unknown key {unknown[0]!r} in {where}; known keys: {', '.join(known)}",
            field=f"{where}.{unknown[0]}",
        )


def _parse_slo(value: object) -> Slo:
    if not isinstance(value, Mapping):
        raise InvalidConfig(
            f"slo must be a table with p95_ms and max_failure_ratio, got {describe_value(value)}", field="slo"
        )
    _check_keys(value, ("p95_ms", "max_failure_ratio", "p99_ms"), "slo")
    for key in ("p95_ms", "max_failure_ratio"):
        if key not in value:
            raise InvalidConfig(f"slo.{key} is required", field=f"slo.{key}")
    p95 = _number(value, "p95_ms", "slo.", lo=0, hi=600_000)
    ratio = _number(value, "max_failure_ratio", "slo.", lo=0, hi=1, lo_open=False)
    p99 = _number(value, "p99_ms", "slo.", lo=0, hi=600_000) if value.get("p99_ms") is not None else None
    if p99 is not None and p99 < p95:
        raise InvalidConfig(f"slo.p99_ms must be >= slo.p95_ms ({p95:g}), got {p99:g}", field="slo.p99_ms")
    return Slo(p95_ms=p95, max_failure_ratio=ratio, p99_ms=p99)


def _parse_request(value: object, i: int) -> RequestSpec:
    where = f"requests[{i}]"
    if not isinstance(value, Mapping):
        raise InvalidConfig(
            f"{where} must be a table with method and path, got {describe_value(value)}", field=where
        )
    _check_keys(value, ("method", "path", "weight", "name", "body", "json", "headers"), where)
    method = value.get("method", "GET")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise InvalidConfig(
            f"{where}.method must be one of {', '.join(METHODS)}, got {describe_value(method)}",
            field=f"{where}.method",
        )
    path = value.get("path")
    if not isinstance(path, str) or not path.startswith("/") or any(c in path for c in " \r\n\t"):
        raise InvalidConfig(
            f"{where}.path must be a path starting with '/' and without spaces, got {describe_value(path)}",
            field=f"{where}.path",
        )
    weight = _number(value, "weight", f"{where}.", lo=0, hi=1e6) if "weight" in value else 1.0
    body = value.get("body")
    if body is not None and not isinstance(body, str):
        raise InvalidConfig(f"{where}.body must be a string (use json for objects)", field=f"{where}.body")
    if body is not None and value.get("json") is not None:
        raise InvalidConfig(f"{where}: give body or json, not both", field=f"{where}.body")
    name = value.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise InvalidConfig(
            f"{where}.name must be a non-empty string, got {describe_value(name)}", field=f"{where}.name"
        )
    return RequestSpec(
        method=method.upper(),
        path=path,
        weight=weight,
        name=name,
        body=body,
        json=value.get("json"),
        headers=_headers(value.get("headers"), f"{where}.headers"),
    )


def _parse_steps(value: object) -> tuple[float, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise InvalidConfig(
            f"steps must be a non-empty list of fractions of target_rps, got {describe_value(value)}",
            field="steps",
        )
    if len(value) > MAX_STEPS:
        raise InvalidConfig(f"steps may hold at most {MAX_STEPS} entries, got {len(value)}", field="steps")
    steps = tuple(_number({"steps": v}, "steps", "", lo=0, hi=10) for v in value)
    for i in range(1, len(steps)):
        if steps[i] <= steps[i - 1]:
            raise InvalidConfig(
                f"steps must be strictly increasing, got {steps[i - 1]:g} then {steps[i]:g} at steps[{i}]",
                field=f"steps[{i}]",
            )
    if 1.0 not in steps:
        raise InvalidConfig(
            f"steps must include 1.0 (the target step that decides the verdict), got {list(steps)}",
            field="steps",
        )
    return steps


def parse_plan(raw: object) -> LoadPlan:
    """Validate a plan given as a dict (from JSON, TOML or the API) and build a :class:`LoadPlan`.

    Args:
        raw: the decoded plan; see :data:`SETTINGS` for the keys. ``step_targets_rps`` is accepted and ignored
            (it is derived), so the output of :meth:`LoadPlan.to_dict` reads back.

    Returns:
        The plan.

    Raises:
        InvalidConfig: naming the first bad field and echoing its value.
    """
    if not isinstance(raw, Mapping):
        raise InvalidConfig(f"a plan must be a table/object, got {describe_value(raw)}", field="plan")
    raw = {k: v for k, v in raw.items() if k != "step_targets_rps"}
    _check_keys(raw, tuple(SETTINGS), "plan")
    for key in REQUIRED:
        if raw.get(key) is None:
            raise InvalidConfig(f"plan: {key} is required ({SETTINGS[key][1]})", field=key)
    target = _number(raw, "target_rps", "", lo=0, hi=MAX_RPS)
    requests = raw["requests"]
    if not isinstance(requests, list | tuple) or not requests:
        raise InvalidConfig(
            f"requests must be a non-empty list, got {describe_value(requests)}", field="requests"
        )
    specs = tuple(_parse_request(r, i) for i, r in enumerate(requests))
    steps = _parse_steps(raw["steps"]) if raw.get("steps") is not None else DEFAULT_STEPS
    get = {k: raw[k] for k in raw if raw[k] is not None}
    stop = get.get("stop_on_fail", _default("stop_on_fail"))
    if not isinstance(stop, bool):
        raise InvalidConfig(
            f"stop_on_fail must be true or false, got {describe_value(stop)}", field="stop_on_fail"
        )
    concurrency = get.get("concurrency", _default("concurrency"))
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 100_000:
        raise InvalidConfig(
            f"concurrency must be a whole number in [1, 100000], got {describe_value(concurrency)}",
            field="concurrency",
        )
    instances = get.get("staging_instances")
    if instances is not None and (
        isinstance(instances, bool) or not isinstance(instances, int) or instances < 1
    ):
        raise InvalidConfig(
            f"staging_instances must be a whole number >= 1, got {describe_value(instances)}",
            field="staging_instances",
        )
    source = get.get("source", _default("source"))
    if not isinstance(source, str) or not source:
        raise InvalidConfig(
            f"source must be a non-empty string, got {describe_value(source)}", field="source"
        )
    return LoadPlan(
        target_rps=target,
        slo=_parse_slo(raw["slo"]),
        requests=specs,
        steps=steps,
        step_seconds=_number(get, "step_seconds", "", lo=1, hi=3600, lo_open=False)
        if "step_seconds" in get
        else _default("step_seconds"),
        headers=_headers(get.get("headers"), "headers"),
        timeout_s=_number(get, "timeout_s", "", lo=0, hi=600)
        if "timeout_s" in get
        else _default("timeout_s"),
        rate_tolerance=_number(get, "rate_tolerance", "", lo=0, hi=0.5)
        if "rate_tolerance" in get
        else _default("rate_tolerance"),
        stop_on_fail=stop,
        concurrency=concurrency,
        service=_optional_str(get, "service"),
        metric=_optional_str(get, "metric"),
        source=source,
        peak_rps=_number(get, "peak_rps", "", lo=0, hi=MAX_RPS) if "peak_rps" in get else None,
        margin=_number(get, "margin", "", lo=0, hi=100) if "margin" in get else None,
        event=_optional_str(get, "event"),
        staging_instances=instances,
    )


def parse_plan_text(text: str, fmt: str, where: str = "plan") -> LoadPlan:
    """Parse plan text in ``fmt`` (``json`` or ``toml``).

    Raises:
        InvalidConfig: when the text does not decode or the plan fails validation.
    """
    try:
        raw = json.loads(text) if fmt == "json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidConfig(f"{where} is not valid {fmt.upper()}: {exc}", field="plan") from None
    try:
        return parse_plan(raw)
    except InvalidConfig as exc:
        raise InvalidConfig(f"{where}: {exc.message}", field=exc.field) from None


def load_plan(path: str | Path) -> LoadPlan:
    """Read a plan file: ``.toml`` as TOML, anything else as JSON.

    Raises:
        InvalidConfig: when the file cannot be read, does not decode, or fails validation.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidConfig(f"cannot read plan file {p}: {exc.strerror or exc}", field="plan") from None
    except UnicodeDecodeError:
        raise InvalidConfig(f"cannot read plan file {p}: not UTF-8 text", field="plan") from None
    return parse_plan_text(text, "toml" if p.suffix.lower() == ".toml" else "json", where=str(p))


def plan_from_peak(
    peak_p95_rps: float,
    margin: float = DEFAULT_MARGIN,
    steps: Sequence[float] = DEFAULT_STEPS,
    step_seconds: float = 10.0,
    slo: Slo = DEFAULT_SLO,
    requests: Sequence[RequestSpec] = DEFAULT_REQUESTS,
    **fields: Any,
) -> LoadPlan:
    """Turn a forecast peak into a plan: target = p95 peak x margin (rounded to 0.1 requests/s).

    Args:
        peak_p95_rps: the forecast p95 of the request rate at its highest in the event window.
        margin: the safety margin (>= 1).
        steps: the ramp as fractions of the target; must include 1.0.
        step_seconds: how long each step is held.
        slo: the SLOs.
        requests: the request mix.
        **fields: other plan settings (service, metric, event, source, ...).

    Returns:
        The validated plan, with ``source="forecast"`` unless given.

    Raises:
        InvalidConfig: when the peak or margin is not a positive finite number, or the plan fails validation.
    """
    peak = _number({"peak_p95_rps": peak_p95_rps}, "peak_p95_rps", "", lo=0, hi=MAX_RPS)
    mult = _number({"margin": margin}, "margin", "", lo=1, hi=100, lo_open=False)
    raw: dict[str, Any] = {
        "target_rps": max(0.1, round(peak * mult, 1)),
        "steps": list(steps),
        "step_seconds": step_seconds,
        "slo": slo.to_dict(),
        "requests": [r.to_dict() for r in requests],
        "peak_rps": round(peak, 3),
        "margin": mult,
        "source": "forecast",
        **fields,
    }
    return parse_plan(raw)


def with_overrides(plan: LoadPlan, **changes: Any) -> LoadPlan:
    """A copy of ``plan`` with some settings changed, validated again.

    Raises:
        InvalidConfig: when the changed plan fails validation.
    """
    return parse_plan({**plan.to_dict(), **changes}) if changes else replace(plan)
