"""The exception tree of capacity-planner.

Every error a user can cause is a :class:`CapacityError`. Its message is one line that names what was wrong
(the field, the row, the value) so the CLI and the API can show it as is, without a traceback::

    CapacityError
    ├── InvalidInput            bad user input (file, request body, option)
    │   ├── InvalidHistory      a history frame or file that fails validation
    │   ├── InvalidConfig       a fleet config, event calendar, plan or setting that fails validation
    │   └── InvalidName         a service, metric or event name that is not allowed
    ├── NotEnoughHistory        a series too short for what was asked
    ├── UnknownSeries           a (service, metric) the store does not have
    ├── UnknownEvent            an event name the calendar does not have
    ├── SourceError             a history source (file, Prometheus) could not be read
    └── StoreError              the database could not be reached or migrated
"""

from __future__ import annotations


class CapacityError(Exception):
    """Base class: a user-facing error with a one-line message."""

    #: A short stable title, used as the problem ``title`` in the API.
    title = "Capacity planner error"
    #: The HTTP status the API maps this error to.
    status = 400

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
    status = 422


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
    status = 422


class UnknownSeries(CapacityError):
    """A (service, metric) pair that the store does not hold."""

    title = "Unknown series"
    status = 404


class UnknownEvent(CapacityError):
    """An event name that the calendar does not hold."""

    title = "Unknown event"
    status = 404


class SourceError(CapacityError):
    """A history source (file, folder, Prometheus server) that could not be read."""

    title = "Source error"
    status = 502


class StoreError(CapacityError):
    """The database could not be reached, opened or migrated."""

    title = "Store error"
    status = 503


def describe_value(value: object, limit: int = 60) -> str:
    """Render a bad value for an error message: quoted, control characters escaped, cut to ``limit``."""
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text
