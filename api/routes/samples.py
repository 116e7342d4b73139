"""Bulk ingest of samples into one series: JSON or CSV, one transaction, idempotent on (series, timestamp).

JSON bodies take any of three shapes (rows are numbered from 1 in error messages)::

    {"samples": [{"ts": "2026-01-01T00:00:00Z", "value": 41.5}, ...]}
    {"samples": [[1767225600, 41.5], ...]}            # [ts, value] pairs; ts as epoch seconds or ISO text
    {"ts": [1767225600, ...], "value": [41.5, ...]}   # columns (fastest)

A Prometheus ``query_range`` response (``{"status": "success", "data": {"resultType": "matrix", "result": [...]}}``)
is read by the reader of ``capacity ingest`` (:func:`~capacity.sources.exports.prometheus_history`): its one result,
or the one ``?label=`` names (as ``--column`` does: the name the 422 lists, or a selector such as
``{instance="a"}``) is stored as the series of the URL; its rows are numbered per result.

A ``text/csv`` body is ``timestamp,value`` (or ``timestamp,service,metric,value`` naming this series only), or any
shape ``capacity ingest`` reads (``ds,y``, ``Time,Value``, a Grafana export: of one column, or of several with
``?label=`` picking one); its rows are numbered as lines of the file (the header is line 1). A timestamp repeated in
one body with different values is refused (422 naming the rows); an exact repeat is stored once.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from apiflask import APIBlueprint, Schema
from apiflask.fields import String
from apiflask.validators import Length, OneOf
from flask import request

from api.http import openapi, schemas
from api.http.auth import require
from api.http.problems import Problem
from api.routes.common import series_key
from api.state import state, store
from capacity.errors import InvalidHistory, describe_value
from capacity.schema import METRIC, SERVICE, TS, VALUE, has_mixed_zones, validate_history
from capacity.services.accuracy import score_ingested
from capacity.sources.exports import in_zone, is_query_range, prometheus_history
from capacity.sources.files import parse_csv_text, resolve_duplicates
from capacity.timestamps import DST_POLICIES, LocalTime, check_zone

bp = APIBlueprint("samples", __name__, tag="Samples")

#: A timestamp repeated with different values in one body is refused, as ``capacity ingest`` refuses it by default.
DUPLICATES_HINT = "Send one value per timestamp (a later request replaces a stored value)"
#: A CSV body of several series (a Grafana export of several columns) is refused: this route names one series.
SEVERAL_HINT = (
    "this route takes one series: pick one with ?label=NAME (a name listed here) or a selector such as "
    '?label={instance="NAME"}, or post each series to its own route'
)


class SamplesQuery(Schema):
    """How to read the body's timestamps."""

    tz = String(
        # IANA names run to ~30 characters; a long ?tz= got a 414 from the server, outside the API document
        validate=Length(min=1, max=64),
        metadata={
            "description": "IANA time zone of the body's timestamps written without an offset (local time, as a "
            "dashboard export writes it); stored in UTC. Offsets in the body must agree with it. Default: UTC",
            "example": "Europe/Berlin",
        },
    )
    dst = String(
        load_default="refuse",
        validate=OneOf(DST_POLICIES),
        metadata={
            "description": "With tz, a local time the clocks skip, or a repeated hour the body gives once: refuse "
            "it (422 naming the row), or shift (a skipped time read an hour later, a lone repeated hour as the "
            "first of the two; for hour-ending labels), as capacity ingest --dst",
        },
    )
    label = String(
        # At most 200 characters: percent-encoded (up to 12 bytes each) it keeps the request line under gunicorn's
        # 4,094-byte limit, which would answer 414 before the route could name the parameter.
        validate=Length(min=1, max=200),
        metadata={
            "description": "The one series to store from a body of several (a Prometheus query_range response "
            "or a Grafana CSV of several columns): the name the 422 lists, the column's header, or a selector "
            'whose every label the series has (such as {instance="web-1"}), as capacity ingest --column',
        },  # no example: schemathesis' example phase would send it with the other bodies' examples, unfiltered
    )


def _bad(message: str, field: str, row: int | None = None) -> InvalidHistory:
    return InvalidHistory(message, field=field, row=row)


