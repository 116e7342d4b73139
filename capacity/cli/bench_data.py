"""The files the accuracy, breach and event benchmarks read: one series per CSV (or Prometheus JSON) file.

Every benchmark reads them the same way, and as ``capacity ingest`` does (:func:`capacity.sources.files.read_values`):
the benchmarks will be run on real exports we have never seen, and a file the service would refuse, or read
differently, must not be scored silently. A series sampled more coarsely than the benchmark's step is refused too:
resampling daily samples to hours interpolates 23 of every 24 steps, and the methods would be scored on the
interpolation.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import pandas as pd

from capacity.errors import InvalidInput, SourceError
from capacity.schema import format_days
from capacity.sources.files import read_values
from capacity.sources.notes import median_spacing
from capacity.timestamps import DST_POLICIES, check_zone

#: A series whose median sample spacing exceeds the step by more than this factor is too coarse for it.
COARSE_FACTOR = 1.5
F = TypeVar("F", bound=Callable[..., Any])
#: The suffixes of the files a benchmark folder is read from.
DATA_SUFFIXES = (".csv", ".json")
#: Where a benchmark's ``--tz`` and ``--dst`` are kept for the readers of its ``--data`` files: click's context.
_META = "capacity.bench.{}"


def _keep(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    ctx.meta[_META.format(param.name)] = value
    return value


_tz = click.option(
    "--tz",
    default=None,
    metavar="ZONE",
    expose_value=False,
    callback=_keep,
    help="IANA time zone (Europe/Berlin) of --data timestamps written without an offset, as capacity ingest "
    "--tz reads them. Default: UTC.",
)
_dst = click.option(
    "--dst",
    type=click.Choice(DST_POLICIES),
    default="refuse",
    show_default=True,
    expose_value=False,
    callback=_keep,
    help="With --tz, a local time the clocks skip or a lone repeated hour: refuse, or shift (as capacity ingest).",
)


def tz_option(command: F) -> F:
    """``--tz`` and ``--dst`` of the benchmarks that read ``--data`` files. The readers sit a few calls deep in
    each command (and in the folder helpers several commands share), so the options keep their values in the
    run's click context rather than in every signature on the way; each run has a context of its own."""
    return _tz(_dst(command))


def data_zone() -> tuple[str | None, str]:
    """The ``--tz`` (checked) and ``--dst`` of the benchmark running; (None, "refuse") outside one."""
    ctx: Any = click.get_current_context(silent=True)
    meta = ctx.meta if ctx is not None else {}
    zone = meta.get(_META.format("tz"))
    return (check_zone(zone) if zone is not None else None), meta.get(_META.format("dst")) or "refuse"


def csv_files(data: Path, *, single_file: bool = False) -> list[Path]:
    """The ``.csv`` and ``.json`` files of a folder (``.CSV`` too, as ``capacity ingest`` reads them), by name
    (other files, and sub-folders, are ignored); ``data`` itself when ``single_file`` and it is a file.

    Raises:
        SourceError: when the folder does not exist or holds no CSV file.
    """
    if single_file and data.is_file():
        return [data]
    if not data.exists():
        raise SourceError(f"data folder {data} does not exist", field="data")
    if not data.is_dir():
        what = "a folder of CSV files or a CSV file" if single_file else "a folder of CSV files"
        raise SourceError(f"--data must be {what}, got {str(data)!r}", field="data")
    files = sorted(p for p in data.iterdir() if p.is_file() and p.suffix.lower() in DATA_SUFFIXES)
    if not files:
        raise SourceError(f"no .csv or .json files in {data}", field="data")
    return files


def read_series(path: Path, freq: str, how_to_fix: str) -> pd.Series:
    """One file's samples (see the module docstring), checked to be at least as fine as ``freq``.

    Args:
        path: a file of one series (any shape ``capacity ingest`` reads); its timestamps without an offset are
            read in the ``--tz`` of the benchmark running (:func:`data_zone`).
        freq: the step the benchmark resamples to.
        how_to_fix: what the message suggests when the series is too coarse (e.g. ``give --freq 1d``).

    Raises:
        InvalidHistory: on a bad file or row (named).
        InvalidInput: when the samples are spaced more coarsely than ``freq``.
    """
    zone, dst = data_zone()
    values = read_values(path, tz=zone, dst=dst)
    step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))  # type: ignore[arg-type]
    spacing = median_spacing(pd.DatetimeIndex(values.index))
    if spacing is not None and spacing > COARSE_FACTOR * step:
        shown = (
            format_days(spacing) if spacing >= pd.Timedelta(hours=1) else f"{int(spacing.total_seconds())}s"
        )
        raise InvalidInput(
            f"{path.name}: samples are {shown} apart (median), coarser than the benchmark's {freq} step: the steps "
            f"between them would be interpolated, not measured; {how_to_fix}",
            field="data",
        )
    return values


def as_frame(values: pd.Series) -> pd.DataFrame:
    """The ``timestamp,value`` frame the resampling functions of the benchmarks take."""
    return pd.DataFrame({"timestamp": values.index, "value": values.to_numpy()})
