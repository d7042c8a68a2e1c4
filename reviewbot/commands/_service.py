"""The options that `serve`, `watch` and `worker` share: where reviews are kept, where jobs go,
and the log format. (Light on purpose: the web's modules load only when a command runs.)"""

from __future__ import annotations

import argparse


def add_service_arguments(parser) -> None:
    """--store, --queue, --data and --log-format: what serve, watch and worker share."""
    add_store_arguments(parser)
    parser.add_argument("--queue", metavar="URL",
                        help="redis://HOST:PORT/N: jobs go to Redis for `reviewbot worker` "
                             "(default: the config's, else a pool of threads in this process)")
    parser.add_argument("--log-format", choices=("text", "json"), default="text",
                        help="json: one JSON object a line (default: text)")


def add_store_arguments(parser) -> None:
    """--store and --data: where reviews are kept."""
    parser.add_argument("--store", metavar="URL",
                        help="postgresql://... to share one store between processes, or an SQLite "
                             "file (default: the config's, else reviews.sqlite3 in --data)")
    parser.add_argument("--data", metavar="DIR",
                        help="where an SQLite store is kept (default: $XDG_DATA_HOME/reviewbot)")


def add_retention_argument(parser) -> None:
    """--keep-days: what serve and watch, which prune the store as they run, share."""
    parser.add_argument("--keep-days", type=_days, metavar="DAYS",
                        help="drop reviews finished this many days ago, hourly (default: the "
                             "config's keep_days, else 90; 0: keep for ever)")


def _days(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"not a whole number of days (0: keep for ever): {text}")
    return int(text)
