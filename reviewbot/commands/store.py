"""Prune the review store now, as a running `serve` or `watch` does hourly, and say what went.

    reviewbot store --prune [--keep-days DAYS] [--store URL | --data DIR]

Reviews finished more than --keep-days ago (the config's keep_days, else 90) expire: their
pages say so and offer to review again. Rows of other analyser versions go after a week, and
the list watcher's messages and series once its grouping no longer reads them. Safe while a
server runs on the same store: a running job is never touched.
"""

from __future__ import annotations

from reviewbot.commands._service import add_retention_argument, add_store_arguments
from reviewbot.errors import InputError


def add_arguments(parser) -> None:
    parser.add_argument("--prune", action="store_true", required=True,
                        help="remove what is older than the store keeps, now")
    add_store_arguments(parser)
    add_retention_argument(parser)


def run(args) -> int:
    from reviewbot_web.deploy import keep_days, open_store
    from reviewbot_web.retention import prune, summary

    days = keep_days(args.keep_days)
    if days == 0:
        raise InputError("--keep-days 0", "keeps everything: there is nothing to prune")
    store = open_store(args.store, args.data)
    try:
        print(f"reviewbot: {store.backend.name}: {summary(prune(store, days))}")
    finally:
        store.close()
    return 0
