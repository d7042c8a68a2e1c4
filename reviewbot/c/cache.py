"""On-disk cache of analysis results (a file's facts, a version's program and knowledge, a
review), keyed by a digest of what they are made of.

Entries live in the user cache directory ($XDG_CACHE_HOME/reviewbot, else ~/.cache/reviewbot)
under a namespace (the kind of result, e.g. "facts") and the code version: a digest of every
module of the analysis (reviewbot/c, knowledge, checks, review.py and findings.py), so that a
changed analyser never reads what an older one stored, whichever module changed. Values are
pickled. Writes are atomic (temporary file + rename): a reader sees a whole entry or none. An entry
that cannot be read is treated as missing; the next put rewrites it.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import os
import pickle
import tempfile
import threading
from pathlib import Path

# The code that decides an analysis result (what this cache holds): packages and modules of
# the reviewbot package.
ANALYSIS_CODE = ("c", "knowledge", "checks", "review.py", "findings.py")
# The code that decides the review of a message (what a review store holds): the analysis, and
# how mail becomes series and file versions.
REVIEW_CODE = (*ANALYSIS_CODE, "sources", "profiles", "series.py", "workspace.py", "diffs.py",
               "service.py")


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "reviewbot"


@functools.cache
def code_version(parts: tuple[str, ...] = ANALYSIS_CODE) -> str:
    """The digest of this installation's code in `parts`, read once per process."""
    return source_digest(Path(__file__).resolve().parent.parent, parts)


def source_digest(package: Path, parts: tuple[str, ...] = ANALYSIS_CODE) -> str:
    """A digest of `parts` (packages: their .py and .toml files; modules) of the reviewbot
    package at `package`."""
    digest = hashlib.sha1()
    for part in parts:
        path = package / part
        files = sorted([*path.glob("*.py"), *path.glob("*.toml")]) if path.is_dir() else [path]
        for module in files:
            digest.update(f"{module.relative_to(package)}\0".encode())
            digest.update(module.read_bytes())
    return digest.hexdigest()[:12]


def entry_path(digest: str, namespace: str) -> Path:
    return cache_root() / f"{namespace}-{code_version()}" / digest[:2] / f"{digest}.pickle"


def get(digest: str, namespace: str):
    """The value stored for `digest` in `namespace`, or None."""
    try:
        with open(entry_path(digest, namespace), "rb") as f:
            data = f.read()
    except OSError:
        return None
    with no_cycle_collection():
        try:
            return pickle.loads(data)
        except Exception:  # a truncated or foreign file: a miss, rewritten by the next put
            return None


class _CollectorPause:
    """How many blocks, in every thread, want the collector paused, and whether it was on."""

    lock = threading.Lock()
    blocks = 0
    was_enabled = False


@contextlib.contextmanager
def no_cycle_collection():
    """Facts are many small objects without cycles, made by the hundred thousand: collecting
    cycles while they are made (and while they live) looks at each of them again and again,
    and takes more time than the work itself. Reference counting still frees what is dropped;
    cycles made meanwhile wait for the next collection after the block.

    The collector is the process's: in a server, threads review side by side, so the first
    block to start pauses it and the last one to end turns it back on (when it was on)."""
    with _CollectorPause.lock:
        if _CollectorPause.blocks == 0:
            _CollectorPause.was_enabled = gc.isenabled()
            gc.disable()
        _CollectorPause.blocks += 1
    try:
        yield
    finally:
        with _CollectorPause.lock:
            _CollectorPause.blocks -= 1
            if _CollectorPause.blocks == 0 and _CollectorPause.was_enabled:
                gc.enable()


def put(digest: str, namespace: str, value) -> None:
    """Store `value`; a cache that cannot be written (read-only, disk full) is skipped, since
    the cache only saves time, and so is a value nested too deep to pickle (a function of
    thousands of nested blocks): it is analysed again next time instead."""
    path = entry_path(digest, namespace)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except (OSError, RecursionError):
        os.unlink(tmp)
    except BaseException:
        os.unlink(tmp)
        raise
