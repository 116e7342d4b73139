"""The HTTP API: an APIFlask app factory with one blueprint per resource under ``/api/v1``.

``create_app(config)`` opens the store named by the settings (or uses the one given), installs the one error
shape (RFC 9457 problem documents, :mod:`api.http.problems`), request metrics, the blueprints, the OpenAPI document
at ``/openapi.json`` with its page at ``/docs``, and starts the job worker thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apiflask import APIFlask

from api.http import docs_assets, jsonsafe, openapi, problems
from api.routes import BLUEPRINTS
from api.serving import worker
from api.settings import SETTINGS, Settings
from api.state import AppState
from capacity import __version__
from capacity.store import Store

__all__ = ["SETTINGS", "Settings", "create_app"]


def create_app(config: Mapping[str, Any] | Settings | None = None, *, store: Store | None = None) -> APIFlask:
    """Build the API application.

    Args:
        config: settings (see :data:`api.settings.SETTINGS`) as a mapping or a :class:`Settings`.
        store: an open store to use instead of opening ``config["db"]``.

    Returns:
        The WSGI application.

    Raises:
        InvalidConfig: on an unknown or malformed setting.
        StoreError: when the database cannot be opened or migrated.
    """

    # The health routes import prometheus_client, which picks its multiprocess mode once, at import, and
    # ``capacity serve`` imports this package (for api.shared_dir) before it names the workers' shared directory.
    # deferred: prometheus_client must load after PROMETHEUS_MULTIPROC_DIR is set
    from api.routes import health

    settings = config if isinstance(config, Settings) else Settings.from_mapping(config)
    app = APIFlask(
        "capacity-api",
        title="capacity-planner API",
        version=__version__,
        spec_path="/openapi.json",
        docs_path="/docs",
    )
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_content_length,
        OPENAPI_VERSION="3.0.3",
        AUTO_404_RESPONSE=False,
        AUTO_VALIDATION_ERROR_RESPONSE=False,
        AUTO_AUTH_ERROR_RESPONSE=False,
        AUTO_200_RESPONSE=False,
        SECURITY_SCHEMES={
            "BearerAuth": {"type": "http", "scheme": "bearer"},
            "SignedUrl": {
                "type": "apiKey",
                "in": "query",
                "name": "signature",
                "description": "A chart's signed URL (with its expires parameter), from the chart-url operation",
            },
        },
        DESCRIPTION=openapi.DESCRIPTION,
    )
    jsonsafe.register(app)  # too-deeply nested JSON is a 400, not a 500
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.url_map.strict_slashes = False
    app.extensions["capacity"] = AppState.create(
        settings, store if store is not None else Store.open(settings.db)
    )
    problems.register(app)
    health.register(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint, url_prefix="/api/v1")
    openapi.register(app)
    docs_assets.register(app)  # /docs works offline: Swagger UI from a pinned package, not a CDN
    if settings.worker:
        worker.start(app)
    return app
