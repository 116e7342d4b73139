"""Read history from files: a long CSV/Parquet (``timestamp,service,metric,value``), a ``timestamp,value`` file,
or a folder of such files where each file name gives the series (``SERVICE__METRIC.csv``, or ``SERVICE.csv`` with
the metric given by the caller).
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from capacity.errors import InvalidHistory, SourceError
from capacity.schema import METRIC, SERVICE, TS, VALUE, empty_history, validate_history

SUFFIXES = (".csv", ".parquet", ".pq")
#: The largest file read whole; bigger files should be split or pulled from Prometheus.
MAX_FILE_BYTES = 2 * 1024**3


def split_series_name(stem: str, default_metric: str) -> tuple[str, str]:
    """``checkout__cpu`` -> (checkout, cpu); a stem with no ``__`` is the service, with ``default_metric``."""
    if "__" in stem:
        service, metric = stem.split("__", 1)
        return service, metric
    return stem, default_metric


def parse_csv_text(
    text: str, *, source: str, service: str | None = None, metric: str | None = None
) -> pd.DataFrame:
    """Parse CSV text: long (``timestamp,service,metric,value``) or short (``timestamp,value`` with the given
    service and metric) into a validated history frame.

    Raises:
        InvalidHistory: on an empty file, text that is not CSV, a missing column or a bad row (named by its line).
    """
    if not text.strip():
        raise InvalidHistory(f"{source}: the file is empty", field="file")
    if "\x00" in text[:4096]:
        raise InvalidHistory(f"{source}: not a CSV file (binary content)", field="file")
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InvalidHistory(
            f"{source}: not a readable CSV file ({str(exc).strip().splitlines()[0]})", field="file"
        ) from None
    return _to_history(frame, source=source, service=service, metric=metric, first_row=2)


def _to_history(
    frame: pd.DataFrame, *, source: str, service: str | None, metric: str | None, first_row: int
) -> pd.DataFrame:
    frame = frame.rename(columns={c: str(c).strip().lower() for c in frame.columns})
    if "timestamp" in frame.columns and TS not in frame.columns:
        frame = frame.rename(columns={"timestamp": TS})
    if SERVICE not in frame.columns and service is not None:
        frame = frame.assign(**{SERVICE: service})
    if METRIC not in frame.columns and metric is not None:
        frame = frame.assign(**{METRIC: metric})
    if TS not in frame.columns or VALUE not in frame.columns:
        missing = "timestamp" if TS not in frame.columns else VALUE
        raise InvalidHistory(
            f"{source}: missing column {missing!r} (expected timestamp,service,metric,value or timestamp,value; "
            f"got {','.join(map(str, frame.columns)) or 'nothing'})",
            field=missing,
        )
    if len(frame) == 0:
        raise InvalidHistory(f"{source}: the file has a header but no rows", field="file")
    return validate_history(frame, first_row=first_row, source=source)


def read_file(path: Path, *, metric: str = "value", service: str | None = None) -> pd.DataFrame:
    """Read one CSV or Parquet file into a validated history frame.

    A short file (``timestamp,value``) takes its service and metric from the file name (see
    :func:`split_series_name`) unless ``service`` is given.

    Raises:
        SourceError: when the file cannot be read.
        InvalidHistory: when its content fails validation.
    """
    svc, met = split_series_name(path.stem, metric)
    if service is not None:
        svc = service
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror})", field="file") from None
    if size > MAX_FILE_BYTES:
        raise SourceError(
            f"{path}: {size} bytes is over the {MAX_FILE_BYTES} byte limit; split it", field="file"
        )
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many kinds for a corrupt file
            raise InvalidHistory(f"{path.name}: not a readable Parquet file ({exc})", field="file") from None
        return _to_history(frame, source=path.name, service=svc, metric=met, first_row=1)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror})", field="file") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidHistory(
            f"{path.name}: not UTF-8 text (byte {exc.start}); is it a CSV file? Save it as UTF-8",
            field="file",
        ) from None
    return parse_csv_text(text, source=path.name, service=svc, metric=met)


def read_path(path: Path, *, metric: str = "value") -> pd.DataFrame:
    """Read a file, or every CSV/Parquet file of a folder (sorted by name), into one validated history frame.

    Raises:
        SourceError: when the path does not exist or a folder holds no data files.
        InvalidHistory: when any file fails validation (nothing is returned then).
    """
    if not path.exists():
        raise SourceError(f"{path} does not exist", field="path")
    if path.is_file():
        return read_file(path, metric=metric)
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        raise SourceError(f"{path}: no .csv or .parquet files in this folder", field="path")
    frames = [read_file(p, metric=metric) for p in files]
    out = pd.concat(frames, ignore_index=True) if frames else empty_history()
    return out
