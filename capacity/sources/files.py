"""Read history from files: a long CSV/Parquet (``timestamp,service,metric,value``), a ``timestamp,value`` file,
the exports of other tools (:mod:`capacity.sources.exports`: Grafana CSV, Prometheus JSON, ``ds,y`` ...), or a
folder of such files where each file name gives the series (``SERVICE__METRIC.csv``, or ``SERVICE.csv`` with the
metric given by the caller).

A timestamp given twice with different values is refused by default, naming the rows (:func:`resolve_duplicates`);
the API's samples route applies the same policy to a request body.
"""

from __future__ import annotations

import codecs
import io
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from capacity.errors import InvalidHistory, InvalidInput, SourceError, describe_value
from capacity.schema import METRIC, SERVICE, TS, VALUE, empty_history
from capacity.sources.exports import SEVERAL_HINT, prometheus_history, to_history
from capacity.timestamps import DST_POLICIES, LocalTime, check_zone

SUFFIXES = (".csv", ".parquet", ".pq", ".json")
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
    tz: str | None = None,
    dst: str = "refuse",
    column: str | None = None,
    several_hint: str = SEVERAL_HINT,
) -> pd.DataFrame:
    """Parse CSV text in any shape :mod:`capacity.sources.exports` reads into a validated history frame of one
    series (``service``, ``metric``) with one row per timestamp (see :func:`resolve_duplicates`); ``tz``, ``dst``
    and ``column`` as :func:`read_history` takes them.

    Raises:
        InvalidHistory: on an empty file, text that is not CSV, a missing column, several series, a bad row
            (named by its line) or, with ``duplicates="reject"``, a timestamp given twice with different values.
    """
    options = Reading(
        metric=metric or "value",
        service=service,
        duplicates=duplicates,
        tz=LocalTime(check_zone(tz), _dst(dst)) if tz is not None else None,
        one_series=service is not None,
        column=column,
    )
    return _parse_csv(text, source, options, hint=hint, several_hint=several_hint)[0]


@dataclass(frozen=True)
class Reading:
    """How to read history files: the options of ``capacity ingest`` that say what the files cannot.

    Attributes:
        metric: the metric of files without a metric column (``SERVICE.csv``).
        service: the service of one file without a service column (instead of its name).
        duplicates: a policy of :data:`DUPLICATE_POLICIES`.
        column: the one series column to read from a file of several.
        tz: the zone of timestamps written without an offset (none: UTC), and the DST policy.
        one_series: a file must hold one series (or ``column`` pick one): true when ``service`` names it.
        service_label: the label whose value names each series of a file of several (Prometheus JSON, Grafana
            headers in label form), as ``capacity ingest prometheus --service-label`` does.
    """

    metric: str = "value"
    service: str | None = None
    duplicates: str = "reject"
    column: str | None = None
    tz: LocalTime | None = None
    one_series: bool = False
    service_label: str | None = None

    def naming(self) -> dict[str, Any]:
        """The arguments of :func:`~capacity.sources.exports.to_history` that name and pick the series."""
        return {
            "service": self.service,
            "metric": self.metric,
            "one_series": self.one_series,
            "column": self.column,
            "service_label": self.service_label,
        }


#: A first line ``sep=;`` names the separator (Excel reads it; Grafana's older CSV export wrote it).
_SEP_LINE = re.compile(r"sep=(.)\r?\n")


def _parse_csv(
    text: str, source: str, options: Reading, *, hint: str = "", several_hint: str = SEVERAL_HINT
) -> tuple[pd.DataFrame, int]:
    if not text.strip():
        raise InvalidHistory(f"{source}: the file is empty", field="file")
    if "\x00" in text[:4096]:
        raise InvalidHistory(f"{source}: not a CSV file (binary content)", field="file")
    text = text.lstrip("\ufeff")
    first_row = 2
    declared = _SEP_LINE.match(text)
    if declared:
        text, first_row = text[declared.end() :], 3
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=declared[1] if declared else _separator(text),
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InvalidHistory(
            f"{source}: not a readable CSV file ({str(exc).strip().splitlines()[0]})", field="file"
        ) from None
    history, rows = to_history(
        frame, source=source, first_row=first_row, tz=options.tz, hint=several_hint, **options.naming()
    )
    return resolve_duplicates(
        history, options.duplicates, rows=rows, source=source, hint=hint or DUPLICATES_HINT
    )


