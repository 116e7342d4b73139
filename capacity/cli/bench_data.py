"""The files the accuracy, breach and event benchmarks read: one series per CSV (or Prometheus JSON) file.

Every benchmark reads them the same way, and as ``capacity ingest`` does (:func:`capacity.sources.files.read_values`):
the benchmarks will be run on real exports we have never seen, and a file the service would refuse, or read
differently, must not be scored silently. A series sampled more coarsely than the benchmark's step is refused too:
resampling daily samples to hours interpolates 23 of every 24 steps, and the methods would be scored on the
interpolation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pandas as pd

from capacity.errors import InvalidInput, SourceError
from capacity.schema import format_days
from capacity.sources.files import read_values
from capacity.sources.notes import median_spacing
from capacity.timestamps import check_zone

#: A series whose median sample spacing exceeds the step by more than this factor is too coarse for it.
COARSE_FACTOR = 1.5
#: The suffixes of the files a benchmark folder is read from.
DATA_SUFFIXES = (".csv", ".json")
#: Where a benchmark's ``--tz`` is kept for the readers of its ``--data`` files: click's context of the run.
_ZONE_KEY = "capacity.bench.tz"


def _keep_zone(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    ctx.meta[_ZONE_KEY] = value
    return value


#: ``--tz`` of the benchmarks that read ``--data`` files. The readers sit a few calls deep in each command (and in
#: the folder helpers several commands share), so the option keeps its value in the run's click context rather
#: than in every signature on the way; each run has a context of its own.
tz_option = click.option(
    "--tz",
    default=None,
    metavar="ZONE",
    expose_value=False,
    callback=_keep_zone,
    help="IANA time zone (Europe/Berlin) of --data timestamps written without an offset, as capacity ingest "
    "--tz reads them. Default: UTC.",
)


def data_zone() -> str | None:
    """The ``--tz`` of the benchmark running (checked), or None outside one or without it."""
    ctx: Any = click.get_current_context(silent=True)
    zone = ctx.meta.get(_ZONE_KEY) if ctx is not None else None
    return check_zone(zone) if zone is not None else None


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
    values = read_values(path, tz=data_zone())
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