def _columns(body: Any) -> tuple[list[Any], list[Any]]:
    """Pull the ts and value columns out of any of the JSON shapes."""
    if not isinstance(body, dict):
        raise _bad(f"body must be a JSON object, got {type(body).__name__}", "body")
    if "samples" in body:
        rows = body["samples"]
        if not isinstance(rows, list):
            raise _bad(f"samples must be a list, got {type(rows).__name__}", "samples")
        ts: list[Any] = []
        values: list[Any] = []
        for i, row in enumerate(rows, start=1):
            if isinstance(row, dict):
                if "ts" not in row and "timestamp" not in row:
                    raise _bad(f"row {i}: missing ts", "ts", i)
                if "value" not in row:
                    raise _bad(f"row {i}: missing value", "value", i)
                ts.append(row["ts"] if "ts" in row else row["timestamp"])
                values.append(row["value"])
            elif isinstance(row, list) and len(row) == 2:
                ts.append(row[0])
                values.append(row[1])
            else:
                raise _bad(
                    f"row {i}: a sample is {{'ts': ..., 'value': ...}} or [ts, value], got {describe_value(row)}",
                    "samples",
                    i,
                )
        return ts, values
    if "ts" in body and "value" in body:
        ts, values = body["ts"], body["value"]
        if not isinstance(ts, list) or not isinstance(values, list):
            raise _bad("ts and value must be lists", "ts")
        if len(ts) != len(values):
            raise _bad(f"ts has {len(ts)} items but value has {len(values)}", "value")
        return ts, values
    raise _bad(
        'body must hold "samples" (a list), "ts" and "value" lists, or be a Prometheus query_range response',
        "samples",
    )


def _timestamps(raw: list[Any]) -> pd.Series | list[Any]:
    """Fast paths for all-numeric (epoch seconds) and all-ISO-text timestamps; the raw list otherwise."""
    kinds = {type(t) for t in raw}
    if kinds <= {int, float}:
        arr = np.asarray(raw, dtype="float64")
        if np.isfinite(arr).all() and (arr >= 631_152_000).all() and (arr < 4_102_444_800).all():
            return pd.Series(pd.to_datetime(arr, unit="s", utc=True))
        return [
            pd.Timestamp(float(t), unit="s", tz="UTC") if np.isfinite(t) and 0 <= t < 4e9 else str(t)
            for t in raw
        ]
    if kinds == {str}:
        if has_mixed_zones(pd.Series(raw)):
            return raw  # validate_history refuses it and names the row
        try:
            return pd.Series(pd.to_datetime(pd.Series(raw), utc=True, format="ISO8601"))
        except (ValueError, TypeError):
            return raw  # validate_history finds and names the bad row
    return raw


def _in_route_terms(exc: InvalidHistory) -> InvalidHistory:
    """The reader's error in the route's terms: ``?label=``, ``?dst=shift``, ``?tz=``, not the CLI's options."""
    message = (
        exc.message.replace("--column", "?label=")
        .replace("--dst shift", "?dst=shift")
        .replace("--tz", "?tz=")
    )
    return InvalidHistory(message, field="label" if exc.field == "column" else exc.field, row=exc.row)


def _from_prometheus(body: Any, service: str, metric: str, label: str | None) -> pd.DataFrame:
    try:
        history, rows = prometheus_history(
            body,
            source="body",
            service=service,
            metric=metric,
            one_series=True,
            column=label,
            hint=SEVERAL_HINT,
        )
    except InvalidHistory as exc:
        raise _in_route_terms(exc) from None
    return resolve_duplicates(history, rows=rows, source="body", hint=DUPLICATES_HINT)[0]


def _from_json(
    body: Any, service: str, metric: str, tz: str | None = None, dst: str = "refuse"
) -> pd.DataFrame:
    ts_raw, values = _columns(body)
    if not ts_raw:
        raise _bad("no samples in the body", "samples")
    if len(ts_raw) > 5_000_000:
        raise _bad(f"at most 5,000,000 samples per request, got {len(ts_raw)}", "samples")
    for i, v in enumerate(values):
        if isinstance(v, bool) or v is None or isinstance(v, dict | list):
            raise _bad(f"row {i + 1}: value is not a number, got {describe_value(v)}", VALUE, i + 1)
    frame = pd.DataFrame({SERVICE: service, METRIC: metric, TS: _timestamps(ts_raw), VALUE: values})
    history = validate_history(frame, first_row=1, source="samples")
    rows = np.arange(1, len(history) + 1)
    zone = LocalTime(tz, dst) if tz is not None else None
    try:
        history = in_zone(history, pd.Series(ts_raw, dtype=object), zone, "samples", rows, keyed=False)
    except InvalidHistory as exc:
        raise _in_route_terms(exc) from None
    return resolve_duplicates(history, first_row=1, source="samples", hint=DUPLICATES_HINT)[0]


