"""Review jobs: a pool of worker threads in the server process.

`JobQueue` is the interface the web uses (`submit` starts or joins a job, `join` waits for
one); `run_job` is the work of one job, written against the `Store` interface only, so that a
queue in another process (Redis/RQ) can run the same function.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from reviewbot import service
from reviewbot.errors import Cancelled, DoesNotApply, ReviewbotError
from reviewbot.service import Limits, SourceSpec
from reviewbot_web.store import (FAILED, FAILED_TO_APPLY, FETCHING, NEWEST, QUEUED, REVIEWING,
                                 Job, Store)

log = logging.getLogger(__name__)

INTERNAL = "internal"


@dataclass(frozen=True)
class Settings:
    """What every job of a server shares: where to fetch, which tree, and the limits."""

    lore_url: str | None = None  # the only archive ever asked
    tree: str | None = None
    workers: int = 2  # jobs running at once
    max_queued: int = 32  # jobs waiting or running, beyond which a new one is refused
    time_limit: float = 300.0  # seconds per job, fetching included
    lore_timeout: float = 30.0
    max_messages: int = 500  # in a thread
    max_bytes: int = 8 * 1024 * 1024  # of text in a thread
    partial: bool = False  # review what arrived of an incomplete series (the list watcher's)


class Busy(Exception):
    """Too many jobs are waiting: a new one is refused until some finish."""


def run_job(store: Store, settings: Settings, job: Job, cancel: threading.Event | None = None) -> None:
    """Review what `job` asks for and record how it went; never raises for a thread that goes
    wrong, whatever breaks in reviewbot: the job fails with a message instead. A job whose
    review is stored already is left as it is."""
    if not store.claim(job.id):
        return

    def progress(step: str, done: int, total: int) -> None:
        store.progress(job.id, FETCHING if step == service.FETCHING else REVIEWING, step, done,
                       total)

    spec = SourceSpec((job.msgid,), tree=settings.tree, lore_url=settings.lore_url,
                      revision=job.revision if job.revision != NEWEST else None,
                      lore_timeout=settings.lore_timeout, lore_only=True,
                      partial=settings.partial)
    try:
        review = service.review(spec, progress=progress, time_limit=settings.time_limit,
                                cancel=cancel, limits=Limits(settings.max_messages,
                                                             settings.max_bytes))
    except Cancelled:
        # the server is stopping: the job waits, queued, for the next start to run it again
        store.progress(job.id, QUEUED, "", 0, 0)
    except DoesNotApply as err:
        store.fail(job.id, FAILED_TO_APPLY, err.kind, err.problem, err.path)
    except ReviewbotError as err:
        store.fail(job.id, FAILED, err.kind, err.problem)
    except Exception as err:  # a bug of reviewbot's that this thread hit: the log has it
        log.exception("review job %s (%s) failed", job.id, job.msgid)
        store.fail(job.id, FAILED, INTERNAL, f"reviewbot failed on this thread ({type(err).__name__}); "
                                             "this is a bug in reviewbot, not in the thread")
    else:
        arrived, expected = len(review.series.patches), review.series.patches[0].total
        if arrived < expected:  # a partial review (settings.partial): the reader must know
            review.notes.append(f"incomplete series: {arrived} of {expected} patches had "
                                "arrived when this was reviewed")
        store.finish(job.id, review)


class JobQueue:
    """Jobs run by a pool of threads in this process; one job per key at a time."""

    def __init__(self, store: Store, settings: Settings):
        self.store = store
        self.settings = settings
        self._pool = ThreadPoolExecutor(max_workers=settings.workers,
                                        thread_name_prefix="reviewbot-job")
        self._lock = threading.Lock()
        self._futures: dict[int, Future] = {}
        self._cancel = threading.Event()
        # what a stopped server left waiting or running (stopped cleanly, or killed mid-job)
        # runs again: a review is stored once however often its job runs
        for job in store.left_running():
            self._futures[job.id] = self._pool.submit(run_job, self.store, self.settings, job,
                                                      self._cancel)

    def submit(self, msgid: str, revision: int = NEWEST, retry: bool = False) -> Job:
        """The job of `msgid`: the stored one if it is running or done, else a new one. A
        failed or expired job is tried again only with `retry` (a user asking again, not a
        page reload)."""
        with self._lock:
            job = self.store.find(msgid, revision)
            if job is not None and job.running and job.id in self._futures:
                return job  # join it
            if job is not None and not job.running and not (retry and job.retryable):
                return job
            self._futures = {k: f for k, f in self._futures.items() if not f.done()}
            if len(self._futures) >= self.settings.max_queued:
                raise Busy(f"{len(self._futures)} reviews are waiting or running")
            job = self.store.queue(job.msgid if job else msgid, revision)
            self._futures[job.id] = self._pool.submit(run_job, self.store, self.settings, job,
                                                      self._cancel)
            return job

    def depth(self) -> int:
        """Jobs waiting or running."""
        with self._lock:
            return sum(1 for future in self._futures.values() if not future.done())

    def join(self, job: Job, timeout: float | None = None) -> Job:
        """The job once it has finished (or as it is after `timeout` seconds)."""
        future = self._futures.get(job.id)
        if future is not None:
            try:
                future.result(timeout)
            except TimeoutError:
                pass
        return self.store.get(job.id)

    def shutdown(self) -> None:
        """Stop: running jobs stop at their next step and wait, queued, with the ones that never
        started, for the next server on this store."""
        self._cancel.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
