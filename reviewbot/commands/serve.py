"""Serve the web view: paste a lore message-id, read the review of the series in a browser.

Reviews run in a pool of worker threads in the server and are kept in SQLite under --data
(reviews finished --keep-days ago are dropped, hourly);
with --queue redis://... they run in `reviewbot worker` processes instead, and with --store
postgresql://... every process shares one store.
--demo serves the bundled seed thread as a local archive (no network) and prints the URL of
its review page.
"""

from __future__ import annotations

import signal
import sqlite3
import urllib.parse
from pathlib import Path

from reviewbot.commands._source import seconds
from reviewbot.errors import InputError
from reviewbot.commands._service import add_retention_argument, add_service_arguments

SEED_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "seed"


def add_arguments(parser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=5000, help="port (default: 5000; 0: any free one)")
    parser.add_argument("--tree", metavar="DIR",
                        help="a kernel git tree: review whole files (default: hunk-only)")
    parser.add_argument("--lore-url", metavar="URL",
                        help="the public-inbox archive, the only server ever asked "
                             "(default: $REVIEWBOT_LORE_URL, the config, lore.kernel.org/all)")
    add_service_arguments(parser)
    add_retention_argument(parser)
    parser.add_argument("--workers", type=int, default=2, metavar="N",
                        help="reviews run at once (default: 2)")
    parser.add_argument("--job-time-limit", type=seconds, default=300.0, metavar="SECONDS",
                        help="stop a review after this long (default: 300)")
    parser.add_argument("--demo", action="store_true",
                        help="serve the bundled seed thread as the archive (no network) and "
                             "print the URL of its review")


def run(args) -> int:
    import waitress  # the web's dependencies load only for this command

    from reviewbot_web import create_app, demo
    from reviewbot_web.deploy import default_data_dir, keep_days, setup_logging
    from reviewbot_web.retention import Pruner

    if args.workers < 1:
        raise InputError(str(args.workers), "--workers must be at least 1")
    if not 0 <= args.port <= 65535:
        raise InputError(str(args.port), "--port must be from 0 to 65535")
    if args.demo and args.lore_url:
        raise InputError("--demo", "serves its own archive: leave out --lore-url")
    if args.demo and not SEED_DIR.is_dir():
        raise InputError(str(SEED_DIR), "--demo needs the fixtures of a reviewbot checkout")
    setup_logging(args.log_format == "json")
    keep = keep_days(args.keep_days)  # a bad service.toml stops it before anything has started
    try:
        server = waitress.create_server(_lazy_app, host=args.host, port=args.port, threads=8,
                                        clear_untrusted_proxy_headers=True)
    except OSError as err:
        raise InputError(f"{args.host}:{args.port}", err.strerror or str(err)) from None
    host, port = server.effective_host, server.effective_port
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    lore_url = f"{url}{demo.PREFIX}/all" if args.demo else args.lore_url
    try:
        app = create_app({"DATA_DIR": args.data, "LORE_URL": lore_url, "TREE": args.tree,
                          "STORE": args.store, "QUEUE": args.queue, "WORKERS": args.workers, "JOB_TIME_LIMIT": args.job_time_limit,
                          "DEMO_DIR": str(SEED_DIR) if args.demo else None})
    except InputError:  # a store or queue it cannot use
        server.close()
        raise
    except (OSError, sqlite3.Error) as err:  # a data directory it cannot make or write
        server.close()
        raise InputError(args.data or str(default_data_dir()),
                         f"cannot keep reviews here: {getattr(err, 'strerror', None) or err}") from None
    _lazy_app.app = app
    pruner = Pruner(app.extensions["reviewbot"].store, keep)
    pruner.start()
    print(f"reviewbot: serving on {url}/ (Ctrl-C stops it)", flush=True)
    if args.demo:
        for msgid in demo.seed_messages(SEED_DIR):
            print(f"reviewbot: the seed's review: {url}/r/{urllib.parse.quote(msgid, safe='@')}",
                  flush=True)
    signal.signal(signal.SIGTERM, _stop)  # a service manager stops it as Ctrl-C does
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        pruner.stop()
        app.extensions["reviewbot"].jobs.shutdown()
    return 0


def _stop(signum, frame):
    raise KeyboardInterrupt


def _lazy_app(environ, start_response):
    """The server must exist (to know its port) before the app (whose archive may be the
    server itself, with --demo): the app is set here once both exist."""
    return _lazy_app.app(environ, start_response)
