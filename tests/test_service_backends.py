"""The store on SQLite and on PostgreSQL (the same statements), the Redis queue from the web's
side, /healthz and /metrics, and the one-line errors of serve, watch and worker."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time

import pytest

from reviewbot.review import Review
from reviewbot.series import Patch, Series
from services import postgresql_url, redis_url  # noqa: F401 (fixtures)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    from reviewbot_web.store import Store

    if request.param == "sqlite":
        return Store(tmp_path / "reviews.sqlite3", analyser="test")
    return Store(request.getfixturevalue("postgresql_url"), analyser="test")


def a_review(cover: str, revision: int) -> Review:
    series = Series(source=cover, subject="minifs: notes", revision=revision,
                    patches=[Patch(msgid=f"p{n}-{cover}", number=n, total=2, subject=f"p{n}",
                                   author="a", date="d", message="m", diff="")
                             for n in (1, 2)])
    series.cover_msgid = cover
    return Review(series=series, mode="hunk-only", base=None)


def test_a_job_is_claimed_and_stored_once_and_found_by_every_message_id(store):
    from reviewbot_web.store import REVIEWED

    job = store.queue("c@x", 0)
    assert store.claim(job.id)
    store.finish(job.id, a_review("c@x", 2))
    assert not store.claim(job.id)  # a second run (a retry, a dead worker's) leaves it
    done = store.get(job.id)
    assert done.status == REVIEWED and done.runs == 1 and done.patches == 2
    assert store.find("p2-c@x", 2).id == job.id and store.find("p1-c@x").id == job.id
    assert store.review(job.id).series.revision == 2
    by_status, _, seconds = store.stats()
    assert by_status == {REVIEWED: 1} and len(seconds) == 1 and seconds[0] >= 0


def test_the_watchers_messages_position_and_series_are_kept_once(store):
    from reviewbot.watch import Message
    from reviewbot_web.store import SeriesRow

    messages = [Message("a@x", "[PATCH] x", "A", "2026-01-06T10:00:00Z"),
                Message("b@x", "Re: [PATCH] x", "B", "2026-01-06T10:01:00Z", "a@x")]
    assert store.add_messages("minifs", messages, "2026-01-06T10:01:00Z") == 2
    assert store.add_messages("minifs", messages[1:], "2026-01-06T10:02:00Z") == 0
    assert store.feed_position("minifs") == "2026-01-06T10:02:00Z"
    assert [row[0] for row in store.messages("minifs", 0)] == ["a@x", "b@x"]
    row = SeriesRow("a@x", "minifs", "k", 1, "x", 1, 1, 0, None, True, 1.0, 1.0)
    store.save_series(row)
    job = store.queue("a@x", 1)
    store.save_series(SeriesRow("a@x", "minifs", "k", 1, "x", 1, 1, 1, job.id, True, 1.0, 2.0))
    assert store.series("minifs") == {"a@x": SeriesRow("a@x", "minifs", "k", 1, "x", 1, 1, 1,
                                                       job.id, True, 1.0, 2.0)}
    store.count_feed_error("minifs")
    store.count_feed_error("other")
    assert store.feed_errors() == 2 and store.feed_position("minifs") == "2026-01-06T10:02:00Z"


def test_the_web_on_redis_and_postgresql_queues_once_and_reports_health_and_metrics(
        redis_url, postgresql_url, tmp_path):
    from reviewbot_web import create_app, services

    app = create_app({"DATA_DIR": str(tmp_path), "STORE": postgresql_url, "QUEUE": redis_url,
                      "LORE_URL": "http://127.0.0.1:9/all"})
    with app.app_context():
        jobs = services().jobs
        first = jobs.submit("c@x")
        assert jobs.submit("c@x").id == first.id and jobs.depth() == 1  # joined, not queued again
    client = app.test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "reviewbot_queue_depth 1.0" in metrics
    assert "reviewbot_jobs_done_total 0.0" in metrics
    assert 'reviewbot_review_seconds_bucket{le="+Inf"} 0.0' in metrics
    assert "reviewbot_lore_fetch_errors_total 0.0" in metrics


def test_a_job_the_archive_failed_is_retried_by_a_worker_and_stored_once(redis_url, tmp_path):
    from datetime import datetime, timezone

    from fakelore import FakeLore
    from listseries import generate
    from reviewbot_web import create_app, services
    from reviewbot_web.store import REVIEWED

    store_path = tmp_path / "reviews.sqlite3"
    [series] = generate(1, datetime.now(timezone.utc))
    with FakeLore([]) as lore:
        lore.publish("minifs", series.messages)
        lore.thread_failures = 1
        app = create_app({"DATA_DIR": str(tmp_path), "STORE": str(store_path),
                          "QUEUE": redis_url, "LORE_URL": lore.url})
        worker = subprocess.Popen([sys.executable, "-m", "reviewbot", "worker", "--queue",
                                   redis_url, "--store", str(store_path), "--burst"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        with app.app_context():
            job = services().jobs.submit(series.root)
            out, _ = worker.communicate(timeout=120)
            done = services().jobs.join(job, timeout=1)
    assert worker.returncode == 0, out
    assert done.status == REVIEWED and done.runs == 2, (done, out)


def test_health_says_unavailable_when_the_queue_is_gone(redis_url, tmp_path):
    from redis import Redis
    from redis.exceptions import ConnectionError as Refused

    from reviewbot_web import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([shutil.which("redis-server"), "--bind", "127.0.0.1", "--port",
                               str(port), "--save", "", "--dir", str(tmp_path)],
                              stdout=subprocess.DEVNULL)
    try:
        for _ in range(50):  # until it answers
            try:
                Redis(port=port).ping()
                break
            except Refused:
                time.sleep(0.1)
        app = create_app({"DATA_DIR": str(tmp_path), "QUEUE": f"redis://127.0.0.1:{port}/0"})
        assert app.test_client().get("/healthz").status_code == 200
    finally:
        server.kill()
        server.wait()
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 503 and answer.get_json()["status"] == "unavailable"


@pytest.mark.parametrize("args, where, problem", [
    (["worker"], "--queue", "a worker takes its jobs from Redis"),
    (["worker", "--queue", "redis://127.0.0.1:9/0"], "redis://127.0.0.1:9/0",
     "cannot use this queue"),
    (["worker", "--queue", "http://127.0.0.1:9/"], "http://127.0.0.1:9/", "must be a redis://"),
    (["watch", "--list", "minifs", "--store", "postgresql://u:secret@127.0.0.1:9/x", "--once"],
     "postgresql://u:***@127.0.0.1:9/x", "cannot use this store"),
    (["watch", "--list", "a/b", "--once"], "a/b", "not a list name"),
    (["serve", "--port", "0", "--queue", "redis://127.0.0.1:9/0"], "redis://127.0.0.1:9/0",
     "cannot use this queue"),
    (["watch", "--list", "minifs", "--lore-url", "ftp://x", "--once"], "ftp://x", "not an http"),
])
def test_bad_service_options_are_one_line_errors(args, where, problem):
    done = subprocess.run([sys.executable, "-m", "reviewbot", *args], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert where in line and problem in line and "secret" not in line


def test_a_store_made_before_runs_were_counted_gains_the_columns(tmp_path):
    import sqlite3

    from reviewbot_web.store import Store

    path = tmp_path / "reviews.sqlite3"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, msgid TEXT NOT NULL, revision INTEGER "
                "NOT NULL, analyser TEXT NOT NULL, status TEXT NOT NULL, step TEXT NOT NULL "
                "DEFAULT '', done INTEGER NOT NULL DEFAULT 0, total INTEGER NOT NULL DEFAULT 0, "
                "error_kind TEXT, error_message TEXT, error_path TEXT, subject TEXT NOT NULL "
                "DEFAULT '', author TEXT NOT NULL DEFAULT '', date TEXT NOT NULL DEFAULT '', "
                "patches INTEGER NOT NULL DEFAULT 0, counts TEXT, cover_msgid TEXT, result TEXT, "
                "created REAL NOT NULL, updated REAL NOT NULL, UNIQUE (msgid, revision, analyser))")
    old.execute("INSERT INTO jobs (msgid, revision, analyser, status, created, updated) "
                "VALUES ('c@x', 0, 'test', 'queued', 1, 1)")
    old.commit()
    old.close()
    store = Store(path, analyser="test")
    job = store.find("c@x")
    assert job.runs == 0 and store.claim(job.id) and store.get(job.id).runs == 1


def test_prune_expires_old_reviews_keeps_running_jobs_and_drops_other_versions(store):
    from reviewbot.watch import Message
    from reviewbot_web.retention import DAY, prune
    from reviewbot_web.store import QUEUED, REVIEWED, Pruned, SeriesRow, Store

    place = getattr(store.backend, "url", None) or store.backend.path
    older = Store(place, analyser="older")
    old_job = older.queue("o@x", 0)
    done = store.queue("c@x", 0)
    store.claim(done.id)
    store.finish(done.id, a_review("c@x", 1))
    running = store.queue("r@x", 0)
    watched = store.queue("w@x", 0)
    store.claim(watched.id)
    store.finish(watched.id, a_review("w@x", 1))
    now = time.time()
    store.save_series(SeriesRow("w@x", "minifs", "k", 1, "x", 2, 2, 0, watched.id, True, now, now))
    store.add_messages("minifs", [Message("m@x", "[PATCH] m", "A", "2026-01-06T10:00:00Z")], "p")

    # within a week nothing goes; after it, only the other version's row
    assert prune(store, 90, now + 6 * DAY) == Pruned()
    assert prune(store, 90, now + 8 * DAY) == Pruned(jobs=1)
    assert older.get(old_job.id) is None and store.get(done.id).status == REVIEWED

    # past keep_days: finished reviews expire (the series' job too), the running job stays,
    # and the watcher's messages and series go; a second prune finds nothing
    totals = store.stats()[0]
    pruned = prune(store, 90, now + 91 * DAY)
    assert (pruned.expired, pruned.series, pruned.messages) == (2, 1, 1)
    assert prune(store, 90, now + 91 * DAY) == Pruned()
    expired = store.find("p2-c@x", 1)  # still found by every message-id of its series
    assert expired.id == done.id and expired.expired is not None and expired.retryable
    assert store.review(done.id) is None and store.get(running.id).status == QUEUED
    assert store.messages("minifs", 0) == [] and store.series() == {}
    assert store.stats()[0] == totals == {REVIEWED: 2, QUEUED: 1}  # /metrics' totals hold

    # the rows stay while this version runs; keep_days 0 never prunes; a newer version
    # removes them once they have been idle its grace
    assert prune(store, 90, now + 1000 * DAY) == Pruned()
    assert prune(store, 0, now + 1000 * DAY) == Pruned()
    assert store.find("p2-c@x", 1).id == done.id
    newer = Store(place, analyser="newer")
    assert prune(newer, 90, now + 1000 * DAY).jobs == 3
    assert store.find("p2-c@x", 1) is None and store.get(running.id) is None
    older.close()
    newer.close()


def test_a_large_prune_gives_the_sqlite_files_space_back(tmp_path):
    from reviewbot_web.retention import DAY, prune
    from reviewbot_web.store import Store

    store = Store(tmp_path / "reviews.sqlite3", analyser="test")
    for n in range(40):
        job = store.queue(f"c{n}@x", 0)
        review = a_review(f"c{n}@x", 1)
        review.series.patches[0].diff = f"+{n}" * 100_000  # 300 KB of patch text a review
        store.finish(job.id, review)
    small = store.queue("kept@x", 0)
    size = (tmp_path / "reviews.sqlite3").stat().st_size
    assert size > 10_000_000
    pruned = prune(store, 90, store.get(small.id).updated + 91 * DAY)
    assert pruned.expired == 40 and pruned.vacuumed
    assert (tmp_path / "reviews.sqlite3").stat().st_size < size / 4
    assert store.get(small.id) is not None and not prune(store, 90).vacuumed


def test_store_prune_prints_what_it_removed_and_refuses_a_bad_keep_days(tmp_path):
    import sqlite3

    from reviewbot_web.store import Store

    (tmp_path / "data").mkdir()
    store = Store(tmp_path / "data" / "reviews.sqlite3")  # this version's rows
    job = store.queue("c@x", 0)
    store.finish(job.id, a_review("c@x", 1))
    with sqlite3.connect(tmp_path / "data" / "reviews.sqlite3") as db:  # finished 10 days ago
        db.execute("UPDATE jobs SET updated = updated - 10 * 86400")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}

    def prune(*args):
        return subprocess.run([sys.executable, "-m", "reviewbot", "store", "--prune",
                               "--data", str(tmp_path / "data"), *args], capture_output=True,
                              text=True, timeout=60, env=env)

    done = prune("--keep-days", "30")
    assert done.returncode == 0 and " 0 reviews expired" in done.stdout
    done = prune("--keep-days", "7")
    assert done.returncode == 0 and " 1 reviews expired; 0 jobs of other" in done.stdout
    assert store.get(job.id).expired is not None
    (tmp_path / "config" / "reviewbot").mkdir(parents=True)
    (tmp_path / "config" / "reviewbot" / "service.toml").write_text("keep_days = -1\n")
    done = prune()
    [line] = done.stderr.strip().splitlines()
    assert done.returncode == 2 and "service.toml" in line and "keep_days is a whole" in line


def test_a_pruner_prunes_at_start_and_stops_when_asked(tmp_path):
    import sqlite3

    from reviewbot_web.retention import Pruner
    from reviewbot_web.store import Store

    store = Store(tmp_path / "reviews.sqlite3", analyser="test")
    job = store.queue("c@x", 0)
    store.finish(job.id, a_review("c@x", 1))
    with sqlite3.connect(tmp_path / "reviews.sqlite3") as db:  # finished 10 days ago
        db.execute("UPDATE jobs SET updated = updated - 10 * 86400")
    kept = Pruner(store, 0)  # 0 keeps everything: no thread at all
    kept.start()
    kept.stop()
    assert store.get(job.id).expired is None
    pruner = Pruner(store, 7, every=3600)
    pruner.start()
    pruner.stop()  # at once: the first prune ran, the hourly wait is cut
    assert store.get(job.id).expired is not None and store.review(job.id) is None
