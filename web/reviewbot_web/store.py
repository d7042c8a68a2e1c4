"""The store of reviews and their jobs: SQLite (stdlib) in the data directory, or PostgreSQL
(a `postgresql://` URL) when several workers and web processes share one.

One row per (message-id asked for, revision, analyser version): the job's status and progress
while it runs, then the stored review, or the error that stopped it. When a review is done,
every message-id of its series (the cover's, each patch's) and its actual revision become
aliases of the row, so that any of them finds it. A new analyser version finds nothing and
reviews again.

`Store` is the whole interface the web, the job runners and the list watcher use; both
backends run the same SQL statements.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import reviewbot
from reviewbot.c import cache
from reviewbot.review import Review
from reviewbot_web import record

QUEUED, FETCHING, REVIEWING = "queued", "fetching", "reviewing"
REVIEWED, FAILED_TO_APPLY, FAILED = "reviewed", "failed to apply", "failed"
RUNNING = (QUEUED, FETCHING, REVIEWING)
FINISHED = (REVIEWED, FAILED_TO_APPLY, FAILED)
# a finished job past the store's retention: its review is dropped, its row stays (with its
# status, for the totals /metrics shows) so that its permalinks say so and offer to review again
EXPIRED = "expired"  # the error's kind
EXPIRED_MESSAGE = "this review has expired; request it again"
NEWEST = 0  # the revision key of "the newest revision", what a request without -v N asks for


def analyser_version() -> str:
    """reviewbot's version and the digest of its code (the cache's): a changed analyser
    re-reviews, even in a checkout whose version number did not move."""
    return f"{reviewbot.__version__}+{cache.code_version()}"


@dataclass(frozen=True)
class Job:
    """A review job as stored: what was asked, how far it is, and what came of it."""

    id: int
    msgid: str
    revision: int  # NEWEST, or the N of -v N
    status: str
    step: str = ""  # the service's step: fetching, applying, parsing, checking
    done: int = 0
    total: int = 0
    error_kind: str | None = None
    error_message: str | None = None
    error_path: str | None = None  # the file that did not apply
    subject: str = ""
    author: str = ""
    date: str = ""
    patches: int = 0
    counts: dict | None = None  # {"severity": {...}, "status": {...}} of a reviewed series
    cover_msgid: str | None = None
    runs: int = 0  # times a runner took it: more than 1 after a retry or a dead worker
    created: float = 0.0
    updated: float = 0.0
    expired: float | None = None  # when retention dropped its review


    @property
    def running(self) -> bool:
        return self.status in RUNNING

    @property
    def failed(self) -> bool:
        return self.status in (FAILED, FAILED_TO_APPLY)

    @property
    def retryable(self) -> bool:
        """A user asking again runs it again: it failed, or its review has expired."""
        return self.failed or self.expired is not None


SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id {serial},
    msgid TEXT NOT NULL,
    revision INTEGER NOT NULL,
    analyser TEXT NOT NULL,
    status TEXT NOT NULL,
    step TEXT NOT NULL DEFAULT '',
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    error_kind TEXT,
    error_message TEXT,
    error_path TEXT,
    subject TEXT NOT NULL DEFAULT '',
    author TEXT NOT NULL DEFAULT '',
    date TEXT NOT NULL DEFAULT '',
    patches INTEGER NOT NULL DEFAULT 0,
    counts TEXT,
    cover_msgid TEXT,
    result TEXT,
    runs INTEGER NOT NULL DEFAULT 0,
    started DOUBLE PRECISION,
    created DOUBLE PRECISION NOT NULL,
    updated DOUBLE PRECISION NOT NULL,
    UNIQUE (msgid, revision, analyser)
);
CREATE TABLE IF NOT EXISTS aliases (
    msgid TEXT NOT NULL,
    revision INTEGER NOT NULL,
    analyser TEXT NOT NULL,
    job INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    PRIMARY KEY (msgid, revision, analyser)
);
CREATE INDEX IF NOT EXISTS jobs_updated ON jobs(updated);
CREATE TABLE IF NOT EXISTS feeds (
    list TEXT PRIMARY KEY,
    position TEXT NOT NULL DEFAULT '',
    errors INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS messages (
    msgid TEXT PRIMARY KEY,
    list TEXT NOT NULL,
    subject TEXT NOT NULL,
    author TEXT NOT NULL,
    date TEXT NOT NULL,
    in_reply_to TEXT,
    change_id TEXT,
    seen DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_list ON messages(list, seen);
CREATE TABLE IF NOT EXISTS series (
    root TEXT PRIMARY KEY,
    list TEXT NOT NULL,
    series_key TEXT NOT NULL,
    revision INTEGER NOT NULL,
    subject TEXT NOT NULL,
    expected INTEGER NOT NULL,
    received INTEGER NOT NULL,
    replies INTEGER NOT NULL DEFAULT 0,
    job INTEGER REFERENCES jobs(id),
    complete INTEGER NOT NULL DEFAULT 0,
    first_seen DOUBLE PRECISION NOT NULL,
    updated DOUBLE PRECISION NOT NULL
);
"""
JOB_COLUMNS = ("id, msgid, revision, status, step, done, total, error_kind, error_message, "
               "error_path, subject, author, date, patches, counts, cover_msgid, runs, created, "
               "updated, expired")
