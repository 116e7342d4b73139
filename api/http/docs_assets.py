"""The ``/docs`` page's Swagger UI assets, served by the app itself from the pinned ``swagger-ui-bundle`` package.

APIFlask's page loads Swagger UI from a CDN by default, so ``/docs`` is blank on a machine without internet access
(an air-gapped staging network, a laptop on a train). The files come from a Python package pinned in
``pyproject.toml`` instead, so the version is the one installed and nothing leaves the server. Only the few files
the page needs are served, under ``/docs/assets/``, with no token (the page and the document are public too).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, Response, abort, send_from_directory

#: Where the page finds its assets.
PREFIX = "/docs/assets"
#: The files the page loads: Swagger UI's script, its standalone preset, its style sheet and the icon.
FILES = frozenset(
    {"swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css", "favicon-32x32.png"}
)


def asset_dir() -> Path:
    """The installed Swagger UI files (``swagger_ui_bundle.swagger_ui_path``)."""
    import swagger_ui_bundle  # deferred: only the app that serves /docs needs it

    return Path(swagger_ui_bundle.swagger_ui_path)


def register(app: Flask) -> None:
    """Serve the assets and point APIFlask's page at them (not at a CDN)."""
    directory = asset_dir()
    bp = Blueprint(
        "docs_assets", __name__
    )  # a plain blueprint: APIFlask leaves it out of the OpenAPI document

    @bp.get(f"{PREFIX}/<filename>")
    def asset(filename: str) -> Response:
        if filename not in FILES:
            abort(404)
        # A day of caching: the files change only when the pinned package does.
        return send_from_directory(directory, filename, max_age=86_400)

    app.register_blueprint(bp)
    app.config.update(
        SWAGGER_UI_CSS=f"{PREFIX}/swagger-ui.css",
        SWAGGER_UI_BUNDLE_JS=f"{PREFIX}/swagger-ui-bundle.js",
        SWAGGER_UI_STANDALONE_PRESET_JS=f"{PREFIX}/swagger-ui-standalone-preset.js",
        DOCS_FAVICON=f"{PREFIX}/favicon-32x32.png",
    )
