"""The options that `serve`, `watch` and `worker` share: where reviews are kept, where jobs go,
and the log format. (Light on purpose: the web's modules load only when a command runs.)"""

from __future__ import annotations


def add_service_arguments(parser) -> None:
    """--store, --queue, --data and --log-format: what serve, watch and worker share."""
    parser.add_argument("--store", metavar="URL",
                        help="postgresql://... to share one store between processes, or an SQLite "
                             "file (default: the config's, else reviews.sqlite3 in --data)")
    parser.add_argument("--queue", metavar="URL",
                        help="redis://HOST:PORT/N: jobs go to Redis for `reviewbot worker` "
                             "(default: the config's, else a pool of threads in this process)")
    parser.add_argument("--data", metavar="DIR",
                        help="where an SQLite store is kept (default: $XDG_DATA_HOME/reviewbot)")
    parser.add_argument("--log-format", choices=("text", "json"), default="text",
                        help="json: one JSON object a line (default: text)")
