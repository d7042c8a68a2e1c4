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
