"""The exception tree of capacity-planner: every exception the project raises on purpose, in one place.

Every error is a :class:`CapacityError`. Its message is one line that names what was wrong (the field, the row,
the value) so the CLI and the API can show it as is, without a traceback. The tree says what went wrong, never how
an edge shows it: the API maps classes to HTTP statuses in one table (``api.http.problems.STATUS``), the CLI maps
them to exit codes::

    CapacityError
    ├── InvalidInput            bad user input (file, request body, option)
    │   ├── InvalidHistory      a history frame or file that fails validation
    │   ├── InvalidConfig       a fleet config, event calendar, plan or setting that fails validation
    │   ├── InvalidName         a service, metric or event name that is not allowed
    │   └── UnknownToken        an API token id or prefix that names no token (or several)
    ├── NotEnoughHistory        a series too short for what was asked
    ├── UnknownSeries           a (service, metric) the store does not have
    ├── UnknownEvent            an event name the calendar does not have
    ├── UnknownJob              a background job id the store does not have
    ├── ForecastFailed          forecasting a series failed and no earlier forecast exists
    ├── SourceError             a history source (file, Prometheus) could not be read
    ├── StoreError              the database could not be reached or migrated
    ├── HeadroomRunError        a load test could not run to a result (Locust failed to start or crashed)
    ├── BenchSetupError         a server a benchmark needs could not be started
    ├── PeerUnavailable         a benchmark peer's optional package is not installed
    ├── ModelFailed             one model could not produce a usable forecast (the engine falls back)
    ├── Computing               a forecast is being computed and nothing stored can be served yet
    └── Interrupted             a batch stopped before its end (a stop was asked); what was saved stays saved

The last three are signals between layers rather than user errors: the engine catches :class:`ModelFailed` and
records a fallback, the API answers :class:`Computing` with 202 and ``Retry-After``, and a job worker puts an
:class:`Interrupted` job back in its queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class CapacityError(Exception):
    """Base class: a user-facing error with a one-line message."""

    #: A short stable title, used as the problem ``title`` in the API.
    title = "Capacity planner error"

    def __init__(self, message: str, *, field: str | None = None, row: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.row = row

    def __str__(self) -> str:
        return self.message


class InvalidInput(CapacityError):
    """Input that fails validation: names the field, the row (1-based, as in the file) and the value."""

    title = "Invalid input"


class InvalidHistory(InvalidInput):
    """A history frame or file that fails validation."""

    title = "Invalid history"


class InvalidConfig(InvalidInput):
    """A fleet config, event calendar, load plan or setting that fails validation."""

    title = "Invalid configuration"


class InvalidName(InvalidInput):
    """A service, metric or event name that is too long or holds characters that are not allowed."""

    title = "Invalid name"


class NotEnoughHistory(CapacityError):
    """A series that is too short for what was asked."""

    title = "Not enough history"


class UnknownSeries(CapacityError):
    """A (service, metric) pair that the store does not hold."""

    title = "Unknown series"


class UnknownEvent(CapacityError):
    """An event name that the calendar does not hold."""

    title = "Unknown event"


class SourceError(CapacityError):
    """A history source (file, folder, Prometheus server) that could not be read."""

    title = "Source error"


class StoreError(CapacityError):
    """The database could not be reached, opened or migrated."""

    title = "Store error"


class UnknownToken(InvalidInput):
    """A token id or prefix that names no token (or more than one)."""

    title = "Unknown token"


class UnknownJob(CapacityError):
    """A job id that the store does not hold."""

    title = "Unknown job"


class ForecastFailed(CapacityError):
    """Forecasting a series failed (the engine's reason is in the message) and no earlier forecast exists."""

    title = "Forecast failed"


class HeadroomRunError(CapacityError):
    """The load test could not run to a result (Locust failed to start, crashed, or wrote no result)."""

    title = "Load test failed to run"


class BenchSetupError(CapacityError):
    """A server a benchmark needs (``capacity serve``, PostgreSQL) could not be started."""

    title = "Bench setup failed"


class PeerUnavailable(CapacityError):
    """A benchmark peer's package (Prophet, statsforecast) is not installed."""

    title = "Peer unavailable"


class ModelFailed(CapacityError):
    """A model could not produce a usable forecast (raised by ``capacity.forecast.models.run_model``)."""

    title = "Model failed"


class Computing(CapacityError):
    """The forecast is being computed and no stored one can be served yet.

    Attributes:
        retry_after: seconds after which asking again is worth it.
    """

    title = "Computing"

    def __init__(self, retry_after: int) -> None:
        super().__init__("computing")
        self.retry_after = retry_after


class Interrupted(CapacityError):
    """A batch stopped before its end: a stop was asked, or the pool was shut down (the process is exiting).

    Every series finished before the stop is saved; the others were not started or their results were dropped.

    Attributes:
        outcomes: the series finished (and saved) before the stop, in the order they finished
            (``capacity.services.forecasting.SeriesOutcome``).
    """

    title = "Interrupted"

    def __init__(self, reason: str, outcomes: Sequence[Any] = ()) -> None:
        super().__init__(reason)
        self.outcomes = tuple(outcomes)


def describe_value(value: object, limit: int = 60) -> str:
    """Render a bad value for an error message: quoted, control characters escaped, cut to ``limit``."""
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text
