"""Response and request-body schemas of the API (OpenAPI 3.0 JSON Schema), one per resource shape."""

from __future__ import annotations

from typing import Any


def _nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "nullable": True, **extra}


def _required(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": list(properties), "properties": properties}


NUM = {"type": "number"}
STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
TS = {"type": "string", "format": "date-time"}
NTS = _nullable("string", format="date-time")
NNUM = _nullable("number")
NINT = _nullable("integer")
NSTR = _nullable("string")

PROBLEM: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": STR,
        "title": STR,
        "status": INT,
        "detail": STR,
        "instance": STR,
        "field": NSTR,
        "row": NINT,
    },
}

SERIES: dict[str, Any] = {
    "type": "object",
    "required": ["service", "metric", "unit", "agg", "samples", "data_version"],
    "properties": {
        "service": STR,
        "metric": STR,
        "unit": STR,
        "agg": STR,
        "threshold": NNUM,
        "instances": NINT,
        "instance_capacity": NNUM,
        "description": STR,
        "data_version": INT,
        "samples": INT,
        "first_ts": NTS,
        "last_ts": NTS,
        "last_value": NNUM,
        "step_seconds": NINT,
    },
}
SERIES_LIST = {
    "type": "object",
    "required": ["series"],
    "properties": {"series": {"type": "array", "items": SERIES}},
}
SERVICES = {
    "type": "object",
    "required": ["services"],
    "properties": {
        "services": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["service", "metrics", "series"],
                "properties": {"service": STR, "metrics": {"type": "array", "items": STR}, "series": INT},
            },
        }
    },
}
INGEST = {
    "type": "object",
    "required": ["service", "metric", "rows", "inserted", "updated", "samples", "data_version"],
    "properties": {
        "service": STR,
        "metric": STR,
        "rows": INT,
        "inserted": INT,
        "updated": INT,
        "samples": INT,
        "data_version": INT,
    },
}
_PAIR = {"type": "array", "minItems": 2, "maxItems": 2, "items": {}}
_PAIRS = {"type": "array", "minItems": 1, "items": _PAIR}
_RESULT = _required(metric={"type": "object", "additionalProperties": STR}, values=_PAIRS)
_RESULTS = {"type": "array", "minItems": 1, "items": _RESULT}
_MATRIX = _required(resultType={"type": "string", "enum": ["matrix"]}, result=_RESULTS)
#: A Prometheus ``query_range`` response, as its ``/api/v1/query_range`` answers (values are text).
PROMETHEUS_BODY = _required(status={"type": "string", "enum": ["success"]}, data=_MATRIX)
_TS_OR_EPOCH = {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "number"}]}
SAMPLES_BODY = {
    "oneOf": [
        {
            "type": "object",
            "required": ["samples"],
            "properties": {
                "samples": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "oneOf": [
                            {
                                "type": "object",
                                "required": ["ts", "value"],
                                "properties": {"ts": _TS_OR_EPOCH, "value": NUM},
                            },
                            {"type": "array", "minItems": 2, "maxItems": 2, "items": {}},
                        ]
                    },
                }
            },
        },
        {
            "type": "object",
            "required": ["ts", "value"],
            "properties": {
                "ts": {"type": "array", "minItems": 1, "items": _TS_OR_EPOCH},
                "value": {"type": "array", "minItems": 1, "items": NUM},
            },
        },
        PROMETHEUS_BODY,
    ]
}
POINT = {
    "type": "object",
    "required": ["ts", "mean"],
    "properties": {"ts": TS, "mean": NNUM, "lower": NNUM, "upper": NNUM, "threshold": NNUM},
    "additionalProperties": NNUM,
}
FORECAST = {
    "type": "object",
    "required": ["service", "metric", "run_id", "model", "horizon", "stale", "points"],
    "properties": {
        "service": STR,
        "metric": STR,
        "unit": STR,
        "run_id": INT,
        "created_at": TS,
        "model": STR,
        "freq": STR,
        "horizon": INT,
        "history_end": NTS,
        "data_version": INT,
        "stale": BOOL,
        "stale_reason": {"type": "string", "nullable": True},
        "threshold": NNUM,
        "quantiles": {"type": "array", "items": NUM},
        "band": {"type": "array", "items": NUM, "nullable": True},
        "scores": {"type": "object", "additionalProperties": NNUM},
        "candidates": {
            "type": "object",
            "additionalProperties": {"type": "object", "additionalProperties": NNUM},
        },
        "diagnostics": {"type": "array", "items": STR},
        "points": {"type": "array", "items": POINT},
    },
}
COMPUTING = {
    "type": "object",
    "required": ["status", "retry_after"],
    "properties": {"status": {"type": "string", "enum": ["computing"]}, "retry_after": INT},
}
POINTS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["ts"],
        "properties": {
            "ts": TS,
            "actual": NNUM,
            "forecast": NNUM,
            "lower": NNUM,
            "upper": NNUM,
            "threshold": NNUM,
        },
    },
}
_SCORES = {"type": "object", "additionalProperties": NNUM}
ACCURACY = {
    "type": "object",
    "required": ["service", "metric", "backtest", "live", "drift"],
    "properties": {
        "service": STR,
        "metric": STR,
        "backtest": {
            "type": "object",
            "properties": {
                "run_id": NINT,
                "model": NSTR,
                "scores": _SCORES,
                "candidates": {"type": "object", "additionalProperties": _SCORES},
            },
        },
        "live": {
            "type": "object",
            "properties": {
                "mase": NNUM,
                "scored_steps": INT,
                "runs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "run_id": INT,
                            "created_at": NTS,
                            "history_end": NTS,
                            "model": STR,
                            "scored_steps": INT,
                            "mase": NNUM,
                            "coverage_80": NNUM,
                        },
                    },
                },
            },
        },
        "drift_ratio": NUM,
        "drift": BOOL,
    },
}
RISK_ROW = {
    "type": "object",
    "required": ["rank", "service", "metric", "status"],
    "properties": {
        "rank": INT,
        "service": STR,
        "metric": STR,
        "status": STR,
        "threshold": NNUM,
        "breach_probability": NNUM,
        "first_breach": NTS,
        "headroom_pct": NNUM,
        "instances_to_add": NINT,
    },
}
RISKS = {
    "type": "object",
    "required": ["window", "risks"],
    "properties": {
        "window": STR,
        "event": NSTR,
        "counts": {"type": "object", "additionalProperties": INT},
        "risks": {"type": "array", "items": RISK_ROW},
    },
}
OCCURRENCE = {
    "type": "object",
    "required": ["start", "end"],
    "properties": {
        "start": TS,
        "end": TS,
        "multiplier_low": NNUM,
        "multiplier_high": NNUM,
        "service": NSTR,
    },
}
EVENT = {
    "type": "object",
    "required": ["name", "occurrences"],
    "properties": {"name": STR, "occurrences": {"type": "array", "items": OCCURRENCE}},
}
EVENT_LIST = {
    "type": "object",
    "required": ["events"],
    "properties": {"events": {"type": "array", "items": EVENT}},
}
JOB = {
    "type": "object",
    "required": ["id", "kind", "status", "total", "done", "failed", "progress"],
    "properties": {
        "id": STR,
        "kind": STR,
        "status": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
        "total": INT,
        "done": INT,
        "failed": INT,
        "progress": NUM,
        "attempts": INT,
        "created_at": TS,
        "updated_at": TS,
        "heartbeat_at": NTS,
        "error": NSTR,
        "failures": {"type": "array", "items": {"type": "object"}},
        "horizon": NSTR,
    },
}
JOB_LIST = {"type": "object", "required": ["jobs"], "properties": {"jobs": {"type": "array", "items": JOB}}}
TOKEN: dict[str, Any] = {
    "type": "object",
    "required": ["id", "name", "prefix", "scopes"],
    "properties": {
        "id": INT,
        "name": STR,
        "prefix": STR,
        "scopes": {"type": "array", "items": STR},
        "created_at": TS,
        "revoked_at": NTS,
        "last_used_at": NTS,
    },
}
TOKEN_NEW: dict[str, Any] = {
    "type": "object",
    "required": ["id", "name", "prefix", "scopes", "token"],
    "properties": {**TOKEN["properties"], "token": STR},
}
CHART_URL = {
    "type": "object",
    "required": ["chart", "path", "url", "expires", "expires_at"],
    "properties": {"chart": STR, "path": STR, "url": STR, "expires": INT, "expires_at": TS},
}
TOKEN_LIST = {
    "type": "object",
    "required": ["tokens"],
    "properties": {"tokens": {"type": "array", "items": TOKEN}},
}
HEALTH = {
    "type": "object",
    "required": ["status", "checks"],
    "properties": {"status": STR, "version": STR, "checks": {"type": "object", "additionalProperties": STR}},
}
PLAN = {
    "type": "object",
    "required": ["target_rps", "steps", "slo", "requests"],
    "properties": {
        "target_rps": NUM,
        "steps": {"type": "array", "items": NUM},
        "step_seconds": NUM,
        "slo": {"type": "object"},
        "requests": {"type": "array", "items": {"type": "object"}},
    },
}
LOADTEST = {
    "type": "object",
    "required": ["id", "measured_capacity_rps", "applied"],
    "properties": {
        "id": INT,
        "service": STR,
        "metric": STR,
        "verdict": STR,
        "measured_capacity_rps": NNUM,
        "applied": BOOL,
        "threshold": NNUM,
    },
}
REPORT = {
    "type": "object",
    "required": ["event", "risks"],
    "properties": {"event": STR, "risks": {"type": "array"}},
}

