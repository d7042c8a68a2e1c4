"""The store of reviews and their jobs: SQLite (stdlib) in the data directory.

One row per (message-id asked for, revision, analyser version): the job's status and progress
while it runs, then the stored review, or the error that stopped it. When a review is done,
every message-id of its series (the cover's, each patch's) and its actual revision become
aliases of the row, so that any of them finds it. A new analyser version finds nothing and
reviews again.

`Store` is the whole interface the web and the job runner use: another backend (PostgreSQL)
implements the same methods.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import reviewbot
from reviewbot.review import Review
from reviewbot_web import record

QUEUED, FETCHING, REVIEWING = "queued", "fetching", "reviewing"
REVIEWED, FAILED_TO_APPLY, FAILED = "reviewed", "failed to apply", "failed"
RUNNING = (QUEUED, FETCHING, REVIEWING)
NEWEST = 0  # the revision key of "the newest revision", what a request without -v N asks for


def analyser_version() -> str:
    """reviewbot's version and a digest of its code: a changed analyser re-reviews, even in a
    checkout whose version number did not move."""
    digest = hashlib.sha1()
    root = Path(reviewbot.__file__).parent
    for path in sorted([*root.rglob("*.py"), *root.rglob("*.toml")]):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return f"{reviewbot.__version__}+{digest.hexdigest()[:12]}"


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
    created: float = 0.0
    updated: float = 0.0

    @property
    def running(self) -> bool:
        return self.status in RUNNING

    @property
    def failed(self) -> bool:
        return self.status in (FAILED, FAILED_TO_APPLY)


SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
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
    created REAL NOT NULL,
    updated REAL NOT NULL,
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
"""
JOB_COLUMNS = ("id, msgid, revision, status, step, done, total, error_kind, error_message, "
               "error_path, subject, author, date, patches, counts, cover_msgid, created, updated")


class Store:
    """Reviews and jobs in one SQLite file (WAL mode: pages read while workers write)."""

    def __init__(self, path: Path, analyser: str | None = None):
        self.path = Path(path)
        self.analyser = analyser or analyser_version()
        self._local = threading.local()  # one connection per thread, as sqlite3 wants
        with self._db() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
        return db

    def find(self, msgid: str, revision: int = NEWEST) -> Job | None:
        """The job of `msgid` (any message-id of a reviewed series finds it) at `revision`."""
        row = self._db().execute(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = COALESCE("
            "(SELECT job FROM aliases WHERE msgid = ? AND revision = ? AND analyser = ?),"
            "(SELECT id FROM jobs WHERE msgid = ? AND revision = ? AND analyser = ?))",
            (msgid, revision, self.analyser, msgid, revision, self.analyser)).fetchone()
        return _job(row)

    def get(self, job_id: int) -> Job | None:
        row = self._db().execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?",
                                 (job_id,)).fetchone()
        return _job(row)

    def queue(self, msgid: str, revision: int = NEWEST) -> Job:
        """A queued job for `msgid`: a new row, or the old row of this key started afresh."""
        now = time.time()
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT INTO jobs (msgid, revision, analyser, status, created, updated) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (msgid, revision, analyser) DO UPDATE SET "
                "status = excluded.status, step = '', done = 0, total = 0, error_kind = NULL, "
                "error_message = NULL, error_path = NULL, result = NULL, updated = excluded.updated",
                (msgid, revision, self.analyser, QUEUED, now, now))
            job_id = db.execute("SELECT id FROM jobs WHERE msgid = ? AND revision = ? AND "
                                "analyser = ?", (msgid, revision, self.analyser)).fetchone()[0]
            # an alias of an older review of the same id would hide the new job
            db.execute("DELETE FROM aliases WHERE msgid = ? AND revision = ? AND analyser = ?",
                       (msgid, revision, self.analyser))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return self.get(job_id)

    def progress(self, job_id: int, status: str, step: str, done: int, total: int) -> None:
        self._db().execute("UPDATE jobs SET status = ?, step = ?, done = ?, total = ?, updated = ? "
                           "WHERE id = ?", (status, step, done, total, time.time(), job_id))

    def finish(self, job_id: int, review: Review) -> None:
        """Store the review of a job, and make every message-id of its series find it."""
        series = review.series
        ids = [series.cover_msgid, *(p.msgid for p in series.patches)]
        job = self.get(job_id)
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "UPDATE jobs SET status = ?, step = '', subject = ?, author = ?, date = ?, "
                "patches = ?, counts = ?, cover_msgid = ?, result = ?, updated = ? WHERE id = ?",
                (REVIEWED, series.subject, series.author, series.date, len(series.patches),
                 json.dumps(counts(review)), series.cover_msgid, record.dumps(review), time.time(),
                 job_id))
            revisions = {job.revision, series.revision}
            db.executemany(
                "INSERT OR REPLACE INTO aliases (msgid, revision, analyser, job) VALUES (?, ?, ?, ?)",
                [(msgid, revision, self.analyser, job_id)
                 for msgid in dict.fromkeys([job.msgid, *ids]) if msgid
                 for revision in revisions])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def fail(self, job_id: int, status: str, kind: str, message: str,
             path: str | None = None) -> None:
        self._db().execute("UPDATE jobs SET status = ?, error_kind = ?, error_message = ?, "
                           "error_path = ?, updated = ? WHERE id = ?",
                           (status, kind, message, path, time.time(), job_id))

    def review(self, job_id: int) -> Review | None:
        """The stored review of a reviewed job."""
        row = self._db().execute("SELECT result FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return record.loads(row[0]) if row and row[0] else None

    def recent(self, limit: int = 30) -> list[Job]:
        """The latest jobs of this analyser version, newest first."""
        rows = self._db().execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE analyser = ? "
                                  "ORDER BY updated DESC LIMIT ?", (self.analyser, limit))
        return [_job(row) for row in rows]

    def interrupt_running(self, message: str) -> int:
        """Mark the jobs that were running when the server stopped as failed: nobody runs them
        any more. The next request for one starts it again."""
        return self._db().execute(
            "UPDATE jobs SET status = ?, error_kind = 'cancelled', error_message = ?, updated = ? "
            f"WHERE status IN ({', '.join('?' * len(RUNNING))})",
            (FAILED, message, time.time(), *RUNNING)).rowcount


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
