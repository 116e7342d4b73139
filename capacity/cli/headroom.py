"""``capacity headroom plan|run`` and ``capacity stub``: prove in staging that a service holds its forecast peak.

The ``loadtests`` package is imported inside the commands only (Locust itself runs in a subprocess).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from capacity.cli.common import console, fmt, print_table
from capacity.errors import InvalidInput
from capacity.schema import validate_name
from loadtests.apiclient import fetch_plan, post_result
from loadtests.plan_build import load_plan, with_overrides
from loadtests.runner import check_host, run_headroom
from loadtests.stub import check_settings, make_stub

if TYPE_CHECKING:
    from loadtests.plan import LoadPlan

STEP_COLUMNS = ("step", "target/s", "achieved/s", "p50 ms", "p95 ms", "p99 ms", "failures", "SLO")


def _plan_options(func: Any) -> Any:
    for decorator in reversed(
        [
            click.option(
                "--plan", "plan_file", type=click.Path(dir_okay=False), help="A plan file (JSON or TOML)."
            ),
            click.option(
                "--api", metavar="URL", envvar="CAPACITY_API", help="The capacity API (env CAPACITY_API)."
            ),
            click.option("--service", help="The service (with --api; or to post a --plan result)."),
            click.option("--metric", help="Its request-rate series, e.g. rps (with --api)."),
            click.option(
                "--event", help="With --api: plan for this event's window (default: the next event)."
            ),
            click.option(
                "--margin", type=float, help="With --api: safety margin over the p95 peak (default 1.3)."
            ),
            click.option("--step-seconds", type=float, help="Hold each step this long (overrides the plan)."),
            click.option(
                "--token",
                envvar="CAPACITY_TOKEN",
                metavar="TOKEN",
                help="API bearer token (env CAPACITY_TOKEN).",
            ),
        ]
    ):
        func = decorator(func)
    return func


def _load(
    plan_file: str | None,
    api: str | None,
    service: str | None,
    metric: str | None,
    event: str | None,
    margin: float | None,
    step_seconds: float | None,
    token: str | None,
) -> LoadPlan:
    """The plan from a file or the API, validated (with --service/--metric/--step-seconds applied)."""

    if service is not None:
        validate_name(service, "service")
    if metric is not None:
        validate_name(metric, "metric")
    if plan_file:
        plan = load_plan(plan_file)
    elif api:
        if not service or not metric:
            raise InvalidInput(
                "--api needs --service and --metric", field="service" if not service else "metric"
            )
        plan = fetch_plan(
            api, service, metric, token=token, event=event, margin=margin, step_seconds=step_seconds
        )
    else:
        raise InvalidInput("give --plan FILE, or --api URL --service S --metric M", field="plan")
    changes: dict[str, Any] = {}
    if service:
        changes["service"] = service
    if metric:
        changes["metric"] = metric
    if step_seconds is not None:
        changes["step_seconds"] = step_seconds
    return with_overrides(plan, **changes)


@click.group("headroom")
def headroom() -> None:
    """Headroom checks: turn a forecast peak into Locust load against staging and judge it against SLOs.

    \b
    Examples:
      capacity headroom plan --api http://capacity:8000 --service checkout --metric rps
      capacity headroom run --host https://staging.example --plan loadtests/example-plan.toml
      capacity headroom run --host https://staging.example --api http://capacity:8000 \\
          --service checkout --metric rps --post --apply
    """


@headroom.command("plan")
@_plan_options
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (a plan file).")
def plan_cmd(
    plan_file: str | None,
    api: str | None,
    service: str | None,
    metric: str | None,
    event: str | None,
    margin: float | None,
    step_seconds: float | None,
    token: str | None,
    as_json: bool,
) -> None:
    """Print a load plan: from a plan file, or derived by the API from the series' forecast peak.

    \b
    Examples:
      capacity headroom plan --plan loadtests/example-plan.toml
      capacity headroom plan --api http://capacity:8000 --service checkout --metric rps --event "Black Friday"
      capacity headroom plan --api http://capacity:8000 --service checkout --metric rps --json > plan.json
    """

    plan = _load(plan_file, api, service, metric, event, margin, step_seconds, token)
    if as_json:
        click.echo(json.dumps(plan.to_dict(), indent=2))
        return
    title = f"plan for {plan.service or '?'}/{plan.metric or '?'}: target {plan.target_rps:g} req/s"
    if plan.peak_rps is not None:
        title += f" (p95 peak {plan.peak_rps:g} x margin {plan.margin:g})"
    rows = [
        (i, f"{f:g}", f"{t:g}", f"{plan.step_seconds:g}", "target" if f == 1.0 else "")
        for i, (f, t) in enumerate(zip(plan.steps, plan.step_targets, strict=True))
    ]
    console.print(title, soft_wrap=True, markup=False)
    print_table(None, ["step", "x target", "req/s", "seconds", ""], rows)
    slo = plan.slo
    console.print(
        f"SLO: p95 <= {slo.p95_ms:g} ms"
        + (f", p99 <= {slo.p99_ms:g} ms" if slo.p99_ms is not None else "")
        + f", failures <= {slo.max_failure_ratio:.2%}"
    )
    total = sum(r.weight for r in plan.requests)
    mix = ", ".join(f"{r.method} {r.path} {r.weight / total:.0%}" for r in plan.requests)
    console.print(f"mix: {mix}; source: {plan.source}; about {plan.duration_s:g} s of load")


def _step_row(step: dict[str, Any]) -> tuple[str, ...]:
    return (
        str(step["index"]),
        f"{step['target_rps']:g}",
        fmt(step["achieved_rps"]),
        fmt(step["p50_ms"], 0),
        fmt(step["p95_ms"], 0),
        f"{step['failure_ratio']:.2%}",
        fmt(step["p99_ms"], 0),
        "met" if step["met_slo"] else f"MISSED: {step['reason']}",
    )


@headroom.command("run")
@click.option(
    "--host", required=True, metavar="URL", help="The base URL of the service under test (staging)."
)
@_plan_options
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False), help="Output folder (default ./headroom-<time>)."
)
@click.option("--post", is_flag=True, help="Send the result to the API (--api) to be stored.")
@click.option("--apply", is_flag=True, help="With --post: make the measured capacity the series' threshold.")
@click.option(
    "--workers", type=click.IntRange(0, 64), default=0, show_default=True, help="Local Locust workers."
)
@click.option(
    "--remote-workers", type=click.IntRange(0, 1024), default=0, help="Workers started on other machines."
)
@click.option(
    "--master-port", type=click.IntRange(1, 65535), help="Master port (remote workers connect here)."
)
@click.pass_context
def run_cmd(
    ctx: click.Context,
    host: str,
    plan_file: str | None,
    api: str | None,
    service: str | None,
    metric: str | None,
    event: str | None,
    margin: float | None,
    step_seconds: float | None,
    token: str | None,
    out_dir: str | None,
    post: bool,
    apply: bool,
    workers: int,
    remote_workers: int,
    master_port: int | None,
) -> None:
    """Run a headroom check: Locust follows the plan's rate steps against --host and judges each step.

    Exit code 0 when the target step met the SLOs, 1 when it (or an earlier step) missed them, 2 when the
    target rate could not be generated or the input was bad (nothing is sent then). Results go to --out:
    result.json, steps.jsonl, locust_stats.csv, locust.html, locust.log.

    \b
    Examples:
      capacity headroom run --host https://staging.example --plan plan.toml --out headroom/
      capacity headroom run --host https://staging.example --api http://capacity:8000 \\
          --service checkout --metric rps --post --apply --workers 2
    """

    check_host(host)
    if apply and not post:
        raise InvalidInput("--apply needs --post (the API stores the result and applies it)", field="apply")
    plan = _load(plan_file, api, service, metric, event, margin, step_seconds, token)
    if post and not api:
        raise InvalidInput("--post needs --api URL", field="api")
    if post and (not plan.service or not plan.metric):
        raise InvalidInput(
            "--post needs the service and metric (--service/--metric or in the plan)", field="service"
        )
    out = Path(out_dir) if out_dir else Path(f"headroom-{time.strftime('%Y%m%d-%H%M%S')}")
    where = f"{workers} local + {remote_workers} remote workers" if workers + remote_workers else "1 process"
    console.print(
        f"headroom: {plan.service or host} target {plan.target_rps:g} req/s, {len(plan.steps)} steps x "
        f"{plan.step_seconds:g} s, {where}; results in {out}/",
        soft_wrap=True,
    )
    widths = (4, 9, 10, 7, 7, 7, 9)
    console.print(
        "  ".join(c.rjust(w) for c, w in zip(STEP_COLUMNS, widths, strict=False)) + "  SLO", soft_wrap=True
    )

    def on_step(step: dict[str, Any]) -> None:
        cells = _step_row(step)
        order = (0, 1, 2, 3, 4, 6, 5)
        line = "  ".join(cells[i].rjust(w) for i, w in zip(order, widths, strict=True))
        console.print(f"{line}  {cells[7]}", soft_wrap=True, markup=False)

    outcome = run_headroom(
        plan,
        host,
        out,
        workers=workers,
        remote_workers=remote_workers,
        master_port=master_port,
        on_step=on_step,
    )
    result = outcome.result
    rows = [
        (
            s["index"],
            f"{s['target_rps']:g}",
            fmt(s["achieved_rps"]),
            fmt(s["p95_ms"], 0),
            f"{s['failure_ratio']:.2%}",
            "pass" if s["met_slo"] else "fail",
        )
        for s in result["steps"]
    ]
    print_table("steps (final)", ["step", "target/s", "achieved/s", "p95 ms", "failures", "verdict"], rows)
    cap = result["measured_capacity_rps"]
    bound = " (at least: no step broke)" if result.get("capacity_is_lower_bound") else ""
    console.print(
        f"verdict: {result['verdict'].upper()} ({result['reason']}); measured capacity: "
        f"{fmt(cap)} req/s{bound}; took {outcome.seconds:.0f} s; exit {outcome.exit_code}",
        markup=False,
        soft_wrap=True,
    )
    if post:
        assert api and plan.service and plan.metric
        answer = post_result(api, plan.service, plan.metric, result, apply=apply, token=token)
        console.print(
            f"stored as load test #{answer['id']}: measured capacity {fmt(answer.get('measured_capacity_rps'))} req/s"
            + (", applied to the series threshold" if answer.get("applied") else ""),
            markup=False,
            soft_wrap=True,
        )
    ctx.exit(outcome.exit_code)


@click.command("stub")
@click.option("--capacity", "capacity_rps", type=float, required=True, help="Requests/s the stub can serve.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8089, show_default=True, help="0: any free port."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--workers", type=click.IntRange(1, 1000), default=4, show_default=True, help="Parallel workers."
)
@click.option("--queue-ms", type=float, default=500.0, show_default=True, help="Most queueing before 503s.")
def stub(capacity_rps: float, port: int, host: str, workers: int, queue_ms: float) -> None:
    """Serve a staging stand-in with a known capacity: latency grows near it, 503s past it.

    \b
    Example:
      capacity stub --capacity 200 &
      capacity headroom run --host http://127.0.0.1:8089 --plan loadtests/example-plan.json
    """

    settings = check_settings(capacity_rps, workers, queue_ms)
    server = make_stub(settings, host, port)
    click.echo(
        f"stub serving on {server.url} : capacity {capacity_rps:g} req/s ({workers} workers x "
        f"{settings.service_s * 1000:.1f} ms, queue up to {queue_ms:g} ms, then 503); Ctrl-C to stop"
    )
    sys.stdout.flush()  # a test or script waiting for the URL reads it from a pipe
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        m = server.model
        click.echo(f"stub stopped: served {m.served}, rejected {m.rejected}")


COMMANDS = [headroom, stub]
