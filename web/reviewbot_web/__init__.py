"""The reviewbot web application: paste a lore message-id, read the review of the series.

`create_app(config)` makes the Flask application: pages (reviewbot_web.pages), the JSON and
b4-compatible APIs (reviewbot_web.api), and with DEMO_DIR a small public-inbox stand-in serving
the mbox files there (reviewbot_web.demo). Reviews run as jobs in a pool of threads
(reviewbot_web.jobs), or on Redis with QUEUE, and are kept in SQLite under DATA_DIR, or in
PostgreSQL with STORE (reviewbot_web.store, reviewbot_web.deploy). /healthz and /metrics are for
the service's monitoring (reviewbot_web.monitor).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app, jsonify, render_template, request

from reviewbot_web.deploy import default_data_dir, open_queue, open_store
from reviewbot_web.jobs import JobQueue, Settings
from reviewbot_web.store import Store

# No inline script or style anywhere: what a stranger's mail smuggles into a page cannot run.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


@dataclass
class Services:
    store: Store
    jobs: JobQueue  # or a RedisQueue: the same interface
    settings: Settings


def services() -> Services:
    return current_app.extensions["reviewbot"]


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(
        DATA_DIR=None,  # default: $XDG_DATA_HOME/reviewbot
        STORE=None,  # postgresql://... or an SQLite file; None: reviews.sqlite3 in DATA_DIR
        QUEUE=None,  # redis://HOST:PORT/N: jobs for `reviewbot worker`; None: threads here
        LORE_URL=None,  # the archive; None: reviewbot's config, else lore.kernel.org
        TREE=None,  # a kernel git tree for whole-file reviews; None: hunk-only
        WORKERS=2,
        MAX_QUEUED=32,
        JOB_TIME_LIMIT=300.0,
        LORE_TIMEOUT=30.0,
        MAX_MESSAGES=500,
        MAX_THREAD_BYTES=8 * 1024 * 1024,
        MAX_CONTENT_LENGTH=16 * 1024,  # a request is a message-id and a token: small
        DEMO_DIR=None,  # a directory of mbox files to serve as a local archive under /demo-lore
    )
    app.config.update(config or {})
    data = Path(app.config["DATA_DIR"] or default_data_dir())
    data.mkdir(parents=True, exist_ok=True)
    app.secret_key = _secret_key(data)
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict")
    settings = Settings(lore_url=app.config["LORE_URL"], tree=app.config["TREE"],
                        workers=app.config["WORKERS"], max_queued=app.config["MAX_QUEUED"],
                        time_limit=app.config["JOB_TIME_LIMIT"],
                        lore_timeout=app.config["LORE_TIMEOUT"],
                        max_messages=app.config["MAX_MESSAGES"],
                        max_bytes=app.config["MAX_THREAD_BYTES"])
    store = open_store(app.config["STORE"], data)
    app.extensions["reviewbot"] = Services(store, open_queue(store, settings, app.config["QUEUE"]),
                                           settings)

    from reviewbot_web import api, demo, monitor, pages, render
    app.jinja_env.finalize = render.visible_controls
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(monitor.bp)
    if app.config["DEMO_DIR"]:
        app.register_blueprint(demo.blueprint(Path(app.config["DEMO_DIR"])))

    @app.after_request
    def security_headers(response):
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    for status in (400, 404, 405, 413, 415, 500):
        app.register_error_handler(status, _error_page)
    return app


def _error_page(error):
    """Errors as a page (or JSON for the API) that says what went wrong: never a traceback."""
    status = getattr(error, "code", None) or 500
    message = getattr(error, "description", None) or "something went wrong"
    if status == 500:
        message = "reviewbot failed to answer this request; the server log has the details"
    if request.path.startswith("/api/"):
        return jsonify(status="error", error={"kind": "http", "message": message}), status
    return render_template("error.html", status=status, message=message), status


def _secret_key(data: Path) -> bytes:
    """The key signing sessions (CSRF tokens), kept in the data directory across restarts."""
    path = data / "secret-key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another server process made it just now
        return path.read_bytes()
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    return key
