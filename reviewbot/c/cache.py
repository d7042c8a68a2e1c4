"""On-disk cache of analysis results (a file's facts, a version's program and knowledge, a
review), keyed by a digest of what they are made of.

Entries live in the user cache directory ($XDG_CACHE_HOME/reviewbot, else ~/.cache/reviewbot)
under a namespace (the kind of result, e.g. "facts") and the code version: a digest of every
module of the reviewbot package, so that a changed analyser never reads what an older one
stored, whichever module changed. Values are
pickled. Writes are atomic (temporary file + rename): a reader sees a whole entry or none. An entry
that cannot be read is treated as missing; the next put rewrites it.

The cache is bounded: `[limits] cache_bytes` of the user config, or $REVIEWBOT_CACHE_BYTES
(2 GiB by default), counted as the disk blocks its files take. Each put appends its blocks to
a ledger shared by every process (a file whose length is the count), and the put that brings
it past an eighth of the bound checks the whole cache: above 7/8 of the bound, entries are
removed until it holds 3/4, first those of other code versions (never read by this analyser),
then the least recently used. An entry's mtime is its last use: a put sets it, a read moves it
to now when it is more than an hour old. So a put costs one small append, not a walk of the
cache, a read one fstat, and the cache stays within its bound (but for one entry bigger than an
eighth of it). An entry removed under a reader is a miss, or still read whole from the file the
reader has open.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import os
import pickle
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from reviewbot.errors import InputError

BOUND_ENV = "REVIEWBOT_CACHE_BYTES"
BLOCK = 4096  # the ledger counts a put in blocks: a file takes whole blocks of the disk
LEDGER = ".written"  # in the cache root: one byte per block written since the last check
REFRESH_SECONDS = 3600  # a read marks an entry used when its mark is older than this
STALE_SECONDS = 3600  # a temporary file this old was left by a process that died mid-put
TEMPORARY = ".tmp-"


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "reviewbot"


def use_cache_directory(path: str) -> None:
    """Keep the cache under `path` from now on, for this process and the ones it starts (as
    $XDG_CACHE_HOME, which every cache use reads): a `--cache DIR` option."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise InputError(path, f"cannot keep a cache here: {err.strerror or err}") from None
    os.environ["XDG_CACHE_HOME"] = os.path.abspath(path)


@functools.cache
def code_version() -> str:
    """The digest of this installation's reviewbot package, read once per process."""
    return source_digest(Path(__file__).resolve().parent.parent)


def source_digest(package: Path) -> str:
    """A digest of every module and data file (.py, .toml) of the package at `package`. The
    whole package, not a list of the modules thought to matter: a list someone must keep up to
    date is stale the day a new module starts to decide results, and a cache that serves what
    older code computed is wrong silently. What it costs is a cold cache after an upgrade that
    changed only a front-end."""
    digest = hashlib.sha1()
    for module in sorted([*package.rglob("*.py"), *package.rglob("*.toml")]):
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
            _mark_used(f.fileno())
    except OSError:
        return None
    with no_cycle_collection():
        try:
            return pickle.loads(data)
        except Exception:  # a truncated or foreign file: a miss, rewritten by the next put
            return None


def _mark_used(fd: int) -> None:
    """Move the entry's mtime (its last use, for eviction) to now, at most once an hour: one
    fstat per read, and a write to the disk's metadata once an hour at most."""
    with contextlib.suppress(OSError):  # a read-only cache: the entry just ages
        if time.time() - os.fstat(fd).st_mtime > REFRESH_SECONDS:
            os.utime(fd)


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
    try:
        data = pickled(value)
    except RecursionError:
        return
    put_pickled(digest, namespace, data)


def pickled(value) -> bytes:
    """`value` as `put` stores it (and `get` reads it back)."""
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def put_pickled(digest: str, namespace: str, data: bytes) -> None:
    """Store a value already pickled by `pickled`: for a caller that sends the same bytes
    elsewhere too (an index worker, to the process that gathers the facts)."""
    path = entry_path(digest, namespace)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMPORARY)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        _remove(tmp)
        return
    except BaseException:
        _remove(tmp)
        raise
    _count_written(len(data))


def _remove(path) -> None:
    with contextlib.suppress(OSError):  # removed already (by another process's eviction)
        os.unlink(path)


