"""``capacity forecast``: forecast stored series with the automatic engine and store the results."""

from __future__ import annotations

import time

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from capacity.batch import SeriesOutcome, forecast_stored
from capacity.cli.common import console, db_option, open_store, print_table
from capacity.errors import InvalidInput
from capacity.forecast import ForecastSpec
from capacity.schema import duration_steps, validate_name


def run_forecasts(store: object, keys: list[tuple[str, str]], horizon: str) -> list[SeriesOutcome]:
    """Forecast ``keys`` with a progress bar; returns the outcomes."""
    spec = ForecastSpec(horizon=duration_steps(horizon))
    with Progress(
        TextColumn("forecasting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("forecast", total=len(keys), failed=0)
        failed = 0

        def on_done(outcome: SeriesOutcome) -> None:
            nonlocal failed
            failed += 0 if outcome.ok else 1
            progress.update(task, advance=1, failed=failed)
            if not console.is_terminal:
                status = f"ok ({outcome.model})" if outcome.ok else f"failed: {outcome.error}"
                print(f"forecast {outcome.service}/{outcome.metric}: {status}", flush=True)

        return forecast_stored(store, keys, spec, on_done)


@click.command("forecast")
@click.argument("service", required=False)
@click.option("--metric", help="Only this metric of SERVICE.")
@click.option("--all", "all_series", is_flag=True, help="Forecast every stored series.")
@click.option("--horizon", default="14d", show_default=True, help="How far ahead: 24h, 14d, 2w ...")
@db_option
def forecast(service: str | None, metric: str | None, all_series: bool, horizon: str, db: str | None) -> None:
    """Forecast stored series with automatic model selection and store each forecast as it finishes.

    \b
    Examples:
      capacity forecast --all --horizon 14d
      capacity forecast checkout --metric cpu
    """
    if not service and not all_series:
        raise InvalidInput("give a SERVICE or --all", field="service")
    if service:
        validate_name(service, "service")
    if metric:
        validate_name(metric, "metric")
    duration_steps(horizon)
    store = open_store(db)
    keys = [(s.service, s.metric) for s in store.list_series()]
    if service:
        keys = [k for k in keys if k[0] == service and (metric is None or k[1] == metric)]
        if not keys:
            from capacity.errors import UnknownSeries

            raise UnknownSeries(f"unknown series {service}{'/' + metric if metric else ''}", field="service")
    started = time.perf_counter()
    outcomes = run_forecasts(store, keys, horizon)
    took = time.perf_counter() - started
    rows = [(o.service, o.metric, o.model or "-", "yes" if o.fallback else "", o.error) for o in outcomes]
    print_table(
        f"{len(outcomes)} forecasts ({horizon} ahead) in {took:.1f}s",
        ["service", "metric", "model", "fallback", "error"],
        rows,
    )


COMMANDS = [forecast]
