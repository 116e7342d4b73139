"""``capacity bench ...``: benchmarks that print tables and write JSON. Each benchmark lives in its own module."""

from __future__ import annotations

import click


@click.group("bench")
def bench() -> None:
    """Accuracy, breach, event, scale, API and reliability benchmarks (commands, not timed tests).

    Each prints a table and, with --json OUT, writes the numbers.
    """


COMMANDS = [bench]