# Capacity plans (capacity.services.plans): one series' plan, the fleet's, and the accuracy of the stored ones.
PLAN_WEEK = {
    "type": "object",
    "required": ["start", "days", "p50", "p90"],
    "properties": {
        "start": TS,
        "days": INT,
        "p50": NUM,
        "p90": NUM,
        "headroom_pct": NNUM,
        "instances_needed": NINT,
        "crossing_probability": NNUM,
        "cumulative_probability": NNUM,
    },
}
SERIES_PLAN = {
    "type": "object",
    "required": ["service", "metric", "agg"],
    "properties": {
        "service": STR,
        "metric": STR,
        "agg": STR,
        "error": {**STR, "description": "Why the series has no plan (only then)"},
        "plan_id": NINT,
        "unit": STR,
        "quarter": NSTR,
        "history_end": TS,
        "model": STR,
        "threshold": NNUM,
        "instances": NINT,
        "instance_capacity": NNUM,
        "margin": NUM,
        "growth": {"type": "object", "properties": {"pct_per_year": NUM, "basis": STR}},
        "first_crossing": NTS,
        "first_crossing_probability": NNUM,
        "peak_p50": NUM,
        "weeks": {"type": "array", "items": PLAN_WEEK},
    },
}
PLANS = {
    "type": "object",
    "required": ["horizon_weeks", "plans"],
    "properties": {"horizon_weeks": INT, "quarter": NSTR, "plans": {"type": "array", "items": SERIES_PLAN}},
}
_PLAN_SCORE = {
    "type": "object",
    "nullable": True,
    "properties": {
        "weeks_scored": INT,
        "weeks_planned": INT,
        "mape": NUM,
        "within_10": NUM,
        "within_20": NUM,
    },
}
PLAN_ACCURACY = {
    "type": "object",
    "required": ["summary", "plans"],
    "properties": {
        "summary": {
            "type": "object",
            "properties": {"plans": INT, "weeks": INT, "mape": NUM, "within_10": NUM, "within_20": NUM},
        },
        "plans": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["service", "metric", "plan_id", "first_day", "weeks"],
                "properties": {
                    "service": STR,
                    "metric": STR,
                    "plan_id": INT,
                    "first_day": TS,
                    "weeks": INT,
                    "quarter": NSTR,
                    "peak_p50": NUM,
                    "peak_p90": NUM,
                    "first_crossing": NTS,
                    "created_at": TS,
                    "score": _PLAN_SCORE,
                    "scored_weeks": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"start": TS, "planned": NUM, "actual": NUM, "ape": NUM},
                        },
                    },
                },
            },
        },
    },
}