# columns added since the first stores were made: a store from then gains them when opened
ADDED_COLUMNS = (("jobs", "runs", "INTEGER NOT NULL DEFAULT 0"), ("jobs", "started", "DOUBLE PRECISION"),
                 ("jobs", "expired", "DOUBLE PRECISION"))
SERIES_COLUMNS = ("root, list, series_key, revision, subject, expected, received, replies, job, "
                  "complete, first_seen, updated")


@dataclass(frozen=True)
class Pruned:
    """What one `Store.prune` removed."""

    expired: int = 0  # finished jobs whose stored review was dropped
    jobs: int = 0  # job rows of other analyser versions deleted
    series: int = 0
    messages: int = 0
    vacuumed: bool = False  # an SQLite file gave its free space back


@dataclass(frozen=True)
class SeriesRow:
    """A series revision the watcher found on a list, and the job that reviews it (None while
    it waits to be complete)."""

    root: str  # the cover's message-id, or the first patch's
    list: str
    series_key: str  # the same for every revision of one series
    revision: int
    subject: str
    expected: int
    received: int
    replies: int
    job: int | None
    complete: bool
    first_seen: float
    updated: float


class SQLite:
    """The embedded backend: one file, WAL mode (pages read while workers write)."""

    serial = "INTEGER PRIMARY KEY"
    schema_lock = None  # BEGIN IMMEDIATE is the lock

    def __init__(self, path: Path):
        self.path = Path(path)
        self.name = str(self.path)

    def connect(self):
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("PRAGMA journal_mode=WAL")
        return db

    @staticmethod
    def sql(statement: str) -> str:
        return statement

    @contextmanager
    def transaction(self, db):
        db.execute("BEGIN IMMEDIATE")  # writers queue up here, not at their first write
        try:
            yield
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    @staticmethod
    def reclaim(db) -> bool:
        """Give the file's free pages back to the disk when a quarter of it (and at least
        RECLAIM_PAGES) is free: SQLite reuses free pages but never shrinks the file itself,
        and VACUUM rewrites the whole file, so it is worth it only after a large prune."""
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        if free < RECLAIM_PAGES or free * 4 < pages:
            return False
        try:
            db.execute("VACUUM")
        except sqlite3.OperationalError:  # busy past the timeout: the next prune tries again
            return False
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the copy VACUUM wrote to the log
        return True


RECLAIM_PAGES = 2048  # 8 MiB of SQLite's default 4 KiB pages


class PostgreSQL:
    """The shared backend, for several workers and web processes on several machines."""

    serial = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
    # processes starting together would race to create the same tables
    schema_lock = "SELECT pg_advisory_xact_lock(7310)"

    def __init__(self, url: str):
        self.url = url
        self.name = url.split("@")[-1]  # never a password in a message

    def connect(self):
        import psycopg  # only a PostgreSQL store needs it

        return psycopg.connect(self.url, autocommit=True)

    @staticmethod
    def sql(statement: str) -> str:
        return statement.replace("?", "%s")  # the statements here hold no literal ? or %

    @contextmanager
    def transaction(self, db):
        with db.transaction():
            yield

    @staticmethod
    def reclaim(db) -> bool:
        return False  # autovacuum makes deleted rows' space reusable; VACUUM FULL locks tables


