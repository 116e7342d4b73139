"""``capacity serve`` (the API under gunicorn with threaded workers) and ``capacity token create|revoke|list``."""

from __future__ import annotations

import os
import sys
from typing import Any

import click
from gunicorn.app.base import BaseApplication

from capacity.cli.common import console, db_option, open_store, print_table
from capacity.errors import InvalidInput


def _gunicorn_app(options: dict[str, Any], settings: dict[str, Any]) -> Any:
    """A gunicorn application whose workers each build the API with ``api.create_app(settings)``."""

    class CapacityGunicorn(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            # deferred: capacity imports without Flask; the API loads in the workers
            from api import create_app

            return create_app(settings)

    return CapacityGunicorn()


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@click.option(
    "--threads", default=4, show_default=True, type=click.IntRange(1, 256), help="Threads per worker."
)
@click.option(
    "--access-log/--no-access-log",
    default=False,
    envvar="CAPACITY_SERVE_ACCESS_LOG",
    help="Log each request (never the token) to stderr, with the worker's pid (env CAPACITY_SERVE_ACCESS_LOG).",
)
@click.option(
    "--metrics-public/--metrics-private",
    default=None,
    help="Serve /metrics without a token, or require a read token (env CAPACITY_API_METRICS_PUBLIC).",
)
@db_option
def serve(
    host: str,
    port: int,
    workers: int,
    threads: int,
    access_log: bool,
    metrics_public: bool | None,
    db: str | None,
) -> None:
    """Serve the HTTP API with gunicorn (threaded workers); each worker also runs queued jobs.

    Settings can also come from CAPACITY_API_<NAME> environment variables (see README, API settings). The
    workers share /metrics counts and the invalid-token limit through a temporary directory this command
    creates and removes.

    \b
    Examples:
      capacity serve --db .demo/capacity.db --port 8000
      capacity token create --scope read --db .demo/capacity.db
      curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/api/v1/services
    """
    # The shared directory must be named in the environment before prometheus_client is imported (by the
    # workers, after the fork): it picks its multiprocess mode once, at import.
    from api.shared_dir import server_runtime  # deferred: capacity imports without Flask

    with server_runtime():
        from api.serving.server import gunicorn_options  # deferred: capacity imports without Flask
        from api.settings import Settings  # deferred: capacity imports without Flask

        settings = Settings.from_env(os.environ, {"db": db, "metrics_public": metrics_public})
        # Migrate once here, before the workers start, so they never race on a fresh database.
        open_store(settings.db).close()
        options = gunicorn_options(
            bind=f"{host}:{port}", workers=workers, threads=threads, access_log=access_log
        )
        console.print(
            f"capacity API on http://{host}:{port} ({workers} workers x {threads} threads); docs at /docs"
        )
        sys.stdout.flush()
        _gunicorn_app(options, settings.as_dict()).run()


@click.group("token")
def token() -> None:
    """Create, revoke and list API tokens (stored hashed; the secret is shown once)."""


@token.command("create")
@click.option("--scope", "scopes", multiple=True, required=True, help="read, write or admin (repeatable).")
@click.option("--name", default="", help="A label for the token.")
@db_option
def token_create(scopes: tuple[str, ...], name: str, db: str | None) -> None:
    """Create a token; the secret alone is printed on the last line.

    \b
    Example:
      TOKEN=$(capacity token create --scope read --name grafana | tail -1)
    """
    info, secret = open_store(db).tokens.create_token(scopes, name)
    console.print(
        f"created token {info.id} ({info.prefix}...) with scopes {','.join(info.scopes)}; it is shown once:"
    )
    print(secret, flush=True)


@token.command("revoke")
@click.argument("ident")
@db_option
def token_revoke(ident: str, db: str | None) -> None:
    """Revoke a token by id or by its prefix (cp_...).

    \b
    Example:
      capacity token revoke 3
    """
    if not ident.strip():
        raise InvalidInput("give a token id or prefix", field="token")
    info = open_store(db).tokens.revoke_token(ident)
    console.print(f"revoked token {info.id} ({info.prefix}..., {info.name or 'no name'})")


@token.command("list")
@db_option
def token_list(db: str | None) -> None:
    """List tokens: id, prefix, name, scopes, created, last used, revoked (never the secrets).

    \b
    Example:
      capacity token list --db .demo/capacity.db
    """
    tokens = open_store(db).tokens.list_tokens()
    if not tokens:
        console.print("no tokens yet; create one with: capacity token create --scope read")
        return

    def when(ts: Any) -> str:
        return ts.strftime("%Y-%m-%d %H:%M") if ts is not None else "-"

    rows = [
        (
            t.id,
            t.prefix,
            t.name,
            ",".join(t.scopes),
            when(t.created_at),
            when(t.last_used_at),
            when(t.revoked_at),
        )
        for t in tokens
    ]
    print_table(
        f"{len(rows)} tokens", ["id", "prefix", "name", "scopes", "created", "last used", "revoked"], rows
    )


COMMANDS = [serve, token]
