"""Which weeks a plan covers: the next N weeks after the history, or the weeks of a named quarter.

A plan week is seven days from the plan's first day (the day after the history, or the first day of the quarter);
the last week of a quarter is cut at the quarter's end (a 90-day quarter has twelve weeks and one of six days).
Pure: the caller passes the history's end; nothing here reads the clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from capacity.errors import InvalidInput, NotEnoughHistory, describe_value

WEEK_DAYS = 7
#: The farthest a plan may reach, in days from the end of the history (the long-range engine's limit).
MAX_REACH_DAYS = 366
#: Plans cover 1 to this many weeks.
MAX_WEEKS = 52

_QUARTER = re.compile(r"^\s*(\d{4})\s*-?\s*[Qq]([1-4])\s*$")
_WEEKS = re.compile(r"^\s*(\d+)\s*w\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class PlanWindow:
    """The days a plan covers.

    Attributes:
        first_day: the first day of the first week (midnight UTC).
        end: the end of the last week (exclusive).
        lead_days: days between the end of the history and ``first_day``.
        quarter: the quarter's label (``2027Q1``) or None.
    """

    first_day: pd.Timestamp
    end: pd.Timestamp
    lead_days: int
    quarter: str | None = None

    @property
    def weeks(self) -> int:
        """How many (possibly partial) weeks."""
        return -(-self.days // WEEK_DAYS)

    @property
    def days(self) -> int:
        """How many days."""
        return int((self.end - self.first_day) / pd.Timedelta(days=1))

    @property
    def forecast_days(self) -> int:
        """Days the forecast must reach from the day after the history."""
        return self.lead_days + self.days


def parse_weeks(text: object) -> int:
    """Parse ``13w`` (or ``13``) into a number of weeks, 1..52.

    Raises:
        InvalidInput: naming ``horizon`` and echoing the value.
    """
    raw = str(text)
    match = _WEEKS.match(raw) or re.match(r"^\s*(\d+)\s*$", raw)
    weeks = int(match.group(1)) if match else 0
    if not 1 <= weeks <= MAX_WEEKS:
        raise InvalidInput(
            f"horizon must be a number of weeks like 13w (1 to {MAX_WEEKS}), got {describe_value(text)}",
            field="horizon",
        )
    return weeks


def parse_quarter(text: object) -> tuple[str, pd.Timestamp, pd.Timestamp]:
    """Parse ``2027Q1`` (or ``2027-Q1``) into its label, first day and end (exclusive), in UTC.

    Raises:
        InvalidInput: naming ``quarter`` and echoing the value.
    """
    match = _QUARTER.match(str(text))
    if not match or not 1990 <= int(match.group(1)) <= 2099:
        raise InvalidInput(
            f"quarter must look like 2027Q1 (a year 1990-2099 and Q1-Q4), got {describe_value(text)}",
            field="quarter",
        )
    year, q = int(match.group(1)), int(match.group(2))
    first = pd.Timestamp(year=year, month=3 * (q - 1) + 1, day=1, tz="UTC")
    return f"{year}Q{q}", first, first + pd.DateOffset(months=3)


def plan_window(history_end: pd.Timestamp, weeks: int = 13, quarter: str | None = None) -> PlanWindow:
    """The window of a plan made from a history ending at ``history_end``.

    Without a quarter: ``weeks`` weeks from the day after the history's last day. With one: the quarter's weeks,
    which must start after the history's last day and end within a year of it.

    Raises:
        NotEnoughHistory: for a quarter that starts before the history ends, or ends more than
            :data:`MAX_REACH_DAYS` after it (field ``quarter``).
        InvalidInput: for bad ``weeks``.
    """
    if not 1 <= weeks <= MAX_WEEKS:
        raise InvalidInput(f"horizon must be 1 to {MAX_WEEKS} weeks, got {weeks}", field="horizon")
    end_ts = pd.Timestamp(history_end)
    end_ts = end_ts.tz_localize("UTC") if end_ts.tz is None else end_ts.tz_convert("UTC")
    next_day = end_ts.normalize() + pd.Timedelta(days=1)
    if quarter is None:
        return PlanWindow(next_day, next_day + pd.Timedelta(days=WEEK_DAYS * weeks), 0)
    label, first, end = parse_quarter(quarter)
    if first < next_day:
        raise NotEnoughHistory(  # well formed: it is where this series' history ends that rules the quarter out
            f"quarter {label} starts {first.date()}, before the history ends ({end_ts.date()}): plan a later "
            "quarter, or the next weeks with --horizon",
            field="quarter",
        )
    lead = int((first - next_day) / pd.Timedelta(days=1))
    window = PlanWindow(first, end, lead, label)
    if (
        window.forecast_days > MAX_REACH_DAYS
    ):  # as well formed as the above: it is the history's end that rules it out
        raise NotEnoughHistory(
            f"quarter {label} ends {window.forecast_days} days after the history; plans reach at most "
            f"{MAX_REACH_DAYS} days",
            field="quarter",
        )
    return window
