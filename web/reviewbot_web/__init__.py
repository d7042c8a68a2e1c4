"""The reviewbot web view: a Flask application factory."""

from __future__ import annotations

from flask import Flask


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(REVIEWBOT_LORE_URL=None)
    if test_config:
        app.config.update(test_config)
    return app
