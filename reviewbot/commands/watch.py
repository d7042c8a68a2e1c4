"""Follow mailing lists on a public-inbox server and review every new series as it arrives.

Each poll asks the server for the list's messages since the last position (the search a
public-inbox server answers as Atom: `{lore-url}/{list}/?q=dt:FROM..&x=A`), keeps them in the
store with the new position, groups them into series revisions (reviewbot.watch) and queues
one review per revision once it is complete, or once it has waited --wait seconds (then what
arrived is reviewed, and the log says the series was incomplete). A restart resumes from the
stored position: a revision is queued once, and a reply or a new revision updates the series.
Messages and series older than the grouping reads, and reviews finished --keep-days ago, are
dropped from the store at start and hourly.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import urllib.parse
from datetime import datetime, timezone

from reviewbot.commands._service import add_retention_argument, add_service_arguments
from reviewbot.commands._source import seconds
from reviewbot.errors import InputError
from reviewbot.watch import (WINDOW, FeedError, Message, collect, due, newest, parse_feed,
                             search_since)

log = logging.getLogger("reviewbot.watch")
PAGE = 200  # entries a public-inbox search answers at once
MAX_PAGES = 50


def add_arguments(parser) -> None:
    parser.add_argument("--list", action="append", required=True, metavar="NAME", dest="lists",
                        help="a list (inbox) to follow, e.g. linux-fsdevel; repeat for more")
    parser.add_argument("--lore-url", metavar="URL", default="https://lore.kernel.org",
                        help="the public-inbox server; reviews fetch threads from its `all` "
                             "inbox (default: https://lore.kernel.org)")
    parser.add_argument("--tree", metavar="DIR",
                        help="a kernel git tree: review whole files (default: hunk-only)")
    parser.add_argument("--interval", type=seconds, default=60.0, metavar="SECONDS",
                        help="between two polls (default: 60)")
    parser.add_argument("--wait", type=seconds, default=3600.0, metavar="SECONDS",
                        help="how long an incomplete series waits for its missing patches before "
                             "what arrived is reviewed (default: 3600)")
    parser.add_argument("--job-time-limit", type=seconds, default=300.0, metavar="SECONDS",
                        help="stop a review after this long (default: 300)")
    parser.add_argument("--workers", type=int, default=2, metavar="N",
                        help="reviews run at once without --queue (default: 2)")
    parser.add_argument("--once", action="store_true",
                        help="poll once, wait for the reviews it queued (without --queue), stop")
    add_service_arguments(parser)
    add_retention_argument(parser)


def run(args) -> int:
    import requests

    from reviewbot_web.deploy import keep_days, open_queue, open_store, setup_logging
    from reviewbot_web.jobs import JobQueue, Settings
    from reviewbot_web.retention import Pruner

    base = args.lore_url.rstrip("/")
    if urllib.parse.urlsplit(base).scheme not in ("http", "https"):
        raise InputError(args.lore_url, "lore URL is not an http(s) URL")
    for name in args.lists:
        if not name or "/" in name or name != name.strip():
            raise InputError(name, "not a list name (like linux-fsdevel)")
    if args.workers < 1:
        raise InputError(str(args.workers), "--workers must be at least 1")
    setup_logging(args.log_format == "json")
    store = open_store(args.store, args.data)
    settings = Settings(lore_url=f"{base}/all", tree=args.tree, workers=args.workers,
                        max_queued=10**9, time_limit=args.job_time_limit, partial=True)
    jobs = open_queue(store, settings, args.queue)
    pruner = Pruner(store, keep_days(args.keep_days))
    session = requests.Session()

    def fetch(url: str) -> bytes:
        answer = session.get(url, timeout=30)
        answer.raise_for_status()
        return answer.content

    watcher = Watcher(store, jobs, base, args.wait, fetch)
    stop = threading.Event()
    pruner.start()  # prunes once at least, even with --once
    try:
        watcher.resume()
        while True:
            for name in args.lists:
                watcher.poll(name)
            if args.once or stop.wait(args.interval):
                break
        if args.once and isinstance(jobs, JobQueue):  # its reviews die with this process
            for job in watcher.queued:
                jobs.join(job)
    except KeyboardInterrupt:
        pass
    finally:
        pruner.stop()
        jobs.shutdown()
    return 0


class Watcher:
    """Polls lists into the store and queues their series: `poll(name)` is one round."""

    def __init__(self, store, jobs, base: str, wait: float, fetch, clock=time.time):
        self.store = store
        self.jobs = jobs
        self.base = base
        self.wait = wait
        self.fetch = fetch
        self.clock = clock
        self.queued = []  # the jobs this watcher queued

    def resume(self) -> None:
        """Queue again what a stopped watcher had queued and nobody finished (an embedded
        pool's jobs die with it; a Redis queue still has its own)."""
        for row in self.store.series().values():
            job = self.store.get(row.job) if row.job is not None else None
            if job is not None and (job.running or job.error_kind == "cancelled"):
                self.queued.append(self.jobs.submit(job.msgid, job.revision, retry=True))

    def poll(self, name: str) -> None:
        position = self.store.feed_position(name)
        if not position:  # a new list: follow it from now on
            position = datetime.fromtimestamp(self.clock(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            messages = self.read(name, position)
        except (OSError, FeedError, ValueError) as err:  # requests' errors are OSErrors
            self.store.count_feed_error(name)
            log.warning("%s: cannot read the feed of %s: %s", self.base, name, err)
            return
        added = self.store.add_messages(name, messages, newest(messages, position))
        if added:
            log.info("%s: %d new messages", name, added)
        self.update(name)

    def read(self, name: str, position: str) -> list[Message]:
        query = urllib.parse.quote(search_since(position))
        messages = []
        for page in range(MAX_PAGES):
            batch = parse_feed(self.fetch(f"{self.base}/{name}/?q={query}&x=A&o={page * PAGE}"))
            messages += batch
            if len(batch) < PAGE:
                break
        return messages

    def update(self, name: str) -> None:
        """Bring the list's series up to date, and queue those that are due."""
        from reviewbot_web.jobs import Busy
        from reviewbot_web.store import SeriesRow

        now = self.clock()
        rows = self.store.series(name)
        messages = [Message(*row) for row in self.store.messages(name, now - WINDOW)]
        for rev in collect(messages):
            old = rows.get(rev.root)
            job = old.job if old else None
            row = SeriesRow(rev.root, name, rev.series_key, rev.revision, rev.subject,
                            rev.expected, rev.received, rev.replies, job, rev.complete,
                            old.first_seen if old else now, now)
            if job is None and due(rev, row.first_seen, now, self.wait):
                try:
                    queued = self.jobs.submit(rev.root, rev.revision)
                except Busy:
                    log.info("%s: the queue is full; %s waits", name, rev.root)
                else:
                    self.queued.append(queued)
                    row = dataclasses.replace(row, job=queued.id)
                    if rev.complete:
                        log.info("%s: queued v%d of %r (%d patches)", name, rev.revision,
                                 rev.subject, rev.expected)
                    else:
                        log.warning("%s: v%d of %r is incomplete after %gs: reviewing the %d of "
                                    "%d patches that arrived", name, rev.revision, rev.subject,
                                    self.wait, rev.received, rev.expected)
            if old is None or _changed(old, row):
                self.store.save_series(row)


def _changed(old, new) -> bool:
    return (old.received, old.replies, old.job, old.complete, old.subject, old.series_key) != \
           (new.received, new.replies, new.job, new.complete, new.subject, new.series_key)
