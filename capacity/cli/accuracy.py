"""``capacity bench accuracy`` (the engine against its peers) and ``capacity accuracy`` (chosen models, live accuracy).

Live accuracy is the forecast ledger's (:mod:`capacity.services.accuracy`): the same rows and the same numbers the
API's ``GET .../accuracy``, ``/metrics`` and the readiness report show.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pandas as pd

from capacity.bench.accuracy import markdown_table, needed_steps, resample, run_accuracy
from capacity.bench.peers import PEER_GROUPS
from capacity.cli.bench_data import as_frame, csv_files, read_series, tz_option
from capacity.cli.common import EXIT_FAILED, console, db_option, open_store, print_table
from capacity.cli.plan import show_plan_accuracy
from capacity.errors import InvalidInput, NotEnoughHistory, SourceError, UnknownSeries
from capacity.schema import duration_steps, validate_name
from capacity.services.accuracy import DRIFT_RATIO, LIVE_RUNS, fleet_accuracy


def _read_series(data: tuple[Path, ...], freq: str, agg: str, fix: str) -> dict[str, Any]:
    """Every ``timestamp,value`` CSV of the folders (or files) in ``data``, resampled, by file stem; ``fix`` says
    what a series too coarse for ``freq`` should do."""
    out: dict[str, Any] = {}
    for path in [f for d in data for f in csv_files(d, single_file=True)]:
        if path.stem in out:
            raise SourceError(f"{path}: a series named {path.stem!r} was already read", field="data")
        values = read_series(path, freq, fix)
        out[path.stem] = resample(as_frame(values), freq, agg)
    return out


def _check_freq(freq: str) -> str:
    """What a series too coarse for ``freq`` should do; refuses a step the engine cannot forecast in.

    Raises:
        InvalidInput: when ``freq`` is no pandas step, or does not divide a day (a weekly step).
    """
    try:
        step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))  # type: ignore[arg-type]
    except ValueError:
        raise InvalidInput(
            f"--freq must be a step like 1h, 15min or 1d, got {freq!r}", field="freq"
        ) from None
    day = pd.Timedelta(days=1)
    if step <= pd.Timedelta(0) or step > day or day % step != pd.Timedelta(0):
        raise InvalidInput(
            f"--freq must divide a day (1d, 1h, 15min ...): the engine forecasts in such steps, got {freq!r}",
            field="freq",
        )
    return (
        "give --freq 1d or finer data"
        if step < day
        else "the engine's coarsest step is a day: give daily data"
    )


def _methods(peers: str) -> list[str]:

    methods = ["capacity", "seasonal_naive"]
    for name in [p.strip() for p in peers.split(",") if p.strip()]:
        if name not in PEER_GROUPS:
            raise InvalidInput(
                f"--peers: unknown peer {name!r}; known: {', '.join(PEER_GROUPS)}", field="peers"
            )
        methods += [m for m in PEER_GROUPS[name] if m not in methods]
    return methods


@click.command("accuracy")
@tz_option
@click.option(
    "--data",
    "data",
    required=True,
    multiple=True,
    type=click.Path(path_type=Path),
    help="Folder of timestamp,value CSVs, or one CSV; repeat to add more.",
)
@click.option("--horizon", default="24h", show_default=True, help="Test window per fold: 24h, 7d ...")
@click.option(
    "--folds", default=3, show_default=True, type=click.IntRange(1, 20), help="Rolling-origin folds."
)
@click.option(
    "--peers", default="prophet,statsforecast", show_default=True, help="Peers: prophet, statsforecast."
)
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Write the full result as JSON.")
@click.option(
    "--markdown", "md_out", type=click.Path(path_type=Path), help="Write the summary as a Markdown table."
)
@click.option("--freq", default="1h", show_default=True, help="Resample every series to this step.")
@click.option(
    "--agg",
    type=click.Choice(["mean", "max", "p95"]),
    default="mean",
    show_default=True,
    help="Aggregation of the samples in a step (max: daily peaks with --freq 1d).",
)
def bench_accuracy(
    data: tuple[Path, ...],
    horizon: str,
    folds: int,
    peers: str,
    json_out: Path | None,
    md_out: Path | None,
    freq: str,
    agg: str,
) -> None:
    """Accuracy of the engine against seasonal naive, Prophet and statsforecast on the same rolling folds.

    \b
    Examples:
      capacity bench accuracy --data ../shared/data/real --horizon 24h --folds 3 \\
          --peers prophet,statsforecast --json accuracy.json --markdown accuracy.md
      capacity bench accuracy --data ../shared/data/real-events --horizon 90d --freq 1d --agg max \\
          --folds 3 --peers prophet,statsforecast --json long.json
    """

    fix = _check_freq(freq)
    steps = duration_steps(horizon, freq)
    methods = _methods(peers)
    series = _read_series(data, freq, agg, fix)
    needed = needed_steps(steps, folds)
    if all(len(y) < needed for y in series.values()):
        longest = max(len(y) for y in series.values())
        raise NotEnoughHistory(
            f"no series is long enough to score: --horizon {horizon} with --folds {folds} needs {needed} steps of "
            f"{freq} (three horizons of training before the first test window), the longest here has {longest}; "
            "give a shorter --horizon, fewer --folds or longer series",
            field="data",
        )

    def progress(name: str, entry: Any) -> None:
        if entry["skipped"]:
            print(f"{name}: skipped ({entry['skipped']})", flush=True)
            return
        parts = [
            f"{m}={'error' if 'error' in v else format(v['mase'], '.3f')}"
            for m, v in entry["methods"].items()
        ]
        print(f"{name}: MASE " + " ".join(parts), flush=True)

    def save_partial(partial: dict[str, Any]) -> None:
        if json_out:
            json_out.write_text(json.dumps(partial, indent=2))

    result = run_accuracy(
        series,
        horizon=steps,
        folds=folds,
        methods=methods,
        freq=freq,
        config={"data": [str(d) for d in data], "horizon": horizon, "peers": peers, "agg": agg},
        on_series=progress,
        on_partial=save_partial if json_out else None,
    )
    for entry in result["series"]:
        for method, value in entry["methods"].items():
            if "error" in value:
                print(f"{entry['name']}: {method} failed: {value['error']}", flush=True)
    complete = result["summary"][methods[0]]["series"]
    if complete:
        console.print(
            f"accuracy, horizon {horizon}, {folds} folds (summary over series where every method ran)"
        )
        print(markdown_table(result), flush=True)
    else:
        console.print("no series on which every method ran (the failures are above): no summary")
    if json_out:
        json_out.write_text(json.dumps(result, indent=2, allow_nan=True))
        console.print(f"wrote {json_out}")
    if md_out and complete:
        md_out.write_text(markdown_table(result))
        console.print(f"wrote {md_out}")
    if not complete:
        raise click.exceptions.Exit(EXIT_FAILED)


@click.command("accuracy")
@click.argument("service", required=False)
@click.argument("metric", required=False)
@click.option(
    "--limit",
    default=LIVE_RUNS,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Newest stored forecasts per series to list (the live summary always sums the newest 20 scored).",
)
@click.option(
    "--drift-ratio",
    default=DRIFT_RATIO,
    show_default=True,
    type=click.FloatRange(1.0, 100.0),
    help="Live MASE this many times the backtest's raises drift (the API's drift_ratio setting).",
)
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Write the records as JSON.")
@click.option(
    "--plans", is_flag=True, help="Capacity plans instead: each stored plan scored against its actuals."
)
@db_option
def accuracy(
    service: str | None,
    metric: str | None,
    limit: int,
    drift_ratio: float,
    json_out: Path | None,
    plans: bool,
    db: str | None,
) -> None:
    """Each series' chosen model with its backtest scores, and the live accuracy of its stored forecasts.

    Live accuracy comes from the forecast ledger: every stored forecast scored against the actuals that arrived
    after it (MASE against the seasonal-naive error of the 28 days before it, sMAPE, WAPE, the share of actuals
    inside the 80% and 95% intervals), partial until its whole horizon has passed; the series' figure sums its
    newest 20 scored forecasts. The same numbers as GET /api/v1/series/{service}/{metric}/accuracy.

    With --plans: every stored capacity plan (``capacity plan``), each of its weeks with actuals scored by the
    absolute percentage error of its p50 peak against the actual weekly peak, and the share of weeks within 10%
    and 20%.

    \b
    Examples:
      capacity accuracy
      capacity accuracy checkout cpu --json accuracy.json
      capacity accuracy --plans
    """

    if service:
        validate_name(service, "service")
    if metric:
        validate_name(metric, "metric")
    store = open_store(db)
    if plans:
        show_plan_accuracy(store, service, metric, limit, json_out)
        return
    keys = [
        (i.service, i.metric)
        for i in store.series.list_series()
        if (not service or i.service == service) and (not metric or i.metric == metric)
    ]
    if not keys:
        target = f"{service}/{metric}" if metric else service or "any series"
        raise UnknownSeries(
            f"unknown series {target}" if service else "the store has no series", field="service"
        )
    records = fleet_accuracy(store, keys, drift_ratio=drift_ratio, limit=limit)

    def num(value: Any, digits: str = ".3f") -> str:
        return "-" if value is None else format(value, digits)

    rows = []
    for r in records:
        live, chosen = r["live"], r["backtest"]["scores"]
        rows.append(
            [
                r["service"],
                r["metric"],
                r["backtest"]["model"] or "(no forecast)",
                num(chosen.get("mase")),
                f"{live['runs_complete']}/{live['runs_scored']}",
                str(live["scored_steps"]),
                num(live["mase"]),
                num(live["backtest_mase"]),
                num(live["coverage_80"], ".2f"),
                num(live["coverage_95"], ".2f"),
                "DRIFT" if r["drift"] else "-",
            ]
        )
    print_table(
        "forecast accuracy: backtest of the newest model; live = its newest stored forecasts scored against later "
        "actuals (promised: their backtest MASE)",
        ["service", "metric", "model", "backtest MASE", "runs done/scored", "steps", "live MASE", "promised",
         "cov80", "cov95", "drift"],
        rows,
    )  # fmt: skip
    if json_out:
        json_out.write_text(json.dumps(records, indent=2))
        console.print(f"wrote {json_out}")


COMMANDS = [accuracy]
BENCH_COMMANDS = [bench_accuracy]
