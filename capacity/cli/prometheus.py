"""``capacity ingest prometheus``: pull history from a Prometheus server into the database."""

from __future__ import annotations

import time

import click
import pandas as pd

from capacity.cli.common import console, db_option, open_store, print_table
from capacity.errors import InvalidInput
from capacity.schema import METRIC, SERVICE, TS, parse_duration, parse_timestamp, validate_name
from capacity.services.accuracy import score_ingested
from capacity.sources.prometheus import PrometheusClient, pull_history
from capacity.store import Store


def parse_when(text: str, now: pd.Timestamp, field: str) -> pd.Timestamp:
    """``now``, ``now-30d``, an ISO timestamp or epoch seconds, as a UTC timestamp.

    Raises:
        InvalidHistory: naming the field when it is none of these.
    """
    value = text.strip()
    if value.lower() == "now":
        return now
    if value.lower().startswith("now-"):
        return now - parse_duration(value[4:], field)
    if value.replace(".", "", 1).isdigit():
        return parse_timestamp(float(value), field)
    return parse_timestamp(value, field)


def since_last_start(store: object, metric: str) -> pd.Timestamp | None:
    """The oldest "last sample" among the stored series of ``metric`` (None when none is stored): pulling from
    there gives every such series everything it lacks (the overlap is re-ingested idempotently)."""

    assert isinstance(store, Store)
    lasts = [s.last_ts for s in store.series.list_series() if s.metric == metric and s.last_ts is not None]
    return min(lasts) if lasts else None


@click.command("prometheus")
@click.option(
    "--url",
    required=True,
    envvar="CAPACITY_PROMETHEUS_URL",
    help="Prometheus base URL (env CAPACITY_PROMETHEUS_URL).",
)
@click.option(
    "--query", required=True, help="PromQL; each result series is one service (see --service-label)."
)
@click.option(
    "--start",
    default=None,
    help="First point: ISO time, epoch seconds, or now-30d. Needed unless --since-last finds stored data.",
)
@click.option(
    "--end", default="now", show_default=True, help="Last point: ISO time, epoch seconds, now or now-1h."
)
@click.option("--step", default="1h", show_default=True, help="Resolution: 1m, 5m, 1h ...")
@click.option(
    "--service-label", required=True, help="The label whose value names the service (e.g. job, service)."
)
@click.option("--metric", required=True, help="The metric name to store the series under (e.g. cpu, rps).")
@click.option("--since-last", is_flag=True, help="Start at the last stored sample of --metric (for cron).")
@click.option(
    "--token",
    envvar="CAPACITY_PROMETHEUS_TOKEN",
    default=None,
    help="Bearer token (env CAPACITY_PROMETHEUS_TOKEN).",
)
@click.option("--user", default=None, help="Basic-auth user.")
@click.option(
    "--password",
    envvar="CAPACITY_PROMETHEUS_PASSWORD",
    default=None,
    help="Basic-auth password (env CAPACITY_PROMETHEUS_PASSWORD).",
)
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for one response.")
@click.option(
    "--retries", default=4, show_default=True, help="Extra attempts on 429/502/503/504 and timeouts."
)
@db_option
def ingest_prometheus(
    url: str,
    query: str,
    start: str | None,
    end: str,
    step: str,
    service_label: str,
    metric: str,
    since_last: bool,
    token: str | None,
    user: str | None,
    password: str | None,
    timeout: float,
    retries: int,
    db: str | None,
) -> None:
    """Pull history from Prometheus (/api/v1/query_range) and store it in one transaction.

    Long ranges are split into requests under Prometheus' 11,000-points-per-series limit; 503s and timeouts are
    retried with backoff. Each series of the result is one service, named by its --service-label label.

    \b
    Examples:
      capacity ingest prometheus --url http://prometheus:9090 --start now-8w --step 1h \\
        --query 'avg by (job) (rate(node_cpu_seconds_total{mode!="idle"}[5m])) * 100' \\
        --service-label job --metric cpu
      capacity ingest prometheus --url http://prometheus:9090 --since-last --start now-8w \\
        --query 'sum by (service) (rate(http_requests_total[5m]))' --service-label service --metric rps
    """

    validate_name(metric, "metric")
    now = pd.Timestamp.now(tz="UTC").floor("s")
    step_s = parse_duration(step, "step").total_seconds()
    end_ts = parse_when(end, now, "end")
    store = open_store(db)
    start_ts = parse_when(start, now, "start") if start else None
    if since_last:
        last = since_last_start(store, metric)
        if last is not None:
            start_ts = last
    if start_ts is None:
        raise InvalidInput(
            "give --start (with --since-last it is used only when nothing is stored yet for this metric)",
            field="start",
        )
    if start_ts > end_ts:
        raise InvalidInput(f"--start ({start_ts}) is after --end ({end_ts})", field="start")
    started = time.perf_counter()
    with PrometheusClient(
        url, token=token, user=user, password=password, timeout=timeout, retries=retries
    ) as client:
        history, stats = pull_history(
            client, query, start_ts.timestamp(), end_ts.timestamp(), step_s, service_label, metric
        )
    pulled = time.perf_counter() - started
    console.print(
        f"pulled {history[SERVICE].nunique()} series, {len(history):,} samples from {client.url} in {stats.requests} "
        f"request(s), {stats.retries} retries, {pulled:.1f}s ({start_ts:%Y-%m-%d %H:%M} .. {end_ts:%Y-%m-%d %H:%M} "
        f"UTC, step {step})" + (f"; dropped {stats.dropped} NaN/Inf samples" if stats.dropped else ""),
        soft_wrap=True,
    )
    report = store.series.ingest(history)
    scored = score_ingested(store, history)  # the forecast ledger: runs these actuals reach are rescored
    console.print(
        f"ingested {report.rows:,} rows into {report.series} series ({report.inserted:,} new, "
        f"{report.updated:,} already stored or replaced, {report.created_series} new series)"
        + (f"; scored {scored} stored forecast(s) against them" if scored else ""),
        soft_wrap=True,
    )
    summary = history.groupby([SERVICE, METRIC])[TS].agg(["count", "min", "max"]).reset_index()
    print_table(
        None,
        ["service", "metric", "samples", "first", "last"],
        [
            (
                r[SERVICE],
                r[METRIC],
                f"{r['count']:,}",
                f"{r['min']:%Y-%m-%d %H:%M}",
                f"{r['max']:%Y-%m-%d %H:%M}",
            )
            for _, r in summary.iterrows()
        ],
    )
    console.print(f"database: {store.url}")


INGEST_COMMANDS = [ingest_prometheus]