def _separator(text: str) -> str:
    """The column separator: a comma, unless the header holds none and a semicolon or tab instead (what spreadsheet
    exports in locales with a decimal comma write). Quoted names do not count: a Grafana header in label form holds
    commas (``"cpu{instance=""a"", job=""node""}"``) whatever the separator."""
    header = re.sub(r'"(?:[^"]|"")*"', "", text.lstrip("\ufeff").split("\n", 1)[0])
    if "," in header:
        return ","
    return next((sep for sep in (";", "\t") if sep in header), ",")


def _read_file(path: Path, options: Reading) -> tuple[pd.DataFrame, int]:
    svc, met = split_series_name(path.stem, options.metric)
    options = replace(options, service=options.service or svc, metric=met)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror})", field="file") from None
    if size > MAX_FILE_BYTES:
        raise SourceError(
            f"{path}: {size} bytes is over the {MAX_FILE_BYTES} byte limit; split it", field="file"
        )
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many kinds for a corrupt file
            raise InvalidHistory(f"{path.name}: not a readable Parquet file ({exc})", field="file") from None
        history, rows = to_history(frame, source=path.name, first_row=1, tz=options.tz, **options.naming())
        return resolve_duplicates(history, options.duplicates, rows=rows, source=path.name)
    if suffix == ".json":
        history, rows = prometheus_history(_read_text(path), source=path.name, **options.naming())
        return resolve_duplicates(history, options.duplicates, rows=rows, source=path.name)
    return _parse_csv(_read_text(path), path.name, options)


def _read_text(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise SourceError(f"{path}: over the {MAX_FILE_BYTES} byte limit; split it", field="file")
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror})", field="file") from None
    try:
        return decode(raw)
    except UnicodeDecodeError as exc:
        raise InvalidHistory(
            f"{path.name}: not UTF-8 text (byte {exc.start}); is it a CSV file? Save it as UTF-8",
            field="file",
        ) from None


def decode(raw: bytes) -> str:
    """UTF-8 text with or without a BOM, or UTF-16 with its BOM (what Grafana's "Download for Excel" writes).

    Raises:
        UnicodeDecodeError: when the bytes are neither.
    """
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16")
    return raw.decode("utf-8-sig")


#: How a benchmark's error about a file of several series ends.
BENCH_SEVERAL_HINT = "the benchmarks score one series per file: split it into one file per series"


def read_values(path: Path, tz: str | None = None, dst: str = "refuse") -> pd.Series:
    """A one-series file's samples, indexed by UTC time and sorted, for the benchmarks.

    Read and checked as ``capacity ingest`` reads a file (a BOM, CRLF, a semicolon or tab separator, ISO 8601 or
    epoch timestamps, the exports of :mod:`capacity.sources.exports`, every bad row named), so a file the
    benchmarks score is one the service would take. The values are a gauge whatever the file's name (a benchmark
    compares methods, it does not check units), and a timestamp repeated with different values is averaged: a
    benchmark aggregates each step anyway.

    Args:
        path: a CSV (or Prometheus JSON) file of one series.
        tz: the zone of timestamps written without an offset (none: UTC).
        dst: a policy of :data:`capacity.timestamps.DST_POLICIES` for the times that zone skips or repeats.

    Raises:
        SourceError: when the file cannot be read.
        InvalidHistory: when a column is missing, a row is bad (named by its line) or the file holds several
            series.
    """
    zone = LocalTime(check_zone(tz), _dst(dst)) if tz is not None else None
    options = Reading(service="bench", duplicates="mean", tz=zone, one_series=True)
    if path.suffix.lower() == ".json":
        history, rows = prometheus_history(
            _read_text(path), source=path.name, service="bench", metric="value", one_series=True,
            hint=BENCH_SEVERAL_HINT,
        )  # fmt: skip
        frame = resolve_duplicates(history, "mean", rows=rows, source=path.name)[0]
    else:
        frame = _parse_csv(_read_text(path), path.name, options, several_hint=BENCH_SEVERAL_HINT)[0]
    return pd.Series(frame[VALUE].to_numpy(), index=pd.DatetimeIndex(frame[TS]), name=path.stem).sort_index(
        kind="stable"
    )