def _count_written(size: int) -> None:
    """Add a put to the ledger; the put that brings it past an eighth of the bound empties it
    and checks the cache. Of processes passing the mark at once, the one that removes the
    ledger checks; the others' blocks are counted again from zero."""
    bound = max_bytes()
    ledger = cache_root() / LEDGER
    try:
        fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, b"." * -(-size // BLOCK))
            written = os.fstat(fd).st_size * BLOCK
        finally:
            os.close(fd)
        if written < bound // 8:
            return
        os.unlink(ledger)
    except OSError:  # a cache that cannot be written, or another process checks it now
        return
    evict(bound)


def max_bytes() -> int:
    """The cache's bound: $REVIEWBOT_CACHE_BYTES, else the user config's `[limits]
    cache_bytes` (docs/limits.md)."""
    given = os.environ.get(BOUND_ENV)
    if given:
        if not given.isdigit() or int(given) == 0:
            raise InputError(BOUND_ENV, f"must be a whole number of bytes above 0, not {given!r}")
        return int(given)
    from reviewbot.knowledge.config import user_config_path  # the analysis needs no config
    path = user_config_path()
    try:
        changed = path.stat().st_mtime_ns
    except OSError:  # no user config
        changed = None
    return _configured_bound(path, changed)


@functools.lru_cache(maxsize=4)
def _configured_bound(config_path: Path, changed: int | None) -> int:
    """The user config's bound, read again only when the file changes."""
    from reviewbot.knowledge.config import user_limits
    return user_limits(config_path).cache_bytes


@dataclass(frozen=True)
class Entry:
    """A file of the cache: an entry, or the temporary file of a put."""

    path: str
    size: int  # bytes it takes on the disk
    used: float  # its mtime: when it was last written, or read (see _mark_used)
    version: str  # the code version that wrote it

    @property
    def temporary(self) -> bool:
        return os.path.basename(self.path).startswith(TEMPORARY)


def entries() -> Iterator[Entry]:
    """Every file of the cache's namespaces (`NAMESPACE-VERSION/XX/DIGEST.pickle`); a file
    removed while they are listed is left out."""
    for area in _listing(cache_root()):
        version = _area_version(area.name)
        if version is None or not area.is_dir(follow_symlinks=False):
            continue
        for shard in _listing(area.path):
            for file in _listing(shard.path):
                try:
                    stat = file.stat(follow_symlinks=False)
                except OSError:
                    continue
                yield Entry(file.path, stat.st_blocks * 512, stat.st_mtime, version)


def _area_version(name: str) -> str | None:
    """The code version of a namespace directory `NAMESPACE-VERSION`, None for another name."""
    namespace, _, version = name.rpartition("-")
    is_version = len(version) == 12 and all(c in "0123456789abcdef" for c in version)
    return version if namespace and is_version else None


def _listing(path) -> list[os.DirEntry]:
    try:
        with os.scandir(path) as found:
            return list(found)
    except OSError:  # not a directory, or removed meanwhile
        return []


def evict(bound: int) -> None:
    """Above 7/8 of `bound`, remove entries until the cache holds 3/4 of it: first those of
    other code versions (this analyser never reads them), then the least recently used.
    Temporary files left by a process that died mid-put are removed whatever the size; those
    of puts under way are counted and left."""
    stale = time.time() - STALE_SECONDS
    kept = []
    for entry in entries():
        if entry.temporary and entry.used < stale:
            _remove(entry.path)
        else:
            kept.append(entry)
    total = sum(entry.size for entry in kept)
    if total <= bound - bound // 8:
        return
    current = code_version()
    victims = sorted((e for e in kept if not e.temporary), key=lambda e: (e.version == current, e.used))
    for entry in victims:
        if total <= bound // 4 * 3:
            break
        _remove(entry.path)
        total -= entry.size
    for area in _listing(cache_root()):  # what is left of other versions' directories
        if _area_version(area.name) not in (None, current):
            for shard in _listing(area.path):
                with contextlib.suppress(OSError):  # not empty
                    os.rmdir(shard.path)
            with contextlib.suppress(OSError):
                os.rmdir(area.path)


def clear() -> None:
    """Remove every entry, of every code version; a put under way at the time may be lost."""
    for area in _listing(cache_root()):
        if _area_version(area.name) is not None and area.is_dir(follow_symlinks=False):
            shutil.rmtree(area.path, ignore_errors=True)
    _remove(cache_root() / LEDGER)
