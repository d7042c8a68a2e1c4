"""The scale-out service end to end, on 127.0.0.1: a fake lore list with 50 generated series
revisions, `reviewbot watch` queueing them on Redis, two `reviewbot worker` processes storing
the reviews in PostgreSQL. One worker is killed in the middle of a job and the watcher is
restarted: every revision is still reviewed, and stored, exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone

import pytest

from fakelore import FakeLore
from listseries import generate, replies
from services import postgresql_url, redis_url  # noqa: F401 (fixtures)

WAIT = 6  # seconds an incomplete series waits
TIME_LIMIT = 10  # seconds per review


def reviewbot(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "reviewbot", *args], start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def watch_once(lore: FakeLore, redis: str, store: str) -> str:
    proc = reviewbot("watch", "--list", "minifs", "--lore-url", lore.url.removesuffix("/all"),
                     "--queue", redis, "--store", store, "--once", "--wait", str(WAIT),
                     "--job-time-limit", str(TIME_LIMIT))
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    return out


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def test_fifty_series_two_workers_one_killed_watcher_restarted(redis_url, postgresql_url,
                                                               tmp_path):
    from redis import Redis
    from rq import Worker

    from reviewbot_web.redisqueue import rq_id
    from reviewbot_web.store import REVIEWED, Store

    store = Store(postgresql_url)
    workers = []
    with FakeLore([]) as lore:
        try:
            watch_once(lore, redis_url, postgresql_url)  # a new list: followed from now on
            series = generate(50, datetime.now(timezone.utc))
            lore.publish("minifs", [m for s in series for m in s.messages])
            slow = series[10]
            lore.slow, lore.slow_delay = {slow.root}, 8.0  # its worker is killed while it waits
            shared = tmp_path / "shared-cache"  # what one worker learns, the other reads
            workers = [reviewbot("worker", "--queue", redis_url, "--store", postgresql_url,
                                 "--cache", str(shared)) for _ in range(2)]
            out = watch_once(lore, redis_url, postgresql_url)
            assert "new messages" in out

            job = wait_for(lambda: store.find(slow.root, slow.revision), 30, "the slow job")
            wait_for(lambda: store.get(job.id).status == "fetching", 30, "the slow job to start")
            redis = Redis.from_url(redis_url)
            busy = wait_for(lambda: [w for w in Worker.all(connection=redis)
                                     if w.get_current_job_id() == rq_id(job.id)], 10,
                            "the worker of the slow job")
            victim = next(p for p in workers if p.pid == busy[0].pid)
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait()

            lore.publish("minifs", replies(series, datetime.now(timezone.utc)))
            time.sleep(WAIT)
            out = watch_once(lore, redis_url, postgresql_url)  # the incomplete ones are due now
            assert out.count("is incomplete after") == sum(not s.complete for s in series)
            before = {row.root: row.job for row in store.series().values()}
            out = watch_once(lore, redis_url, postgresql_url)  # restarted: nothing new to do
            assert "queued" not in out and "incomplete" not in out
            assert {row.root: row.job for row in store.series().values()} == before

            def all_done():
                jobs = [store.get(job_id) for job_id in before.values()]
                return all(not j.running for j in jobs) and jobs
            jobs = {j.msgid: j for j in wait_for(all_done, 90, "every review")}
        finally:
            for proc in workers:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
            for proc in workers:
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)

    assert any((shared / "reviewbot").rglob("*.pickle"))
    from reviewbot_web import create_app

    app = create_app({"DATA_DIR": str(tmp_path), "STORE": postgresql_url, "QUEUE": redis_url})
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert "reviewbot_jobs_done_total 50.0" in metrics and "reviewbot_queue_depth 0.0" in metrics
    assert "reviewbot_review_seconds_count 50.0" in metrics
    rows = store.series("minifs")
    assert sorted(rows) == sorted(s.root for s in series)  # one row per revision, no more
    assert len(store.recent(limit=100)) == 50  # one job per revision
    for generated in series:
        row, job = rows[generated.root], jobs[generated.root]
        assert (row.revision, row.expected, row.complete) == \
               (generated.revision, generated.expected, generated.complete)
        assert job.status == REVIEWED, (generated.name, job)
        review = store.review(job.id)
        assert review.series.revision == generated.revision
        # an incomplete revision is reviewed as it arrived: without its last patch
        assert len(review.series.patches) == generated.expected - (not generated.complete)
        assert any("incomplete series" in note for note in review.notes) == (not generated.complete)
        # run once; the killed worker's job twice, and stored once
        assert job.runs == (2 if generated is slow else 1), (generated.name, job.runs)
    replied = {s.root for s in series[::3]}
    assert {root for root, row in rows.items() if row.replies} == replied
    # v2s are tied to their v1s
    for generated in series:
        if generated.revision == 2:
            v1 = next(s for s in series if s.name == generated.name.replace("v2", "v1"))
            assert rows[generated.root].series_key == rows[v1.root].series_key