def read_file(
    path: Path, *, metric: str = "value", service: str | None = None, duplicates: str = "reject"
) -> pd.DataFrame:
    """Read one CSV, Parquet or Prometheus JSON file into a validated history frame, one row per timestamp.

    A one-series file takes its service and metric from the file name (see :func:`split_series_name`) unless
    ``service`` is given; see :func:`read_history` for the other arguments (and for ``column`` and ``tz``).

    Raises:
        SourceError: when the file cannot be read.
        InvalidHistory: when its content fails validation, or a timestamp repeats with another value under
            ``duplicates="reject"``.
    """
    return read_history(path, metric=metric, service=service, duplicates=duplicates)[0]


def read_history(
    path: Path,
    *,
    metric: str = "value",
    service: str | None = None,
    duplicates: str = "reject",
    column: str | None = None,
    tz: str | None = None,
    dst: str = "refuse",
    service_label: str | None = None,
) -> tuple[pd.DataFrame, int]:
    """Read a file, or every data file of a folder (sorted by name), into one validated history frame.

    Args:
        path: a file or a folder (its ``.csv``, ``.parquet`` and ``.json`` files).
        metric: the metric of files without a metric column (``SERVICE.csv``, a Grafana export).
        service: the service of a single one-series file (instead of its file name); a file of several series
            is then refused unless ``column`` picks one.
        duplicates: a policy of :data:`DUPLICATE_POLICIES`, within each file and across the files of a folder
            (``last`` keeps the later file's value).
        column: the series column (or Prometheus series) to read from files of several.
        service_label: the label that names the series of files of several (see :class:`Reading`).
        tz: the IANA zone of timestamps written without an offset (none: UTC); see
            :func:`capacity.timestamps.localize`.
        dst: a policy of :data:`capacity.timestamps.DST_POLICIES` for the local times ``tz`` skips or repeats.

    Returns:
        The history and how many rows were dropped as repeated timestamps.

    Raises:
        SourceError: when the path does not exist or a folder holds no data files.
        InvalidHistory: when any file fails validation, or a timestamp repeats with another value (within a file
            or across two) under ``reject``; nothing is returned then.
        InvalidInput: when ``service`` is given for a folder, ``tz`` names no zone or ``dst`` no policy.
    """
    options = Reading(
        metric=metric,
        service=service,
        duplicates=duplicates,
        column=column,
        service_label=service_label,
        tz=LocalTime(check_zone(tz), _dst(dst)) if tz is not None else None,
        one_series=service is not None,
    )
    if not path.exists():
        raise SourceError(f"{path} does not exist", field="path")
    if path.is_file():
        return _read_file(path, options)
    if service is not None:
        raise InvalidInput(
            "--service names the service of one file; a folder's file names give theirs", field="service"
        )
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        raise SourceError(f"{path}: no .csv, .parquet or .json files in this folder", field="path")
    frames, dropped = [], 0
    for file in files:
        frame, n = _read_file(file, options)
        frames.append(frame)
        dropped += n
    out = pd.concat(frames, ignore_index=True) if frames else empty_history()
    if len(frames) > 1:
        out, across = _across_files(out, [f.name for f in files], [len(f) for f in frames], duplicates)
        dropped += across
    return out, dropped


def _dst(policy: str) -> str:
    if policy not in DST_POLICIES:
        raise InvalidInput(
            f"dst must be one of {', '.join(DST_POLICIES)}, got {describe_value(policy)}", field="dst"
        )
    return policy


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
