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
    prometheus,
    risk,
    serve,
)
from capacity.cli.common import ErrorBoundaryGroup


@click.group(
    cls=ErrorBoundaryGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110}
)
@click.version_option(__version__, prog_name="capacity")
def cli() -> None:
    """Capacity planning: forecast service utilization, rank breach risks before peak events, check headroom.

    \b
    Quick start:
      capacity demo                       # sample fleet -> forecasts -> risk table
      capacity ingest data/fleet/         # load history files into the database
      capacity forecast --all             # forecast every series
      capacity risks --event "Black Friday"
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


_register()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="capacity")
