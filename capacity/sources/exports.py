"""Turn the tables that monitoring tools export into history: our own columns, their aliases, a time column with one
column per series (Grafana), and Prometheus ``query_range`` JSON.

Users bring what their tools write, not our ``timestamp,value``. Each shape has one reading:

- ``timestamp,value`` and ``timestamp,service,metric,value``, with the time column under any of
  :data:`TIME_COLUMNS` (``Time``, ``ds``, ``date`` ...) and the value under any of :data:`VALUE_COLUMNS`
  (Prophet's ``ds,y``, ``Timestamp,Value``); a ``Unit`` column (CloudWatch) is ignored;
- a time column and one column per series and no value column (Grafana's panel CSV, joined by time): an empty
  cell is a gap (Grafana writes a missing point so), each column is a series;
- a Prometheus ``query_range`` response: one series per ``result`` entry.

One series takes its name from the file (or ``--service``); several take theirs from their columns or labels (the
labels that differ between them), so that a dashboard of ten hosts becomes ten series and not one mixed one.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pandas as pd

from capacity.errors import InvalidHistory, InvalidName, describe_value
from capacity.schema import METRIC, NAME_MAX, SERVICE, TS, VALUE, validate_history, validate_name
from capacity.timestamps import LocalTime, ZoneMismatch, localize

#: Names of the time column, in order of preference (compared without case and surrounding spaces).
TIME_COLUMNS = ("timestamp", "ts", "time", "ds", "date", "datetime")
#: Names of the value column of a one-series file (Prophet calls it ``y``).
VALUE_COLUMNS = ("value", "y")
#: Columns that describe the values rather than hold a series (CloudWatch writes the unit on every row).
IGNORED_COLUMNS = ("unit",)
#: A series name in Grafana's and Prometheus' form: ``name{label="value", ...}``.
_LABEL_SET = re.compile(r"\s*(?P<name>[A-Za-z_:][\w:]*)?\s*\{(?P<labels>.*)\}\s*")
_LABEL = re.compile(r'\s*([A-Za-z_]\w*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
#: A value with a unit after it: what Grafana writes with "Formatted data" on.
_WITH_UNIT = re.compile(r"\s*-?\d[\d.,]*\s*[^\d\s.,-].*")
#: How an error about several series in one file ends on the command line (the API says how it differs).
SEVERAL_HINT = "drop --service to ingest each as its own service, or pick one with --column NAME"


def given_name(name: str, field: str, source: str) -> str:
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


def _validated(frame: pd.DataFrame, first_row: int, source: str) -> pd.DataFrame:
    """:func:`validate_history`, with a hint when a value is a number followed by a unit."""
    try:
        return validate_history(frame, first_row=first_row, source=source)
    except InvalidHistory as exc:
        if exc.field == VALUE and exc.row is not None:
            raw = frame[VALUE].iloc[exc.row - first_row]
            if isinstance(raw, str) and _WITH_UNIT.fullmatch(raw):
                raise InvalidHistory(
                    f"{exc.message} (a unit in the cell? Grafana writes units with 'Formatted data' on: download "
                    "the CSV with it off)",
                    field=exc.field,
                    row=exc.row,
                ) from None
        raise


def in_zone(
    history: pd.DataFrame, raw: pd.Series, tz: LocalTime | None, source: str, rows: np.ndarray, keyed: bool
) -> pd.DataFrame:
    """The history with the times written without an offset read in ``tz`` (see :func:`localize`).

    Args:
        history: validated from ``raw`` (same rows, same order).
        raw: the time column as given.
        tz: the zone and DST policy, or None to return ``history`` as it is.
        source: the prefix of messages.
        rows: the row number of each row, for messages.
        keyed: count a repeated hour within each series (a long table), not across the table.

    Raises:
        InvalidHistory: naming the row that no single instant of the zone matches.
    """
    if tz is None:
        return history
    keys = pd.factorize(history[SERVICE] + "\x00" + history[METRIC])[0] if keyed else None
    try:
        ts = localize(history[TS], raw.reset_index(drop=True), tz.zone, keys, tz.dst)
    except ZoneMismatch as exc:
        raise InvalidHistory(
            f"{source}: row {rows[exc.position]}: ts {exc.what}, got {describe_value(raw.iloc[exc.position])}",
            field=TS,
            row=int(rows[exc.position]),
        ) from None
    return history.assign(**{TS: ts.array})


def to_history(
    frame: pd.DataFrame,
    *,
    source: str,
    service: str | None,
    metric: str | None,
    first_row: int,
    one_series: bool = False,
    column: str | None = None,
    tz: LocalTime | None = None,
    hint: str = SEVERAL_HINT,
    service_label: str | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Read a table in any of the shapes of the module docstring as a validated history frame.

    Args:
        frame: the table as read (text cells).
        source: the file name, for messages.
        service: the service of a one-series table (the file name or an option).
        metric: the metric of a table without a metric column.
        first_row: the file line of the frame's first row.
        one_series: the caller asked for one series (``--service``, or the API's route): a table of several
            is refused, naming them, unless ``column`` picks one.
        column: the series column to read (by header or by the name it would give), the others are ignored.
        tz: the zone of timestamps written without an offset (none: UTC), and the DST policy.
        hint: how the caller picks one of several series, for the error.
        service_label: the label whose value names each series' service (as ``capacity ingest prometheus
            --service-label``), instead of the labels that differ.

    Returns:
        The history and, per row, its file line (for the duplicate policy's messages).

    Raises:
        InvalidHistory: on a missing or doubled time column, a bad row, cell, name or zone (named).
    """
    given = ",".join(map(str, frame.columns)) or "nothing"
    originals = [str(c).strip() for c in frame.columns]
    lowered = [str(c).strip().lower() for c in frame.columns]
    twins = sorted({c for c in lowered if lowered.count(c) > 1})
    if twins:
        raise InvalidHistory(
            f"{source}: the header names {twins[0]!r} twice (in any case); the file's is {given}",
            field="file",
        )
    frame = frame.set_axis(lowered, axis=1)
    times = [c for c in TIME_COLUMNS if c in lowered]
    if len(times) > 1 and TS not in times and "timestamp" not in times:
        raise InvalidHistory(
            f"{source}: several time columns ({', '.join(times)}): keep one, holding the date and the time",
            field=TS,
        )
    if not times:
        raise InvalidHistory(
            f"{source}: missing column 'timestamp' (expected the header timestamp,value or "
            f"timestamp,service,metric,value, or a time column and one column per series; the file's is {given})",
            field=TS,
        )
    frame = frame.rename(columns={times[0]: TS})
    if len(frame) == 0:
        raise InvalidHistory(f"{source}: the file has a header but no rows", field="file")
    values = [c for c in VALUE_COLUMNS if c in lowered]
    if values:
        frame = frame.rename(columns={values[0]: VALUE})
    if column is not None and (values or SERVICE in lowered):
        raise InvalidHistory(
            f"{source}: --column picks one series column of a table with a time column and one column per "
            f"series; this file's header is {given}",
            field="column",
        )
    if values or SERVICE in lowered or METRIC in lowered:
        if SERVICE not in frame.columns and service is not None:
            frame = frame.assign(**{SERVICE: given_name(service, SERVICE, source)})
        if METRIC not in frame.columns and metric is not None:
            frame = frame.assign(**{METRIC: given_name(metric, METRIC, source)})
        if VALUE not in frame.columns:
            raise InvalidHistory(
                f"{source}: missing column 'value' (expected the header timestamp,value or "
                f"timestamp,service,metric,value; the file's is {given})",
                field=VALUE,
            )
        rows = np.arange(first_row, first_row + len(frame))
        history = _validated(frame, first_row, source)
        return in_zone(history, frame[TS], tz, source, rows, keyed=True), rows
    skip = (times[0], *IGNORED_COLUMNS)
    series = [(orig, low) for orig, low in zip(originals, lowered, strict=True) if low not in skip]
    return _wide(
        frame, series, source, service, metric, first_row, one_series, column, tz, hint, service_label
    )


