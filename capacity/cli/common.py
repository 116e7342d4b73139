"""Shared pieces of the ``capacity`` command: the ``--db`` option, the error boundary, output helpers."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from capacity.errors import CapacityError
from capacity.store import Store

F = TypeVar("F", bound=Callable[..., Any])

#: Tables and progress go to stdout; errors to stderr.
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

#: Exit codes: 0 success, 1 an unexpected failure, 2 bad input (usage, file, value) or a failed check.
EXIT_INPUT = 2
EXIT_INTERNAL = 1


def db_option(func: F) -> F:
    """The ``--db`` option: a SQLite file path or a PostgreSQL URL (env ``CAPACITY_DB``)."""
    return click.option(
        "--db",
        envvar="CAPACITY_DB",
        default=None,
        metavar="PATH|URL",
        help="SQLite file or postgresql:// URL (env CAPACITY_DB; default: the user data directory).",
    )(func)


def open_store(db: str | None) -> Any:
    """Open and migrate the store named by ``--db``."""

    return Store.open(db)


class ErrorBoundaryGroup(click.Group):
    """A click group that turns every error into one line on stderr and a non-zero exit, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CapacityError as exc:
            err_console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
            ctx.exit(EXIT_INPUT)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            err_console.print("interrupted; what was already stored is kept")
            ctx.exit(130)
        except Exception as exc:  # the last line of defence: no traceback reaches a user
            if os.environ.get("CAPACITY_DEBUG"):
                raise
            err_console.print(
                f"[red]internal error:[/red] {type(exc).__name__}: {escape(str(exc).splitlines()[0]) if str(exc) else ''} "
                "(set CAPACITY_DEBUG=1 for the traceback)",
                soft_wrap=True,
            )
            ctx.exit(EXIT_INTERNAL)


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]], **kw: Any) -> None:
    """Print a rich table (plain text when stdout is not a terminal)."""
    table = Table(title=title, show_lines=False, **kw)
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    console.print(table)


def fmt(value: float | None, digits: int = 1, suffix: str = "") -> str:
    """A number for a table: fixed digits, '-' for None."""
    if value is None:
        return "-"
    return f"{value:.{digits}f}{suffix}"


def echo_err(message: str) -> None:
    """One line on stderr."""
    print(message, file=sys.stderr)
