"""Read history from files: a long CSV/Parquet (``timestamp,service,metric,value``), a ``timestamp,value`` file,
or a folder of such files where each file name gives the series (``SERVICE__METRIC.csv``, or ``SERVICE.csv`` with
the metric given by the caller).

A timestamp given twice with different values is refused by default, naming the rows (:func:`resolve_duplicates`);
the API's samples route applies the same policy to a request body.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from capacity.errors import InvalidHistory, InvalidInput, InvalidName, SourceError, describe_value
from capacity.schema import METRIC, SERVICE, TS, VALUE, empty_history, validate_history, validate_name

SUFFIXES = (".csv", ".parquet", ".pq")
#: The largest file read whole; bigger files should be split or pulled from Prometheus.
MAX_FILE_BYTES = 2 * 1024**3


#: What to do with a timestamp given twice with different values: refuse (the default), or keep one.
DUPLICATE_POLICIES: tuple[str, ...] = ("reject", "last", "first", "mean")
#: Rows named in a duplicate error (one line, even for a file with thousands).
SHOWN_DUPLICATES = 3
#: How a duplicate error ends on the command line (the API says how it differs).
DUPLICATES_HINT = "Keep one with --duplicates last|first|mean"


def resolve_duplicates(
    frame: pd.DataFrame,
    policy: str = "reject",
    *,
    first_row: int = 1,
    source: str = "",
    rows: np.ndarray | None = None,
    hint: str = DUPLICATES_HINT,
) -> tuple[pd.DataFrame, int]:
    """Apply the duplicate-timestamp policy to a validated history frame.

    A timestamp given twice with the same value is an exact re-send (exports repeat rows): one is kept, whatever the
    policy. Given twice with *different* values it is a conflict that no rule resolves correctly for every source
    (a DST hour read twice, two exports merged, a corrected value), so by default it is refused, naming the series
    and the rows; ``last``, ``first`` or ``mean`` say which value to keep.

    Args:
        frame: a frame from :func:`validate_history` (input order).
        policy: one of :data:`DUPLICATE_POLICIES`.
        first_row: the row number of the frame's first row, for messages.
        source: a prefix for messages (the file name).
        rows: the row number of each row (overrides ``first_row``; for frames joined from several files).
        hint: the end of the error message: how the caller chooses otherwise.

    Returns:
        The frame with one row per (service, metric, ts), in input order of the kept rows, and how many rows
        were dropped (exact repeats plus, under a keep policy, the conflicting ones).

    Raises:
        InvalidHistory: with ``reject``, when a timestamp has different values; names up to
            :data:`SHOWN_DUPLICATES` timestamps with their rows, and the option that chooses otherwise.
        InvalidInput: for an unknown policy.
    """
    if policy not in DUPLICATE_POLICIES:
        raise InvalidInput(
            f"duplicates must be one of {', '.join(DUPLICATE_POLICIES)}, got {describe_value(policy)}",
            field="duplicates",
        )
    keys = [SERVICE, METRIC, TS]
    repeated = frame.duplicated(keys, keep=False).to_numpy()
    if not repeated.any():
        return frame, 0
    exact = frame.duplicated([*keys, VALUE], keep="first").to_numpy()
    unique = frame[~exact]
    conflict = unique.duplicated(keys, keep=False).to_numpy()
    if not conflict.any():
        return unique, int(exact.sum())
    if policy == "reject":
        numbers = rows if rows is not None else np.arange(first_row, first_row + len(frame))
        kept_numbers = numbers[~exact]
        clash = unique[conflict].assign(_row=kept_numbers[conflict])
        groups = clash.groupby(keys, sort=False)["_row"].apply(list)
        prefix = f"{source}: " if source else ""
        shown = []
        for key, row_list in list(groups.items())[:SHOWN_DUPLICATES]:
            service, metric, ts = cast(tuple[str, str, pd.Timestamp], key)  # the group's key columns
            shown.append(
                f"{service}/{metric} {pd.Timestamp(ts):%Y-%m-%d %H:%M:%S} at rows "
                + ", ".join(str(r) for r in row_list)
            )
        more = f" and {len(groups) - SHOWN_DUPLICATES} more" if len(groups) > SHOWN_DUPLICATES else ""
        first = int(groups.iloc[0][0])
        plural = "s" if len(groups) > 1 else ""
        raise InvalidHistory(
            f"{prefix}{len(groups)} timestamp{plural} repeated with different values: {'; '.join(shown)}{more}. "
            f"{hint}",
            field=TS,
            row=first,
        )
    if policy == "mean":
        means = unique.groupby(keys, sort=False)[VALUE].transform("mean")
        kept = unique.assign(**{VALUE: means.to_numpy()}).drop_duplicates(keys, keep="first")
    else:
        kept = unique.drop_duplicates(keys, keep="last" if policy == "last" else "first")
    return kept, len(frame) - len(kept)


def split_series_name(stem: str, default_metric: str) -> tuple[str, str]:
    """``checkout__cpu`` -> (checkout, cpu); a stem with no ``__`` is the service, with ``default_metric``."""
    if "__" in stem:
        service, metric = stem.split("__", 1)
        return service, metric
    return stem, default_metric


def parse_csv_text(
    text: str,
    *,
    source: str,
    service: str | None = None,
    metric: str | None = None,
    duplicates: str = "reject",
    hint: str = DUPLICATES_HINT,
) -> pd.DataFrame:
    """Parse CSV text: long (``timestamp,service,metric,value``) or short (``timestamp,value`` with the given
    service and metric) into a validated history frame with one row per timestamp (see :func:`resolve_duplicates`).

    Raises:
        InvalidHistory: on an empty file, text that is not CSV, a missing column, a bad row (named by its line) or,
            with ``duplicates="reject"``, a timestamp given twice with different values.
    """
    return _parse_csv(text, source=source, service=service, metric=metric, duplicates=duplicates, hint=hint)[
        0
    ]


def _parse_csv(
    text: str,
    *,
    source: str,
    service: str | None,
    metric: str | None,
    duplicates: str,
    hint: str = "",
) -> tuple[pd.DataFrame, int]:
    if not text.strip():
        raise InvalidHistory(f"{source}: the file is empty", field="file")
    if "\x00" in text[:4096]:
        raise InvalidHistory(f"{source}: not a CSV file (binary content)", field="file")
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=_separator(text), dtype=str, keep_default_na=False, skipinitialspace=True
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InvalidHistory(
            f"{source}: not a readable CSV file ({str(exc).strip().splitlines()[0]})", field="file"
        ) from None
    history = _to_history(frame, source=source, service=service, metric=metric, first_row=2)
    return resolve_duplicates(history, duplicates, first_row=2, source=source, hint=hint or DUPLICATES_HINT)


def _separator(text: str) -> str:
    """The column separator: a comma, unless the header holds none and a semicolon or tab instead (what spreadsheet
    exports in locales with a decimal comma write)."""
    header = text.lstrip("\ufeff").split("\n", 1)[0]
    if "," in header:
        return ","
    return next((sep for sep in (";", "\t") if sep in header), ",")


def _given_name(name: str, field: str, source: str) -> str:
    """A service or metric the file has no column for (its name, or an option, gives it): a bad one is the file
    name's fault, not a row's."""
    try:
        return validate_name(name, field)
    except InvalidName as exc:
        raise InvalidHistory(
            f"{source}: {exc.message} (the file has no {field} column: it comes from the file name "
            f"SERVICE__METRIC.csv or --{field}; rename the file or give --{field})",
            field=field,
        ) from None


def _to_history(
    frame: pd.DataFrame, *, source: str, service: str | None, metric: str | None, first_row: int
) -> pd.DataFrame:
    given = ",".join(map(str, frame.columns)) or "nothing"
    frame = frame.rename(columns={c: str(c).strip().lower() for c in frame.columns})
    if "timestamp" in frame.columns and TS not in frame.columns:
        frame = frame.rename(columns={"timestamp": TS})
    if SERVICE not in frame.columns and service is not None:
        frame = frame.assign(**{SERVICE: _given_name(service, SERVICE, source)})
    if METRIC not in frame.columns and metric is not None:
        frame = frame.assign(**{METRIC: _given_name(metric, METRIC, source)})
    if TS not in frame.columns or VALUE not in frame.columns:
        missing = "timestamp" if TS not in frame.columns else VALUE
        raise InvalidHistory(
            f"{source}: missing column {missing!r} (expected the header timestamp,value or "
            f"timestamp,service,metric,value; the file's is {given})",
            field=missing,
        )
    if len(frame) == 0:
        raise InvalidHistory(f"{source}: the file has a header but no rows", field="file")
    return validate_history(frame, first_row=first_row, source=source)


def _read_file(path: Path, *, metric: str, service: str | None, duplicates: str) -> tuple[pd.DataFrame, int]:
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
        history = _to_history(frame, source=path.name, service=svc, metric=met, first_row=1)
        return resolve_duplicates(history, duplicates, first_row=1, source=path.name)
    return _parse_csv(_read_text(path), source=path.name, service=svc, metric=met, duplicates=duplicates)


def _read_text(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise SourceError(f"{path}: over the {MAX_FILE_BYTES} byte limit; split it", field="file")
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror})", field="file") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidHistory(
            f"{path.name}: not UTF-8 text (byte {exc.start}); is it a CSV file? Save it as UTF-8",
            field="file",
        ) from None


def read_values(path: Path) -> pd.Series:
    """A ``timestamp,value`` CSV file's samples, indexed by UTC time and sorted, for the benchmarks.

    Read and checked as ``capacity ingest`` reads a file (a BOM, CRLF, a semicolon or tab separator, ISO 8601 or
    epoch timestamps, every bad row named), so a file the benchmarks score is one the service would take. The
    values are a gauge whatever the file's name (a benchmark compares methods, it does not check units), and a
    timestamp repeated with different values is averaged: a benchmark aggregates each step anyway.

    Raises:
        SourceError: when the file cannot be read.
        InvalidHistory: when a column is missing or a row is bad (named by its line).
    """
    frame, _ = _parse_csv(
        _read_text(path), source=path.name, service="bench", metric="value", duplicates="mean"
    )
    return pd.Series(frame[VALUE].to_numpy(), index=pd.DatetimeIndex(frame[TS]), name=path.stem).sort_index(
        kind="stable"
    )


def read_file(
    path: Path, *, metric: str = "value", service: str | None = None, duplicates: str = "reject"
) -> pd.DataFrame:
    """Read one CSV or Parquet file into a validated history frame, one row per timestamp.

    A short file (``timestamp,value``) takes its service and metric from the file name (see
    :func:`split_series_name`) unless ``service`` is given.

    Raises:
        SourceError: when the file cannot be read.
        InvalidHistory: when its content fails validation, or a timestamp repeats with another value under
            ``duplicates="reject"``.
    """
    return _read_file(path, metric=metric, service=service, duplicates=duplicates)[0]


def read_history(
    path: Path, *, metric: str = "value", service: str | None = None, duplicates: str = "reject"
) -> tuple[pd.DataFrame, int]:
    """Read a file, or every CSV/Parquet file of a folder (sorted by name), into one validated history frame.

    Args:
        path: a file or a folder.
        metric: the metric of ``timestamp,value`` files named ``SERVICE.csv``.
        service: the service of a single ``timestamp,value`` file (instead of its file name).
        duplicates: a policy of :data:`DUPLICATE_POLICIES`, within each file and across the files of a folder
            (``last`` keeps the later file's value).

    Returns:
        The history and how many rows were dropped as repeated timestamps.

    Raises:
        SourceError: when the path does not exist or a folder holds no data files.
        InvalidHistory: when any file fails validation, or a timestamp repeats with another value (within a file
            or across two) under ``reject``; nothing is returned then.
        InvalidInput: when ``service`` is given for a folder.
    """
    if not path.exists():
        raise SourceError(f"{path} does not exist", field="path")
    if path.is_file():
        return _read_file(path, metric=metric, service=service, duplicates=duplicates)
    if service is not None:
        raise InvalidInput(
            "--service names the service of one file; a folder's file names give theirs", field="service"
        )
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        raise SourceError(f"{path}: no .csv or .parquet files in this folder", field="path")
    frames, dropped = [], 0
    for file in files:
        frame, n = _read_file(file, metric=metric, service=None, duplicates=duplicates)
        frames.append(frame)
        dropped += n
    out = pd.concat(frames, ignore_index=True) if frames else empty_history()
    if len(frames) > 1:
        out, across = _across_files(out, [f.name for f in files], [len(f) for f in frames], duplicates)
        dropped += across
    return out, dropped


def _across_files(
    frame: pd.DataFrame, names: list[str], sizes: list[int], duplicates: str
) -> tuple[pd.DataFrame, int]:
    """The duplicate policy across the files of a folder: a conflict names the two files, not rows."""
    origin = np.repeat(np.arange(len(names)), sizes)
    try:
        return resolve_duplicates(frame, duplicates, rows=origin)
    except InvalidHistory:
        keys = [SERVICE, METRIC, TS]
        clash = frame.assign(_file=origin)
        clash = clash[clash.duplicated(keys, keep=False)].drop_duplicates([*keys, VALUE])
        clash = clash[clash.duplicated(keys, keep=False)]
        first = clash.iloc[0]
        files = sorted({names[i] for i in clash[clash[TS] == first[TS]]["_file"]})
        raise InvalidHistory(
            f"{first[SERVICE]}/{first[METRIC]} {pd.Timestamp(first[TS]):%Y-%m-%d %H:%M:%S} has different values "
            f"in {' and '.join(files)} ({clash[keys].drop_duplicates().shape[0]} such timestamps in all). "
            "Keep one with --duplicates last|first|mean",
            field=TS,
        ) from None


def read_path(path: Path, *, metric: str = "value", duplicates: str = "reject") -> pd.DataFrame:
    """:func:`read_history` without the count of dropped rows."""
    return read_history(path, metric=metric, duplicates=duplicates)[0]