def _wide(
    frame: pd.DataFrame,
    series: list[tuple[str, str]],
    source: str,
    service: str | None,
    metric: str | None,
    first_row: int,
    one_series: bool,
    column: str | None,
    tz: LocalTime | None,
    hint: str,
    service_label: str | None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """A time column and one column per series: each column a series, an empty cell a gap."""
    if not series:
        raise InvalidHistory(f"{source}: a time column but no value column", field=VALUE)
    names = series_names(
        [label_set(orig) for orig, _ in series], [orig for orig, _ in series], source, service_label
    )
    picked = list(range(len(series)))
    if column is not None:
        picked = [i for i, (orig, _) in enumerate(series) if names_series(column, names[i], orig)]
        if not picked:
            raise InvalidHistory(
                f"{source}: no series column {column!r}; the file's are "
                + ", ".join(repr(orig) for orig, _ in series),
                field="column",
            )
    if one_series and len(picked) > 1:
        shown = ", ".join(names[i] for i in picked[:5]) + (" ..." if len(picked) > 5 else "")
        raise InvalidHistory(
            f"{source}: {len(picked)} series in one file ({shown}): {hint}",
            field="column",
        )
    metric_name = given_name(metric or "value", METRIC, source)
    # The file's name (or --service) names the one series of a file; one picked from several keeps its own name.
    if service is not None and (one_series or len(series) == 1):
        services = {picked[0]: given_name(service, SERVICE, source)}
    else:
        services = {i: names[i] for i in picked}
    raw_ts = frame[TS]
    first = services[picked[0]]
    stamps = _validated(
        pd.DataFrame({SERVICE: first, METRIC: metric_name, TS: raw_ts, VALUE: "0"}), first_row, source
    )
    all_rows = np.arange(first_row, first_row + len(frame))
    stamps = in_zone(stamps, raw_ts, tz, source, all_rows, keyed=False)
    parts, rows = [], []
    for i in picked:
        cells = frame[series[i][1]].astype(str)
        gap = (cells.str.strip() == "").to_numpy()
        part = pd.DataFrame(
            {
                SERVICE: services[i],
                METRIC: metric_name,
                TS: stamps[TS].to_numpy(),
                VALUE: cells.where(~gap, "0"),
            }
        )
        checked = _validated(part, first_row, f"{source}: column {series[i][0]!r}")
        parts.append(checked[~gap])
        rows.append(all_rows[~gap])
    history = pd.concat(parts, ignore_index=True)
    if len(history) == 0:
        raise InvalidHistory(f"{source}: every value cell is empty", field=VALUE)
    return history, np.concatenate(rows)


def label_set(name: str) -> dict[str, str] | None:
    """The labels of a series named ``metric{k="v", ...}`` (the name as ``__name__``), or None for a plain name."""
    match = _LABEL_SET.fullmatch(name)
    if match is None:
        return None
    text = match["labels"]
    labels = dict(_LABEL.findall(text))
    if _LABEL.sub("", text).strip():
        return None
    if match["name"]:
        labels["__name__"] = match["name"]
    return labels


def names_series(column: str, name: str, header: str, labels: dict[str, str] | None = None) -> bool:
    """Whether ``column`` picks a series: its header, the name it would get, or a selector whose every label it
    has (``{instance="a"}`` or ``up{instance="a"}``, as PromQL matches; the labels are the header's by default)."""
    wanted, have = label_set(column), labels if labels is not None else label_set(header)
    if column in (name, header) or not wanted or have is None:
        return column in (name, header)
    return all(have.get(k) == v for k, v in wanted.items())


def series_names(
    labels: list[dict[str, str] | None], fallback: list[str], source: str, service_label: str | None = None
) -> list[str]:
    """A service name per series: the value of ``service_label``, or the values of the labels that differ between
    the series, joined by ``-``; or, for a series without labels, its own name made valid (characters outside
    ``A-Za-z0-9_.:-`` become ``_``).

    Raises:
        InvalidHistory: when a series lacks ``service_label``, a name comes out empty, or two series come out
            with one name.
    """
    keyed = [s for s in labels if s is not None]
    varying = sorted({k for s in keyed for k in s if any(o.get(k) != s.get(k) for o in keyed)})
    if service_label is not None:
        lacking = next((i for i, s in enumerate(labels) if s is None or service_label not in s), None)
        if lacking is not None:
            raise InvalidHistory(
                f"{source}: series {lacking + 1} ({fallback[lacking]}) has no label {service_label!r}; choose "
                "another --service-label",
                field="service_label",
            )
        varying = [service_label]
    names = []
    for i, (labels_i, plain) in enumerate(zip(labels, fallback, strict=True)):
        if labels_i is not None and varying:
            raw = "-".join(labels_i.get(k, "") for k in varying if labels_i.get(k))
        elif labels_i is not None and len(labels) == 1:
            raw = "-".join(v for _, v in sorted(labels_i.items())) or "value"
        else:
            raw = plain
        name = re.sub(r"[^A-Za-z0-9_.:-]+", "_", raw).lstrip("_.:-").rstrip("_")[:NAME_MAX]
        if not name:
            raise InvalidHistory(
                f"{source}: series {i + 1} ({plain!r}) gives no usable name; pick it with --column and name it "
                "with --service",
                field="column",
            )
        names.append(name)
    seen: dict[str, str] = {}
    for name, plain in zip(names, fallback, strict=True):
        if name in seen:
            raise InvalidHistory(
                f"{source}: series {seen[name]!r} and {plain!r} would both be named {name!r}; pick one with "
                "--column",
                field="column",
            )
        seen[name] = plain
    return names


def prometheus_table(document: Any, source: str) -> list[tuple[dict[str, str], pd.DataFrame, np.ndarray]]:
    """The series of a Prometheus ``query_range`` response: labels, ``ts`` (epoch seconds) and ``value`` (text, as
    Prometheus writes it) per sample, and a mask of the NaN and infinite samples, which are gaps (``capacity
    ingest prometheus`` drops them too; their cells hold 0 so that the rows keep their numbers). ``document`` is
    the response's text (a file) or its parsed JSON (the API's request body, parsed once).

    Raises:
        InvalidHistory: when it is not such a response (says what it is instead).
    """
    try:
        body: Any = json.loads(document) if isinstance(document, str) else document
    except json.JSONDecodeError as exc:
        raise InvalidHistory(
            f"{source}: not valid JSON ({exc.msg} at line {exc.lineno})", field="file"
        ) from None
    expected = '{"status": "success", "data": {"resultType": "matrix", "result": [...]}}'
    if not isinstance(body, dict) or ("data" not in body and "status" not in body):
        raise InvalidHistory(
            f"{source}: not a Prometheus query_range response (expected {expected})", field="file"
        )
    if body.get("status") != "success":
        reason = body.get("error") or body.get("status")
        raise InvalidHistory(f"{source}: the query failed: {describe_value(reason)}", field="status")
    data = body["data"] if isinstance(body.get("data"), dict) else {}
    kind = data.get("resultType")
    if kind != "matrix":
        raise InvalidHistory(
            f"{source}: resultType must be matrix (a range query, /api/v1/query_range), got {describe_value(kind)}",
            field="resultType",
        )
    result = data.get("result")
    if not isinstance(result, list) or not result:
        raise InvalidHistory(f"{source}: the result holds no series", field="result")
    out = []
    for i, entry in enumerate(result, start=1):
        where = f"{source}: result {i}"
        if not isinstance(entry, dict) or not isinstance(entry.get("values"), list):
            raise InvalidHistory(
                f"{where}: a series is {{'metric': {{...}}, 'values': [...]}}", field="result"
            )
        labels = entry.get("metric") or {}
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise InvalidHistory(
                f"{where}: metric holds labels {{name: text}}, got {describe_value(labels)}", field="result"
            )
        pairs = entry["values"]
        bad = next((j for j, p in enumerate(pairs) if not isinstance(p, list) or len(p) != 2), None)
        if bad is not None:
            raise InvalidHistory(
                f'{where}: row {bad + 1}: a sample is [time, "value"], got {describe_value(pairs[bad])}',
                field="values",
                row=bad + 1,
            )
        table = pd.DataFrame(pairs, columns=[TS, VALUE], dtype=object)
        if all(isinstance(p[0], int | float) and not isinstance(p[0], bool) for p in pairs):
            table[TS] = table[TS].astype("float64")  # epoch seconds, as Prometheus writes them
        gap = table[VALUE].astype(str).str.strip().str.lower().isin(["nan", "inf", "+inf", "-inf"]).to_numpy()
        cells = table[VALUE].where(~gap, "0")
        out.append(({str(k): str(v) for k, v in labels.items()}, table.assign(**{VALUE: cells}), gap))
    return out


def is_query_range(body: Any) -> bool:
    """A parsed JSON body shaped as a Prometheus response rather than the API's samples (which it reads first)."""
    samples = isinstance(body, dict) and ("samples" in body or ("ts" in body and "value" in body))
    return isinstance(body, dict) and not samples and ("data" in body or "status" in body)


def prometheus_history(
    document: Any,
    *,
    source: str,
    service: str | None,
    metric: str | None,
    one_series: bool = False,
    column: str | None = None,
    hint: str = SEVERAL_HINT,
    service_label: str | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """A Prometheus ``query_range`` response as a validated history frame (see :func:`to_history` for the
    arguments). Its timestamps are epoch seconds: instants, which no zone changes. Rows are numbered per series
    (the n-th ``[time, value]`` pair); ``document`` is text or parsed JSON."""
    table = prometheus_table(document, source)
    names = series_names([t[0] for t in table], [_shown(t[0]) for t in table], source, service_label)
    picked = list(range(len(table)))
    if column is not None:
        picked = [i for i in picked if names_series(column, names[i], _shown(table[i][0]), table[i][0])]
        if not picked:
            raise InvalidHistory(
                f"{source}: no series {column!r}; the file's are {', '.join(names)}", field="column"
            )
    if one_series and len(picked) > 1:
        shown = ", ".join(names[i] for i in picked[:5]) + (" ..." if len(picked) > 5 else "")
        raise InvalidHistory(f"{source}: {len(picked)} series in one file ({shown}): {hint}", field="column")
    metric_name = given_name(metric or "value", METRIC, source)
    parts, rows = [], []
    for i in picked:
        one = one_series or len(table) == 1
        name = given_name(service, SERVICE, source) if service is not None and one else names[i]
        labels, part, gap = table[i]
        frame = pd.DataFrame(
            {SERVICE: name, METRIC: metric_name, TS: part[TS].to_numpy(), VALUE: part[VALUE]}
        )
        parts.append(_validated(frame, 1, f"{source}: result {i + 1} ({_shown(labels)})")[~gap])
        rows.append(np.arange(1, len(part) + 1)[~gap])
    history = pd.concat(parts, ignore_index=True)
    if len(history) == 0:
        raise InvalidHistory(f"{source}: every sample is NaN or infinite", field=VALUE)
    return history, np.concatenate(rows)


def _shown(labels: dict[str, str]) -> str:
    name = labels.get("__name__", "")
    rest = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}"
