"""Review jobs on Redis through RQ, run by `reviewbot worker` processes on any machine.

`RedisQueue` has the embedded `JobQueue`'s interface (submit, join, shutdown, depth): the web
and the list watcher use either. A job in Redis carries only the store's job id and the
settings; the worker's own store (PostgreSQL, shared by all) holds the rest, so a job is
idempotent: whoever runs it, however often, its review is stored once (`Store.claim`).

Failures: an archive that could not be reached is retried (at once, then after 30 s and
2 min); a worker that dies mid-job leaves its job in RQ's started registry until its heartbeat
expires, and the next worker's maintenance puts it back in the queue (the same retries).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time

from redis import Redis
from rq import Queue, Retry, SimpleWorker
from rq.job import Job as RQJob
from rq.exceptions import NoSuchJobError
from rq.job import JobStatus

from reviewbot.errors import Unavailable
from reviewbot_web.jobs import Busy, Settings, run_job
from reviewbot_web.store import NEWEST, Job, Store

log = logging.getLogger(__name__)

QUEUE_NAME = "reviewbot"
RETRY = Retry(max=3, interval=[0, 30, 120])
TIME_MARGIN = 10  # seconds RQ grants beyond the review's own time limit before killing it
HEARTBEAT_GRACE = 5  # seconds past a job's time limit after which its worker counts as dead
MAINTENANCE_INTERVAL = 10  # seconds between two looks for the jobs of dead workers
PENDING = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


class Retryable(Exception):
    """The job failed for a reason that may pass (the archive could not be reached)."""


def connect(url: str) -> Redis:
    return Redis.from_url(url)


class RedisQueue:
    """Jobs for the workers reading Redis at `url`, recorded in `store`."""

    def __init__(self, store: Store, settings: Settings, url: str):
        self.store = store
        self.settings = settings
        self.queue = Queue(QUEUE_NAME, connection=connect(url))
        self._lock = threading.Lock()  # two requests of one process for one series queue once

    def submit(self, msgid: str, revision: int = NEWEST, retry: bool = False) -> Job:
        """The job of `msgid`: the stored one if it is running or done, else a new one in the
        queue. A failed or expired job is tried again only with `retry`."""
        with self._lock:
            return self._submit(msgid, revision, retry)

    def _submit(self, msgid: str, revision: int, retry: bool) -> Job:
        job = self.store.find(msgid, revision)
        if job is not None and job.running and self.pending(job):
            return job
        if job is not None and not job.running and not (retry and job.retryable):
            return job
        depth = self.depth()
        if depth >= self.settings.max_queued:
            raise Busy(f"{depth} reviews are waiting or running")
        job = self.store.queue(job.msgid if job else msgid, revision)
        self.push(job)
        return job

    def push(self, job: Job) -> None:
        """Put a stored job in the queue, unless it is there already (waiting or running)."""
        if self.pending(job):
            return
        self.queue.enqueue(perform, job.id, dataclasses.asdict(self.settings),
                           job_id=rq_id(job.id), retry=RETRY,
                           job_timeout=int(self.settings.time_limit) + TIME_MARGIN,
                           result_ttl=600, failure_ttl=7 * 24 * 3600)

    def pending(self, job: Job) -> bool:
        try:
            return RQJob.fetch(rq_id(job.id), connection=self.queue.connection).get_status() in PENDING
        except NoSuchJobError:  # never pushed, or expired: not pending
            return False

    def depth(self) -> int:
        """Jobs waiting or running."""
        return self.queue.count + self.queue.started_job_registry.count

    def join(self, job: Job, timeout: float | None = None) -> Job:
        """The job once a worker has finished it (or as it is after `timeout` seconds)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        current = self.store.get(job.id)
        while current.running and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.2)
            current = self.store.get(job.id)
        return current

    def shutdown(self) -> None:
        """Jobs are the workers' to finish: nothing stops here."""
        self.queue.connection.close()


def rq_id(job_id: int) -> str:
    return f"reviewbot-{job_id}"


class Context:
    """The store of the worker process: set by `reviewbot worker` before it takes jobs."""

    store: Store | None = None


def perform(job_id: int, settings: dict) -> None:
    """One job, in a worker: review and store it; raise (for RQ to retry) if the archive could
    not be reached."""
    store = Context.store
    job = store.get(job_id)
    if job is None:
        log.warning("job %s is not in the store %s: skipped", job_id, store.backend.name)
        return
    run_job(store, Settings(**settings), job)
    done = store.get(job_id)
    if done.failed and done.error_kind == Unavailable.kind:
        raise Retryable(f"{done.msgid}: {done.error_message}")


class ReviewWorker(SimpleWorker):
    """RQ's worker, running each job in its own process (a job killed with its worker is
    taken over by another), with a heartbeat that expires soon after the job's time limit."""

    def get_heartbeat_ttl(self, job: RQJob, working_time: float = 0.0) -> int:
        return int(job.timeout or self.worker_ttl) + HEARTBEAT_GRACE


def work(url: str, store: Store, burst: bool = False) -> None:
    """Take jobs from the queue until stopped (or, with `burst`, until it is empty)."""
    Context.store = store
    worker = ReviewWorker([Queue(QUEUE_NAME, connection=connect(url))],
                          connection=connect(url), maintenance_interval=MAINTENANCE_INTERVAL,
                          worker_ttl=MAINTENANCE_INTERVAL + 15)  # RQ waits for jobs ttl - 15 s
    worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")
