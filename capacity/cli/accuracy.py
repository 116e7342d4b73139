"""``capacity bench accuracy`` (the engine against its peers) and ``capacity accuracy`` (chosen models, live accuracy)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from capacity.cli.common import console
from capacity.errors import InvalidInput, SourceError
from capacity.schema import duration_steps


def _read_folder(data: Path, freq: str) -> dict[str, Any]:
    import pandas as pd

    from capacity.bench.accuracy import resample_mean

    files = sorted(p for p in data.glob("*.csv") if p.is_file())
    if not files:
        raise SourceError(f"no .csv files in {data}", field="data")
    out = {}
    for path in files:
        try:
            frame = pd.read_csv(path)
        except (OSError, ValueError) as exc:
            raise SourceError(f"{path}: cannot read: {exc}", field="data") from None
        missing = {"timestamp", "value"} - set(frame.columns)
        if missing:
            raise SourceError(f"{path}: missing column(s) {', '.join(sorted(missing))}", field="data")
        try:
            out[path.stem] = resample_mean(frame, freq)
        except (ValueError, TypeError) as exc:
            raise SourceError(f"{path}: bad timestamps or values: {exc}", field="data") from None
    return out


def _methods(peers: str) -> list[str]:
    from capacity.bench.peers import PEER_GROUPS

    methods = ["capacity", "seasonal_naive"]
    for name in [p.strip() for p in peers.split(",") if p.strip()]:
        if name not in PEER_GROUPS:
            raise InvalidInput(
                f"--peers: unknown peer {name!r}; known: {', '.join(PEER_GROUPS)}", field="peers"
            )
        methods += [m for m in PEER_GROUPS[name] if m not in methods]
    return methods


@click.command("accuracy")
@click.option(
    "--data", "data", required=True, type=click.Path(path_type=Path), help="Folder of timestamp,value CSVs."
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
@click.option("--freq", default="1h", show_default=True, help="Resample every series to this step (mean).")
def bench_accuracy(
    data: Path, horizon: str, folds: int, peers: str, json_out: Path | None, md_out: Path | None, freq: str
) -> None:
    """Accuracy of the engine against seasonal naive, Prophet and statsforecast on the same rolling folds.

    \b
    Example:
      capacity bench accuracy --data ../shared/data/real --horizon 24h --folds 3 \\
          --peers prophet,statsforecast --json accuracy.json --markdown accuracy.md
    """
    from capacity.bench.accuracy import markdown_table, run_accuracy

    if not data.is_dir():
        raise SourceError(f"--data must be a folder of CSV files, got {str(data)!r}", field="data")
    steps = duration_steps(horizon, freq)
    methods = _methods(peers)
    series = _read_folder(data, freq)

    def progress(name: str, entry: Any) -> None:
        if entry["skipped"]:
            print(f"{name}: skipped ({entry['skipped']})", flush=True)
            return
        parts = [
            f"{m}={'error' if 'error' in v else format(v['mase'], '.3f')}"
            for m, v in entry["methods"].items()
        ]
        print(f"{name}: MASE " + " ".join(parts), flush=True)

    result = run_accuracy(
        series,
        horizon=steps,
        folds=folds,
        methods=methods,
        freq=freq,
        config={"data": str(data), "horizon": horizon, "peers": peers},
        on_series=progress,
    )
    for entry in result["series"]:
        for method, value in entry["methods"].items():
            if "error" in value:
                print(f"{entry['name']}: {method} failed: {value['error']}", flush=True)
    console.print(f"accuracy, horizon {horizon}, {folds} folds (summary over series where every method ran)")
    print(markdown_table(result), flush=True)
    if json_out:
        json_out.write_text(json.dumps(result, indent=2, allow_nan=True))
        console.print(f"wrote {json_out}")
    if md_out:
        md_out.write_text(markdown_table(result))
        console.print(f"wrote {md_out}")


BENCH_COMMANDS = [bench_accuracy]
