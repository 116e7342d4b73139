"""The ``capacity`` command. Each group of subcommands lives in its own module and is registered here."""

from __future__ import annotations

import click

from capacity import __version__
from capacity.cli import (
    accuracy,
    bench,
    bench_api,
    bench_metrics,
    bench_reliability,
    bench_risk,
    bench_scale,
    data,
    demo,
    events,
    forecasting,
    headroom,
    plan,
    prometheus,
    risk,
    serve,
)
from capacity.cli.common import EXIT_CODES_EPILOG, ErrorBoundaryGroup


@click.group(
    cls=ErrorBoundaryGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    epilog=EXIT_CODES_EPILOG,
)
@click.version_option(__version__, prog_name="capacity")
def cli() -> None:
    """Capacity planning: forecast service utilization, rank breach risks before peak events, check headroom.

    \b
    Quick start:
      capacity demo                       # sample fleet -> forecasts -> risk table
      capacity init --db capacity.db      # a new database (or add --create to the first command)
      capacity ingest data/fleet/         # load history files into the database
      capacity events import --holidays US --years 2025-2026
      capacity risks --event "Black Friday"   # forecasts as far ahead as the event, then ranks
    """


def _register() -> None:
    """Add each module's COMMANDS to the top group; BENCH_COMMANDS to ``capacity bench``; INGEST_COMMANDS to
    ``capacity ingest``. One line per module below."""

    modules = [
        bench,
        demo,
        events,
        data,
        forecasting,
        risk,
        events,
        bench_risk,
        prometheus,
        accuracy,
        plan,
        serve,
        headroom,
        bench_scale,
        bench_api,
        bench_metrics,
        bench_risk,
        bench_reliability,
    ]
    for module in modules:
        for command in getattr(module, "COMMANDS", []):
            cli.add_command(command)
        for command in getattr(module, "BENCH_COMMANDS", []):
            bench.bench.add_command(command)
        for command in getattr(module, "INGEST_COMMANDS", []):
            data.ingest.add_command(command)


#: Exit codes of the commands whose codes are not :data:`EXIT_CODES_EPILOG`'s.
OWN_EXIT_CODES = {
    (
        "headroom",
        "run",
    ): "Exit codes: 0 pass; 1 fail (an SLO broke before the target step); 2 unreachable (the "
    "target rate could not be sent) or usage or input error (nothing is sent then).",
    ("bench", "reliability"): "Exit codes: 0 every check passed; 1 a check failed, data was lost or a client "
    "error was seen; 2 usage or input error.",
    (
        "serve",
    ): "Exit codes: 0 stopped (SIGTERM or Ctrl-C); 2 usage or input error (nothing served); gunicorn's "
    "own when it halts: 3 a worker could not boot, 4 the app could not load.",
}


def _document_exit_codes(group: click.Group, path: tuple[str, ...] = ()) -> None:
    """Give every command's --help an epilog with its exit codes (docs/cli.md lists the same)."""
    for name, command in group.commands.items():
        where = (*path, name)
        if where in OWN_EXIT_CODES:
            command.epilog = OWN_EXIT_CODES[where]
        elif not command.epilog:
            command.epilog = EXIT_CODES_EPILOG
        if isinstance(command, click.Group):
            _document_exit_codes(command, where)


_register()
_document_exit_codes(cli)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="capacity")
