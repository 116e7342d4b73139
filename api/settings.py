"""The API's settings: one frozen dataclass, every setting declared once with its default and help text.

``Settings.from_mapping`` takes a mapping (the ``config`` given to ``create_app``, or ``CAPACITY_API_*``
environment variables read by ``capacity serve``) and validates each value against the table below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from capacity.batch.runners import default_workers
from capacity.errors import InvalidConfig, describe_value


@dataclass(frozen=True)
class Setting:
    """One row of the settings table."""

    name: str
    default: Any
    help: str


#: Every setting, its default and what it does (the single source for docs and validation).
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "db", None, "Database: a SQLite file path or a postgresql:// URL (None: the user data directory)."
    ),
    Setting("max_content_length", 32 * 1024 * 1024, "Largest request body in bytes; bigger bodies get 413."),
    Setting("metrics_public", True, "Serve /metrics without a token (False: a read token is needed)."),
    Setting(
        "forecast_budget_s", 10.0, "Seconds a request may spend computing a fresh forecast of one series."
    ),
    Setting("default_horizon", "14d", "Forecast horizon when a request names none (a duration: 24h, 14d)."),
    Setting("freshness_ttl_s", 2.0, "Seconds a series' data version is cached between forecast reads."),
    Setting("cache_entries", 512, "Rendered forecast responses kept in memory (LRU)."),
    Setting("worker", True, "Run the job worker thread in this process."),
    Setting("worker_poll_s", 1.0, "Seconds the job worker sleeps when the queue is empty."),
    Setting(
        "job_stale_s", 60, "A running job whose heartbeat is older than this is resumed by another worker."
    ),
    Setting("job_max_attempts", 3, "A job claimed this many times without finishing is marked failed."),
    Setting(
        "refresh_workers",
        0,
        "Processes a fleet refresh job forecasts on (0: min(4, the cores available); 1: the server process).",
    ),
    Setting("drift_ratio", 1.2, "Live error this many times the backtest error raises the drift flag."),
    Setting("token_touch_s", 60, "Seconds between writes of a token's last-used time."),
    Setting(
        "token_cache_s",
        5.0,
        "Seconds a verified token stays in a worker's cache; a revocation takes effect at once regardless.",
    ),
    Setting("auth_fail_limit", 10, "Invalid tokens one client may send per window before 429 (0: off)."),
    Setting("auth_fail_window_s", 60.0, "Window in seconds of the failed-authentication limit."),
)

_DEFAULTS = {s.name: s.default for s in SETTINGS}
#: The most worker processes ``refresh_workers = 0`` picks: a refresh shares the machine with request serving.
MAX_AUTO_REFRESH_WORKERS = 4


@dataclass(frozen=True)
class Settings:
    """Validated API settings (see :data:`SETTINGS` for each one's meaning)."""

    db: str | None = _DEFAULTS["db"]
    max_content_length: int = _DEFAULTS["max_content_length"]
    metrics_public: bool = _DEFAULTS["metrics_public"]
    forecast_budget_s: float = _DEFAULTS["forecast_budget_s"]
    default_horizon: str = _DEFAULTS["default_horizon"]
    freshness_ttl_s: float = _DEFAULTS["freshness_ttl_s"]
    cache_entries: int = _DEFAULTS["cache_entries"]
    worker: bool = _DEFAULTS["worker"]
    worker_poll_s: float = _DEFAULTS["worker_poll_s"]
    job_stale_s: int = _DEFAULTS["job_stale_s"]
    job_max_attempts: int = _DEFAULTS["job_max_attempts"]
    refresh_workers: int = _DEFAULTS["refresh_workers"]
    drift_ratio: float = _DEFAULTS["drift_ratio"]
    token_touch_s: int = _DEFAULTS["token_touch_s"]
    token_cache_s: float = _DEFAULTS["token_cache_s"]
    auth_fail_limit: int = _DEFAULTS["auth_fail_limit"]
    auth_fail_window_s: float = _DEFAULTS["auth_fail_window_s"]

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> Settings:
        """Validate a mapping of setting names (case-insensitive) to values; unknown names are an error.

        Strings are converted to the setting's type, so environment variables work as is.

        Raises:
            InvalidConfig: naming the setting and echoing the bad value.
        """
        out: dict[str, Any] = {}
        for key, value in (raw or {}).items():
            name = str(key).lower()
            if name not in _DEFAULTS:
                raise InvalidConfig(
                    f"unknown API setting {describe_value(key)} (known: {', '.join(_DEFAULTS)})",
                    field=str(key),
                )
            out[name] = _coerce(name, value)
        return replace(cls(), **out)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], overrides: Mapping[str, Any] | None = None) -> Settings:
        """Settings from ``CAPACITY_API_<NAME>`` variables, then ``overrides`` on top."""
        raw: dict[str, Any] = {
            k[len("CAPACITY_API_") :].lower(): v
            for k, v in environ.items()
            if k.startswith("CAPACITY_API_") and k[len("CAPACITY_API_") :].lower() in _DEFAULTS
        }
        raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
        return cls.from_mapping(raw)

    @property
    def refresh_pool_size(self) -> int:
        """The worker processes of a fleet refresh job: ``refresh_workers``, or min(4, the cores) when it is 0."""
        if self.refresh_workers:
            return self.refresh_workers

        return min(MAX_AUTO_REFRESH_WORKERS, default_workers())

    def as_dict(self) -> dict[str, Any]:
        """The settings as a plain dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _coerce(name: str, value: Any) -> Any:
    default = _DEFAULTS[name]
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                low = value.strip().lower()
                if low not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                    raise ValueError(value)
                return low in {"1", "true", "yes", "on"}
            if not isinstance(value, bool):
                raise ValueError(value)
            return value
        if isinstance(default, int):
            number = int(value)
            if number < 0:
                raise ValueError(value)
            return number
        if isinstance(default, float):
            number_f = float(value)
            if not number_f > 0:
                raise ValueError(value)
            return number_f
        if value is None:
            return None
        return str(value)
    except (TypeError, ValueError):
        kind = type(default).__name__ if default is not None else "text"
        raise InvalidConfig(
            f"API setting {name} must be a {'positive ' if kind in ('int', 'float') else ''}{kind}, "
            f"got {describe_value(value)}",
            field=name,
        ) from None