class Store:
    """Reviews, jobs and what the list watcher has seen, in SQLite or PostgreSQL: the same
    statements on either (a backend only says how to connect, how parameters are written and
    how a transaction starts)."""

    def __init__(self, location: str | Path, analyser: str | None = None):
        text = str(location)
        self.backend = (PostgreSQL(text) if text.startswith(("postgresql://", "postgres://"))
                        else SQLite(Path(location)))
        self.analyser = analyser or analyser_version()
        self._local = threading.local()  # one connection per thread, as both drivers want
        with self._transaction():
            if self.backend.schema_lock:
                self._execute(self.backend.schema_lock)
            for statement in SCHEMA.format(serial=self.backend.serial).split(";"):
                if statement.strip():
                    self._execute(statement)
            for table, column, kind in ADDED_COLUMNS:
                have = [c[0] for c in self._execute(f"SELECT * FROM {table} LIMIT 0").description]
                if column not in have:
                    self._execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def _db(self):
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self.backend.connect()
        return db

    def _execute(self, statement: str, parameters=()):
        return self._db().execute(self.backend.sql(statement), parameters)

    def _transaction(self):
        return self.backend.transaction(self._db())

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def find(self, msgid: str, revision: int = NEWEST) -> Job | None:
        """The job of `msgid` (any message-id of a reviewed series finds it) at `revision`."""
        row = self._execute(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = COALESCE("
            "(SELECT job FROM aliases WHERE msgid = ? AND revision = ? AND analyser = ?),"
            "(SELECT id FROM jobs WHERE msgid = ? AND revision = ? AND analyser = ?))",
            (msgid, revision, self.analyser, msgid, revision, self.analyser)).fetchone()
        return _job(row)

    def get(self, job_id: int) -> Job | None:
        return _job(self._execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?",
                                  (job_id,)).fetchone())

    def queue(self, msgid: str, revision: int = NEWEST) -> Job:
        """A queued job for `msgid`: a new row, or the old row of this key started afresh."""
        with self._transaction():
            job_id = self._queue(msgid, revision)
        return self.get(job_id)

    def _queue(self, msgid: str, revision: int) -> int:
        now = time.time()
        job_id = self._execute(
            "INSERT INTO jobs (msgid, revision, analyser, status, created, updated) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (msgid, revision, analyser) DO UPDATE SET "
            "status = excluded.status, step = '', done = 0, total = 0, error_kind = NULL, "
            "error_message = NULL, error_path = NULL, result = NULL, expired = NULL, "
            "updated = excluded.updated "
            "RETURNING id", (msgid, revision, self.analyser, QUEUED, now, now)).fetchone()[0]
        # an alias of an older review of the same id would hide the new job
        self._execute("DELETE FROM aliases WHERE msgid = ? AND revision = ? AND analyser = ?",
                      (msgid, revision, self.analyser))
        return job_id

    def claim(self, job_id: int) -> bool:
        """Take a job to run it: false if its review is stored already (a job run twice, by a
        retry or a worker that took over from a dead one, stores its review once)."""
        return self._execute(
            "UPDATE jobs SET status = ?, runs = runs + 1, started = ?, updated = ? "
            "WHERE id = ? AND status <> ?",
            (FETCHING, time.time(), time.time(), job_id, REVIEWED)).rowcount == 1

    def progress(self, job_id: int, status: str, step: str, done: int, total: int) -> None:
        self._execute("UPDATE jobs SET status = ?, step = ?, done = ?, total = ?, updated = ? "
                      "WHERE id = ?", (status, step, done, total, time.time(), job_id))

    def finish(self, job_id: int, review: Review) -> None:
        """Store the review of a job, and make every message-id of its series find it."""
        series = review.series
        ids = [series.cover_msgid, *(p.msgid for p in series.patches)]
        job = self.get(job_id)
        with self._transaction():
            self._execute(
                "UPDATE jobs SET status = ?, step = '', subject = ?, author = ?, date = ?, "
                "patches = ?, counts = ?, cover_msgid = ?, result = ?, updated = ? WHERE id = ?",
                (REVIEWED, series.subject, series.author, series.date, len(series.patches),
                 json.dumps(counts(review)), series.cover_msgid, record.dumps(review),
                 time.time(), job_id))
            for msgid in dict.fromkeys([job.msgid, *ids]):
                for revision in {job.revision, series.revision}:
                    if msgid:
                        self._execute(
                            "INSERT INTO aliases (msgid, revision, analyser, job) "
                            "VALUES (?, ?, ?, ?) ON CONFLICT (msgid, revision, analyser) "
                            "DO UPDATE SET job = excluded.job",
                            (msgid, revision, self.analyser, job_id))

    def fail(self, job_id: int, status: str, kind: str, message: str,
             path: str | None = None) -> None:
        self._execute("UPDATE jobs SET status = ?, error_kind = ?, error_message = ?, "
                      "error_path = ?, updated = ? WHERE id = ?",
                      (status, kind, message, path, time.time(), job_id))

    def review(self, job_id: int) -> Review | None:
        """The stored review of a reviewed job."""
        row = self._execute("SELECT result FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return record.loads(row[0]) if row and row[0] else None

    def recent(self, limit: int = 30) -> list[Job]:
        """The latest jobs of this analyser version, newest first."""
        rows = self._execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE analyser = ? "
                             "ORDER BY updated DESC LIMIT ?", (self.analyser, limit)).fetchall()
        return [_job(row) for row in rows]

    def left_running(self) -> list[Job]:
        """The jobs of this analyser still queued or running: at a server's start, the ones a
        server before it left behind (stopped, or killed mid-job)."""
        rows = self._execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE analyser = ? AND status IN "
                             f"({', '.join('?' * len(RUNNING))}) ORDER BY id",
                             (self.analyser, *RUNNING)).fetchall()
        return [_job(row) for row in rows]

    def stats(self) -> tuple[dict[str, int], dict[str, int], list[float]]:
        """Jobs of this analyser by status, failed ones by error kind, and how long each
        stored review took (from its last start): what /metrics shows, the same whichever
        process asks."""
        by_status = dict(self._execute("SELECT status, COUNT(*) FROM jobs WHERE analyser = ? "
                                       "GROUP BY status", (self.analyser,)).fetchall())
        by_kind = dict(self._execute("SELECT error_kind, COUNT(*) FROM jobs WHERE analyser = ? "
                                     "AND error_kind IS NOT NULL GROUP BY error_kind",
                                     (self.analyser,)).fetchall())
        seconds = [row[0] for row in self._execute(
            "SELECT updated - started FROM jobs WHERE analyser = ? AND status = ? "
            "AND started IS NOT NULL", (self.analyser, REVIEWED)).fetchall()]
        return by_status, by_kind, seconds

    def prune(self, keep: float, grace: float, window: float, now: float | None = None,
              batch: int = 500) -> Pruned:
        """Drop what is older than its use: the reviews of this analyser's jobs finished more
        than `keep` seconds ago (their rows stay, marked expired, for as long as this version
        runs: a few hundred bytes each), the rows of other analyser versions (which this one
        never reads) idle for `grace` seconds, and the watcher's messages and series not
        touched for `window` seconds (beyond what its grouping reads). A running job is never
        touched: its `updated` moves with each step, and another version's job idle for
        `grace` is no longer running anywhere. One transaction per batch of rows: a prune
        stopped midway has lost nothing else."""
        now = time.time() if now is None else now
        finished = ", ".join("?" * len(FINISHED))
        expired = self._in_batches(
            "UPDATE jobs SET result = NULL, expired = ? WHERE id IN (SELECT id FROM jobs "
            f"WHERE analyser = ? AND status IN ({finished}) AND expired IS NULL AND updated < ? "
            f"LIMIT ?) AND status IN ({finished}) AND updated < ?",  # again: a writer's change
            (now, self.analyser, *FINISHED, now - keep), (*FINISHED, now - keep), batch)
        series = self._in_batches(
            "DELETE FROM series WHERE root IN (SELECT root FROM series WHERE updated < ? "
            "LIMIT ?)", (now - window,), (), batch)
        messages = self._in_batches(
            "DELETE FROM messages WHERE msgid IN (SELECT msgid FROM messages WHERE seen < ? "
            "LIMIT ?)", (now - window,), (), batch)
        jobs = self._in_batches(
            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE analyser <> ? AND "
            "updated < ? AND id NOT IN (SELECT job FROM series WHERE job IS NOT NULL) LIMIT ?) "
            "AND updated < ?", (self.analyser, now - grace), (now - grace,), batch)
        vacuumed = bool(expired or series or messages or jobs) and self.backend.reclaim(self._db())
        return Pruned(expired, jobs, series, messages, vacuumed)

    def _in_batches(self, statement: str, parameters: tuple, after_limit: tuple,
                    batch: int) -> int:
        """Run an UPDATE or DELETE of at most `batch` rows (its LIMIT parameter comes between
        `parameters` and `after_limit`) until fewer are left: the rows it changed."""
        changed = 0
        while True:
            with self._transaction():
                count = self._execute(statement, (*parameters, batch, *after_limit)).rowcount
            changed += count
            if count < batch:
                return changed

    # The list watcher's state: where it is in each feed, the messages it saw, the series.

    def feed_position(self, name: str) -> str:
        row = self._execute("SELECT position FROM feeds WHERE list = ?", (name,)).fetchone()
        return row[0] if row else ""

    def feed_errors(self) -> int:
        return self._execute("SELECT COALESCE(SUM(errors), 0) FROM feeds").fetchone()[0]

    def count_feed_error(self, name: str) -> None:
        self._execute("INSERT INTO feeds (list, errors) VALUES (?, 1) ON CONFLICT (list) "
                      "DO UPDATE SET errors = feeds.errors + 1", (name,))

    def add_messages(self, name: str, messages: list, position: str) -> int:
        """Keep the messages a feed read brought (once each, whatever a feed repeats) and move
        the list's position past them, together: a watcher stopped between the two neither
        skips nor repeats. The number of messages new to the store."""
        now = time.time()
        added = 0
        with self._transaction():
            for msg in messages:
                added += self._execute(
                    "INSERT INTO messages (msgid, list, subject, author, date, in_reply_to, "
                    "change_id, seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (msgid) DO NOTHING",
                    (msg.msgid, name, msg.subject, msg.author, msg.date, msg.in_reply_to,
                     msg.change_id, now)).rowcount
            self._execute("INSERT INTO feeds (list, position) VALUES (?, ?) ON CONFLICT (list) "
                          "DO UPDATE SET position = excluded.position", (name, position))
        return added

    def messages(self, name: str, since: float) -> list[tuple]:
        """(msgid, subject, author, date, in_reply_to, change_id) of the messages of a list
        first seen after `since`, oldest first."""
        return self._execute(
            "SELECT msgid, subject, author, date, in_reply_to, change_id FROM messages "
            "WHERE list = ? AND seen >= ? ORDER BY date, msgid", (name, since)).fetchall()

    def series(self, name: str | None = None) -> dict[str, SeriesRow]:
        """The series revisions the watcher found (on one list), by root message-id."""
        where, parameters = ("WHERE list = ?", (name,)) if name else ("", ())
        rows = self._execute(f"SELECT {SERIES_COLUMNS} FROM series {where}",
                             parameters).fetchall()
        return {row[0]: SeriesRow(*row[:9], bool(row[9]), *row[10:]) for row in rows}

    def save_series(self, row: SeriesRow) -> None:
        """Keep what the watcher knows of a series revision (its job once it has one)."""
        self._execute(
            f"INSERT INTO series ({SERIES_COLUMNS}) VALUES ({', '.join('?' * 12)}) "
            "ON CONFLICT (root) DO UPDATE SET series_key = excluded.series_key, "
            "subject = excluded.subject, expected = excluded.expected, "
            "received = excluded.received, replies = excluded.replies, job = excluded.job, "
            "complete = excluded.complete, updated = excluded.updated",
            (row.root, row.list, row.series_key, row.revision, row.subject, row.expected,
             row.received, row.replies, row.job, int(row.complete), row.first_seen, row.updated))


def counts(review: Review) -> dict:
    """New findings by severity, and findings by status: what the feed shows of a review."""
    by_severity: dict[str, int] = {}
    by_status: dict[str, int] = {}
    for finding in review.findings:
        by_status[finding.status] = by_status.get(finding.status, 0) + 1
        if finding.status == "new":
            by_severity[finding.severity] = by_severity.get(finding.severity, 0) + 1
    return {"severity": by_severity, "status": by_status}


def _job(row) -> Job | None:
    if row is None:
        return None
    names = [name.strip() for name in JOB_COLUMNS.split(",")]
    data = dict(zip(names, row))
    data["counts"] = json.loads(data["counts"]) if data["counts"] else None
    return Job(**data)
