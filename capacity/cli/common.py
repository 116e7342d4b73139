"""Shared pieces of the ``capacity`` command: the ``--db`` option, the error boundary, exit codes, output helpers."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from capacity.errors import CapacityError
from capacity.store import Store
from capacity.store.db import require_database

F = TypeVar("F", bound=Callable[..., Any])


class PipeFriendlyConsole(Console):
    """A rich console that wraps nothing when stdout is not a terminal.

    On a terminal, tables shrink to its width (rich folds the widest columns). In a pipe or a log file there is no
    width to fit, and rich's fallback of 80 columns split model names mid-word and turned a 24-row table into 70
    lines: there, each line is printed whole and each table at its natural width.
    """

    def print(self, *objects: Any, **kwargs: Any) -> None:
        if self.is_terminal or kwargs.get("width") is not None:
            super().print(*objects, **kwargs)
            return
        tables = [o for o in objects if isinstance(o, Table)]
        if not tables:
            kwargs.setdefault("soft_wrap", True)
            super().print(*objects, **kwargs)
            return
        wide = self.options.update(max_width=NATURAL_MAX)
        natural = max(Measurement.get(self, wide, t).maximum for t in tables)
        plain = Console(file=self.file, width=max(natural, 20), highlight=False, color_system=None)
        plain.print(*objects, **kwargs)


#: The widest a table is printed when stdout is not a terminal.
NATURAL_MAX = 1000

#: Tables and progress go to stdout; errors to stderr.
console = PipeFriendlyConsole(highlight=False)
err_console = Console(stderr=True, highlight=False)

#: Exit codes of every command (the headroom check and the benchmarks say in their --help where theirs differ).
EXIT_OK = 0
#: Some series failed (each is listed with its reason; the others were done and stored), or an internal error.
EXIT_FAILED = 1
#: Bad usage or input (an option, a file, a value): one line on stderr, nothing stored.
EXIT_INPUT = 2
EXIT_INTERNAL = EXIT_FAILED

#: The epilog of every command's --help that follows the usual exit codes.
EXIT_CODES_EPILOG = (
    "Exit codes: 0 ok; 1 some series failed (each listed with its reason, the rest stored) or an internal error; "
    "2 usage or input error (one line on stderr, nothing stored)."
)

_CREATE_KEY = "capacity.create_db"


def _remember_create(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[_CREATE_KEY] = True


def db_option(func: F) -> F:
    """The ``--db`` option (a SQLite file path or a PostgreSQL URL, env ``CAPACITY_DB``) and ``--create``."""
    func = click.option(
        "--create",
        is_flag=True,
        expose_value=False,
        callback=_remember_create,
        help="Create the SQLite file --db names when it does not exist (without it, a missing file is an error).",
    )(func)
    return click.option(
        "--db",
        envvar="CAPACITY_DB",
        default=None,
        metavar="PATH|URL",
        help="SQLite file or postgresql:// URL (env CAPACITY_DB; default: the user data directory).",
    )(func)


def open_store(db: str | None, *, create: bool = False) -> Store:
    """Open and migrate the store named by ``--db``.

    A SQLite file named by ``--db`` or ``CAPACITY_DB`` must exist unless ``--create`` was given (or ``create``):
    a typo must not quietly start an empty database. The default file under the user data directory is created on
    first use, with a note on stderr saying where (a file named with ``--create`` is where the user said: no note,
    so that an error after it stays one line).

    Raises:
        InvalidInput: naming the path when an explicitly named SQLite file does not exist.
    """
    ctx = click.get_current_context(silent=True)
    create = create or db is None or bool(ctx is not None and ctx.meta.get(_CREATE_KEY))
    created = require_database(db, create=create)
    store = Store.open(db)
    if created is not None and db is None:
        err_console.print(f"created the database {created}", soft_wrap=True, markup=False)
    return store


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
    """Print a rich table: fitted to a terminal, at its natural width otherwise (see :class:`PipeFriendlyConsole`)."""
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