def _from_csv(text: str, service: str, metric: str, query: dict[str, Any]) -> pd.DataFrame:
    try:
        frame = parse_csv_text(
            text,
            source="body",
            service=service,
            metric=metric,
            hint=DUPLICATES_HINT,
            tz=query.get("tz"),
            dst=query["dst"],
            column=query.get("label"),
            several_hint=SEVERAL_HINT,
        )
    except InvalidHistory as exc:
        raise _in_route_terms(exc) from None
    other = frame[(frame[SERVICE] != service) | (frame[METRIC] != metric)]
    if len(other):
        first = other.iloc[0]
        raise _bad(
            f"body names series {first[SERVICE]}/{first[METRIC]} but this endpoint takes {service}/{metric} only",
            "series",
        )
    return frame


@bp.post("/series/<service>/<metric>/samples")
@openapi.rules(
    "a body with samples is read by them alone (ts and value are then not read), each a [ts, value] pair or a "
    "{ts, value} object (not null)",
    "a [ts, value] pair holds a timestamp (RFC 3339 text or epoch seconds) and a finite number",
    "the ts and value columns have the same length",
    "a percent series' values are within [0, 100], a rate's are not negative",
    "a text/csv body starts with a header row: a time column (timestamp, time, ds ...) and one value column "
    "(value, y, or one series column), or timestamp,service,metric,value naming this series",
    "with tz, a timestamp without an offset names one instant in that zone (not in the hour skipped when summer "
    "time begins; a repeated hour is given twice, unless dst is shift), and one with an offset agrees with the zone",
    "a Prometheus query_range body (status success, resultType matrix) holds one result, or label picks one; "
    'each result\'s values are [epoch seconds, "number"] pairs (NaN and Inf are gaps, not all of them)',
    "label picks a series of a Prometheus body or of a CSV body with one column per series, not of other bodies",
)
@require("write")
@bp.doc(
    responses={
        **openapi.ok(schemas.INGEST, "Samples stored (all of them, in one transaction)"),
        **openapi.ok(schemas.INGEST, "Samples stored into a new series", status=201),
    }
)
@openapi.request_body(schemas.SAMPLES_BODY, csv=True)
@bp.input(SamplesQuery, location="query", arg_name="query")
def post_samples(service: str, metric: str, query: dict[str, Any]) -> Any:
    """Ingest samples into a series (JSON or text/csv); one transaction, idempotent on (series, timestamp)."""
    service, metric = series_key(service, metric)
    tz = check_zone(query["tz"]) if query.get("tz") is not None else None
    query = {**query, "tz": tz, "dst": query.get("dst") or "refuse"}
    mimetype = request.mimetype
    if mimetype == "text/csv":
        try:
            text = request.get_data(cache=False).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidHistory(f"body is not UTF-8 text (byte {exc.start})", field="body") from None
        frame = _from_csv(text, service, metric, query)
    elif mimetype == "application/json" or mimetype.endswith("+json"):
        body = request.get_json(silent=True)
        if body is None:
            raise Problem(400, "body is not valid JSON", field="body")
        if is_query_range(body):  # instants (epoch seconds): tz and dst have nothing to read
            frame = _from_prometheus(body, service, metric, query.get("label"))
        elif query.get("label") is not None:
            raise InvalidHistory(
                "label picks one series of a Prometheus query_range body or a CSV of several series columns; "
                "this body is one series",
                field="label",
            )
        else:
            frame = _from_json(body, service, metric, tz, query["dst"])
    else:
        raise Problem(
            415,
            f"send application/json or text/csv, got {mimetype or 'no Content-Type'}",
            field="Content-Type",
        )
    report = store().series.ingest(frame)
    score_ingested(store(), frame)  # the forecast ledger: runs these actuals reach are rescored
    state().invalidate_series(service, metric)
    info = store().series.describe(service, metric)
    out = {
        "service": service,
        "metric": metric,
        "rows": report.rows,
        "inserted": report.inserted,
        "updated": report.updated,
        "samples": info.samples,
        "data_version": info.data_version,
    }
    return out, 201 if report.created_series else 200
