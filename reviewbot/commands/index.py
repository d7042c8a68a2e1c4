"""Index a source tree: the facts of every .c and .h file, then tracked fields and guards.

    reviewbot index fs/fuse --jobs 2

Each file is parsed and its facts extracted in a pool of worker processes, which turn them into
what the file adds to the knowledge (the accesses and lock sets that are a guard's sites, the
counters, bits and states it moves, the functions it defines and calls); that part is stored in
the user cache directory by the file's path and content, so a file that has not changed is
never parsed again. Then the tracked fields and the guard of each field are inferred from all
of them. Prints the number of files (found, taken from the cache, failed) and functions,
tracked fields, guards inferred, seconds. Indexing a tree again where no file has changed
reuses the last result.

    reviewbot index fs/fuse --show

prints after the counts what the index learnt: every field it tracks (a counter, a state, a
bit) or knows the guard of, with the kind, the lock and the evidence (how many of the
field's sites hold the lock, or the profile or config entry that says so).

    reviewbot index fs/ --for-reviews [--base REV] [--cache DIR]

also analyses each directory under the paths at HEAD (or REV) of their git tree as the first
review of a series there does (reviewbot.review.prepare_directory), in the worker processes: a
review of a series confined to one of those directories, on that commit, then finds its base
analysed and only analyses what its patches change.

    reviewbot index --stats linux/fs linux/net

prints instead how much of the tree parses cleanly: the share of functions, and of files,
with no ERROR or MISSING node in their parse, per directory under each PATH and overall.

Each file is analysed on its own: types and helpers from other files (a header's struct, a
`get_*()` helper defined elsewhere) are not known to it.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import pickle
import signal
import sys
import time
from dataclasses import dataclass

from reviewbot.c import cache, index_facts
from reviewbot.c.cache import use_cache_directory
from reviewbot.c.coverage import Coverage, file_coverage
from reviewbot.c.parse import digest_of
from reviewbot.errors import InputError, ReviewbotError
from reviewbot.files import check_file, read_file
from reviewbot.knowledge import Knowledge, KnowledgeBuilder, KnowledgePart, load_config
from reviewbot.knowledge.config import source_label
from reviewbot.knowledge.guards import ASSERTED, INFERRED
from reviewbot.knowledge.tracked import AUTO_SOURCE
from reviewbot.limits import Limits
from reviewbot.review import prepare_directory
from reviewbot.workspace import FileVersion, Git

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="directories or .c/.h files to index")
    parser.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, metavar="N",
                        help="worker processes (default: one per CPU)")
    parser.add_argument("--stats", action="store_true",
                        help="print the parse coverage (functions and files without parse errors) "
                        "per directory instead of indexing")
    parser.add_argument("--show", action="store_true",
                        help="also print what the index learnt: every tracked or guarded field, its kind, "
                        "its guard and the evidence")
    parser.add_argument("--for-reviews", action="store_true",
                        help="also analyse each directory at the git tree's HEAD (or --base) as the first "
                        "review of a series there does, so that such a review finds it done (slower: "
                        "each directory is analysed whole)")
    parser.add_argument("--base", metavar="REV",
                        help="with --for-reviews: the commit the reviews start from (default HEAD)")
    parser.add_argument("--cache", metavar="DIR",
                        help="the cache directory, e.g. the one the review workers share; reviewbot's "
                        "entries go in DIR/reviewbot (default: $XDG_CACHE_HOME)")


def run(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        raise InputError("--jobs", f"must be at least 1, not {args.jobs}")
    if args.base is not None and not args.for_reviews:
        raise InputError("--base", "only goes with --for-reviews")
    if args.stats and (args.for_reviews or args.show):
        raise InputError("--stats", "parses only: it does not go with --for-reviews or --show")
    if args.cache:
        use_cache_directory(args.cache)
    if args.stats:
        return print_coverage(args.paths, args.jobs)
    started = time.perf_counter()
    tree = next((p for p in args.paths if os.path.isdir(p)), None)
    config = load_config(tree)
    paths = find_sources(args.paths, config.limits.file_bytes)
    # checked before the index runs: a mistake here should not cost the whole index first
    reviews_at = review_base(paths, args.base) if args.for_reviews else None
    digests: dict[str, str] = {}
    skipped: list[Failure] = []  # odd files in a tree (FIFOs, devices, huge): noted, not indexed
    for path in paths:
        try:
            digests[path] = digest_of(_read(path, config))
        except InputError as err:
            skipped.append(Failure(path, err.problem))
    paths = list(digests)
    # an unchanged tree under an unchanged config and analyser: the counts of the last index
    tree_key = digest_of("".join(f"{path}\0{digest}\n" for path, digest in digests.items()).encode())
    tree_namespace = f"index-{digest_of(repr(config).encode())[:12]}"
    found = cache.get(tree_key, tree_namespace)
    failures: list[Failure] = []
    if found is None:
        progress = Progress(len(paths)) if sys.stderr.isatty() else None
        # what the inference gathers is many small objects kept to the end: collecting cycles
        # among them as they arrive costs more than the index itself
        gc.disable()
        try:
            indexed = index_files(paths, digests, config, args.jobs, progress)
            if progress:
                progress.done()
        finally:
            gc.freeze()  # what is alive now stays to the end: no collection need look at it
            gc.enable()
        failures = indexed.failures
        counts = {"files": indexed.files, "from cache": indexed.from_cache, "failed": len(failures),
                  "functions": indexed.functions,
                  "tracked fields": len(indexed.knowledge.tracked),
                  "guards inferred": sum(1 for g in indexed.knowledge.guards.values() if g.source == INFERRED)}
        rows = learnt(indexed.knowledge)
        if not failures:
            cache.put(tree_key, tree_namespace, (counts, rows))
    else:
        counts, rows = found
        counts = {**counts, "from cache": len(paths)}
    for failure in skipped:
        print(f"reviewbot: {failure.path}: skipped: {failure.error}", file=sys.stderr)
    for failure in failures:
        print(f"reviewbot: {failure.path}: not indexed: {failure.error}", file=sys.stderr)
    if reviews_at is not None:
        git, base, dirs = reviews_at
        progress = Progress(len(dirs), "preparing for reviews", "directories") if sys.stderr.isatty() else None
        prepared, failed = prepare_reviews(git.top, base, dirs, args.jobs, progress)
        if progress:
            progress.done()
        for failure in failed:
            print(f"reviewbot: {failure.path}: not prepared for reviews: {failure.error}", file=sys.stderr)
        counts = {**counts, "for reviews": f"{prepared} {'directory' if prepared == 1 else 'directories'} "
                                           f"at {base[:12]}"}
    for label, value in [*counts.items(), ("seconds", f"{time.perf_counter() - started:.1f}")]:
        print(f"{label:<16} {value}")
    if args.show:
        print()
        print_table([("field", "kind", "guard", "evidence"), *rows])
    return 0


def learnt(knowledge: Knowledge) -> list[tuple[str, str, str, str]]:
    """(field, kind, guard, evidence) of every field the knowledge tracks or knows a guard of,
    by name; "-" where it has no kind or no guard."""
    rows = []
    for key in sorted(knowledge.tracked.keys() | knowledge.guards.keys()):
        tracked, guard = knowledge.tracked.get(key), knowledge.guards.get(key)
        evidence = []
        if tracked is not None and tracked.source != AUTO_SOURCE:
            evidence.append(f"{tracked.kind} by {source_label(tracked.source)}")
        if guard is not None:
            said = GUARD_SOURCES.get(guard.source) or f"guard by {source_label(guard.source)}"
            if guard.total_sites:
                said += (f": held at {guard.held_sites} of {guard.total_sites} "
                         f"site{'s' if guard.total_sites != 1 else ''}")
            evidence.append(said)
        rows.append((key, tracked.kind if tracked is not None else "-", guard.lock if guard is not None else "-",
                     "; ".join(evidence)))
    return rows


GUARD_SOURCES = {INFERRED: "inferred", ASSERTED: "asserted held"}


def print_table(rows: list[tuple]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join([*(f"{cell:<{width}}" for cell, width in zip(row, widths)), row[-1]]).rstrip())


def print_coverage(inputs: list[str], jobs: int) -> int:
    """`--stats`: the parse coverage of every directory right under each input (files right in
    an input count for the input itself), then of all files."""
    paths = find_sources(inputs)
    groups: dict[str, Coverage] = {}
    total = Coverage()
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    with context.Pool(jobs, initializer=_worker_signals) as pool:
        for path, found in zip(paths, pool.imap(_file_coverage, paths, chunksize=8)):
            if isinstance(found, str):  # an odd file: noted, and the others go on
                print(f"reviewbot: {path}: skipped: {found}", file=sys.stderr)
                continue
            groups.setdefault(_top_directory(path, inputs), Coverage()).add(found)
            total.add(found)
    width = max(len(name) for name in [*groups, "total"])
    for name, found in [*sorted(groups.items()), ("total", total)]:
        print(f"{name:<{width}}  functions {found.clean_functions:>7}/{found.functions:<7} "
              f"{100 * found.clean_functions / max(found.functions, 1):6.2f}%   "
              f"files {found.clean_files:>6}/{found.files:<6} {100 * found.clean_files / max(found.files, 1):6.2f}%")
    return 0


def _top_directory(path: str, inputs: list[str]) -> str:
    """The directory right under the input `path` was found in (the input for a file right in
    it, the file's own directory for a file given by name)."""
    for given in inputs:
        parts = os.path.relpath(path, given).split(os.sep)
        if os.path.isdir(given) and parts[0] != os.pardir:
            return os.path.normpath(os.path.join(given, *parts[:-1][:1]))
    return os.path.dirname(path) or "."


def _file_coverage(path: str) -> Coverage | str:
    try:
        return file_coverage(_read(path, None))
    except InputError as err:  # a FIFO, a device, a huge file, ...
        return err.problem


def find_sources(inputs: list[str], max_bytes: int = Limits().file_bytes) -> list[str]:
    """Every .c and .h file under the inputs, in a stable order, each once. A file named as an
    input must be a regular file of at most `max_bytes`; one found in a directory is checked
    when it is read (and skipped there)."""
    found: dict[str, None] = {}
    for given in inputs:
        if os.path.isdir(given):
            before = len(found)
            for directory, subdirs, names in os.walk(given):
                subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
                for name in sorted(names):
                    if name.endswith((".c", ".h")):
                        found.setdefault(os.path.join(directory, name))
            if len(found) == before:
                raise InputError(given, "no .c or .h files in this directory")
        else:
            check_file(given, max_bytes, "file_bytes")
            if not given.endswith((".c", ".h")):
                raise InputError(given, "not a .c or .h file")
            found.setdefault(given)
    return list(found)


def review_base(paths: list[str], base: str | None) -> tuple[Git, str, list[str]]:
    """The git tree the files are in, the commit reviews start from, and the directories of
    the files as paths from the tree's top (what --for-reviews prepares), the directories with
    most files first. The directories are those of the files found in the working tree: one
    only at the commit is not prepared, one with no C file at the commit holds nothing to do."""
    # git names its top with the links resolved: so are the directories, to be paths under it
    directories = [os.path.realpath(os.path.dirname(os.path.abspath(path))) for path in paths]
    try:
        git = Git(directories[0])
    except InputError as err:
        raise InputError(err.source, f"{err.problem} (--for-reviews reads the tree through git)") from None
    commit = git.commit(base or "HEAD")
    if commit is None:
        raise InputError(base or "HEAD", f"no such commit in {git.top}")
    files_in: dict[str, int] = {}
    for path, directory in zip(paths, directories):
        relative = os.path.relpath(directory, git.top)
        if relative == ".." or relative.startswith("../"):
            raise InputError(path, f"not in the git tree {git.top} (reviews read one tree)")
        files_in[relative] = files_in.get(relative, 0) + 1
    return git, commit, sorted(files_in, key=lambda d: (-files_in[d], d))


def prepare_reviews(top: str, base: str, dirs: list[str], jobs: int,
                    progress=None) -> tuple[int, list[Failure]]:
    """Analyse each directory as a first review there does (reviewbot.review.prepare_directory),
    in `jobs` worker processes: the number of directories with C files done, and the failures."""
    tasks = [(top, base, directory) for directory in dirs]
    results = []

    def collect(done) -> None:
        for result in done:
            results.append(result)
            if progress:
                progress.step()

    if jobs == 1 or len(tasks) < 2:
        collect(map(_prepare_directory, tasks))
    else:
        context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
        with context.Pool(min(jobs, len(tasks)), initializer=_worker_signals) as pool:
            collect(pool.imap_unordered(_prepare_directory, tasks))
    failures = sorted((r for r in results if isinstance(r, Failure)), key=lambda f: f.path)
    return sum(1 for r in results if isinstance(r, int) and r > 0), failures


def _prepare_directory(task: tuple[str, str, str]) -> int | Failure:
    """The number of C files of the directory prepared, or what went wrong."""
    top, base, directory = task
    try:
        return prepare_directory(top, base, directory)
    except ReviewbotError as err:
        return Failure(directory, err.problem)
    except Exception as err:  # reported with the directory's name; the others go on
        return Failure(directory, f"{type(err).__name__}: {err}")


@dataclass
class Failure:
    path: str
    error: str


@dataclass
class Indexed:
    """What indexing the files gave: the knowledge built from their facts, and counts."""

    knowledge: Knowledge
    files: int  # files indexed
    functions: int  # functions they define
    from_cache: int  # files whose knowledge part came from the cache
    failures: list[Failure]  # files whose analysis failed


def index_files(paths: list[str], digests: dict[str, str], config, jobs: int, progress=None) -> Indexed:
    """Index every file: one odd file whose analysis fails does not stop the index of a whole
    tree. Cached files are read here; the others go to `jobs` worker processes, largest first
    so that no big file is left for the end. A worker analyses a file and sends what it adds
    to the knowledge (a KnowledgePart, cached too), merged here as it comes: the facts
    themselves never leave the worker (a whole tree's would not fit in memory). The files are
    analysed under the config with the profiles their paths enable, as a review would."""
    builder = KnowledgeBuilder(config, paths)
    namespace = parts_namespace(builder)
    files = functions = 0
    failures = []

    def add(part: KnowledgePart) -> None:
        nonlocal files, functions
        builder.merge(part)
        files += 1
        functions += part.functions
        if progress:
            progress.step()

    missing = []
    for path in paths:
        cached = cache.get(part_key(path, digests[path]), namespace)
        if isinstance(cached, KnowledgePart):
            add(cached)
        else:
            missing.append((os.path.getsize(path), path))
    from_cache = files
    missing = [path for _, path in sorted(missing, reverse=True)]

    def collect(results) -> None:
        for result in results:
            if isinstance(result, Failure):
                failures.append(result)
                if progress:
                    progress.step()
            else:
                add(pickle.loads(result))

    if jobs == 1 or len(missing) < 2:
        _init_worker(builder, namespace)
        collect(_worker_index_file(path) for path in missing)
    else:
        context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
        chunk = max(1, min(16, len(missing) // (jobs * 16)))
        with context.Pool(jobs, initializer=_init_worker, initargs=(builder, namespace)) as pool:
            collect(pool.imap_unordered(_worker_index_file, missing, chunksize=chunk))
    failures.sort(key=lambda f: f.path)
    return Indexed(builder.build(), files, functions, from_cache, failures)


def index_file(path: str, builder: KnowledgeBuilder) -> KnowledgePart:
    """What one file adds to `builder`'s knowledge, from the cache when the file was indexed
    before with the same content at the same path (a part names its file)."""
    namespace = parts_namespace(builder)
    data = _read(path, builder.config)
    cached = cache.get(part_key(path, digest_of(data)), namespace)
    if isinstance(cached, KnowledgePart):
        return cached
    return pickle.loads(_analysed(path, data, builder, namespace))


def _analysed(path: str, data: bytes, builder: KnowledgeBuilder, namespace: str) -> bytes:
    """The knowledge part of a file not in the cache, stored there, and pickled: a worker
    sends the main process the bytes it stored, so the part is pickled once, not once more
    for the pipe."""
    text = data.decode("utf-8", "replace")  # as the workspace decodes: the analysis reads text
    facts = analyze({path: FileVersion(path, text)}, builder.config)[path]
    part = cache.pickled(builder.part(facts))
    cache.put_pickled(part_key(path, digest_of(data)), namespace, part)
    return part


def analyze(files: dict, config) -> dict:
    """path -> FileFacts of the files, as an index wants them (reviewbot.c.index_facts). No
    cache of its own: the index caches each file's knowledge part itself."""
    return index_facts(files, config)


def part_key(path: str, digest: str) -> str:
    """The cache key of a file's part: its content and its path, which the part names."""
    return digest_of(f"{path}\0{digest}".encode())


def parts_namespace(builder: KnowledgeBuilder) -> str:
    """The cache namespace of knowledge parts: the config tables the facts depend on (lock
    APIs, reference pairs, type hints) and the names of exclusive contexts (whose accesses
    are no guard's sites); the cache adds the analyser's code version."""
    config = builder.config
    tables = repr((sorted(config.lock_apis.items()), sorted(config.reference_pairs.items()),
                   sorted(config.type_hints.items()), builder.exclusive.patterns))
    return f"knowledge-part-{digest_of(tables.encode())[:12]}"


def _read(path: str, config) -> bytes:
    return read_file(path, (config.limits if config is not None else Limits()).file_bytes, "file_bytes")


_worker_builder = None
_worker_namespace = None


def _init_worker(builder: KnowledgeBuilder, namespace: str) -> None:
    global _worker_builder, _worker_namespace
    _worker_builder, _worker_namespace = builder, namespace
    _worker_signals()
    gc.enable()  # a forked worker inherits the parent's disabled collector
    gc.set_threshold(50_000, 20, 20)  # an analysis allocates many small objects, few cycles


def _worker_signals() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the pool stops its workers with SIGTERM
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent acts


def _worker_index_file(path: str) -> bytes | Failure:
    """The knowledge part of a file the main process did not find in the cache, pickled (see
    _analysed), or what went wrong."""
    try:
        data = _read(path, _worker_builder.config)
        return _analysed(path, data, _worker_builder, _worker_namespace)
    except Exception as err:  # reported with the file's name; the other files go on
        return Failure(path, f"{type(err).__name__}: {err}")


class Progress:
    """A one-line progress bar on stderr (only used when stderr is a terminal)."""

    WIDTH = 30

    def __init__(self, total: int, doing: str = "indexing", items: str = "files"):
        self.total, self.count, self.shown = total, 0, 0.0
        self.doing, self.items = doing, items

    def step(self) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.shown >= 0.1 or self.count == self.total:
            self.shown = now
            filled = self.WIDTH * self.count // max(self.total, 1)
            sys.stderr.write(f"\r{self.doing} [{'#' * filled}{'.' * (self.WIDTH - filled)}] "
                             f"{self.count}/{self.total} {self.items}")
            sys.stderr.flush()

    def done(self) -> None:
        sys.stderr.write("\r" + " " * (self.WIDTH + 60) + "\r")
        sys.stderr.flush()
