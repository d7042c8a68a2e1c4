"""Take review jobs from a Redis queue (RQ) and store their reviews: run one per core or machine.

Every worker reads the same queue (--queue, or the config's) and writes the same store
(--store postgresql://..., or the config's). Workers that review in tree mode share what
reviewbot learnt of the tree when their cache directory is one shared path: --cache DIR (or
XDG_CACHE_HOME) on shared storage, so that a new worker does not index the tree again.
"""

from __future__ import annotations

from reviewbot.c.cache import use_cache_directory
from reviewbot.commands._service import add_service_arguments
from reviewbot.errors import InputError


def add_arguments(parser) -> None:
    add_service_arguments(parser)
    parser.add_argument("--cache", metavar="DIR",
                        help="the cache directory, e.g. on storage all workers share; reviewbot's "
                             "tree knowledge goes in DIR/reviewbot (default: $XDG_CACHE_HOME)")
    parser.add_argument("--burst", action="store_true",
                        help="stop once the queue is empty (default: wait for jobs)")


def run(args) -> int:
    from reviewbot_web.deploy import open_queue, open_store, service_config, setup_logging
    from reviewbot_web.jobs import Settings
    from reviewbot_web.redisqueue import work

    queue = args.queue or service_config().get("queue")
    if not queue:
        raise InputError("--queue", "a worker takes its jobs from Redis: give --queue "
                                    "redis://HOST:PORT/N (or `queue` in the service config)")
    if args.cache:
        use_cache_directory(args.cache)
    setup_logging(args.log_format == "json")

    store = open_store(args.store, args.data)
    open_queue(store, Settings(), queue)  # a queue it cannot reach is an error now
    try:
        work(queue, store, burst=args.burst)
    except KeyboardInterrupt:
        pass
    return 0
