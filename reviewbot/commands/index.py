"""Index a source tree: the facts of every .c and .h file, then tracked fields and guards.

    reviewbot index fs/fuse --jobs 2

Each file is parsed and its facts extracted in a pool of worker processes; the facts the
inference reads are stored in the user cache directory by the file's content, so a file that
has not changed is never parsed again. Then the tracked fields and the guard of each field are inferred from all
of them. Prints the number of files (found, taken from the cache, failed) and functions,
tracked fields, guards inferred, seconds. Indexing a tree again where no file has changed
reuses the last result.

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
from dataclasses import dataclass, replace

from reviewbot.c import cache, index_facts
from reviewbot.c.coverage import Coverage, file_coverage
from reviewbot.c.model import ASSERT, Call, FileFacts, FunctionFacts
from reviewbot.c.parse import digest_of
from reviewbot.errors import InputError
from reviewbot.files import check_file, read_file
from reviewbot.knowledge import Knowledge, KnowledgeBuilder, load_config
from reviewbot.knowledge.guards import INFERRED
from reviewbot.limits import Limits
from reviewbot.workspace import FileVersion

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="directories or .c/.h files to index")
    parser.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, metavar="N",
                        help="worker processes (default: one per CPU)")
    parser.add_argument("--stats", action="store_true",
                        help="print the parse coverage (functions and files without parse errors) "
                        "per directory instead of indexing")


def run(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        raise InputError("--jobs", f"must be at least 1, not {args.jobs}")
    if args.stats:
        return print_coverage(args.paths, args.jobs)
    started = time.perf_counter()
    tree = next((p for p in args.paths if os.path.isdir(p)), None)
    config = load_config(tree)
    paths = find_sources(args.paths, config.limits.file_bytes)
    namespace = facts_namespace(config)
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
    tree_namespace = f"index-{namespace}-{digest_of(repr(config).encode())[:12]}"
    counts = cache.get(tree_key, tree_namespace)
    failures: list[Failure] = []
    if counts is None:
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
        if not failures:
            cache.put(tree_key, tree_namespace, counts)
    else:
        counts = {**counts, "from cache": len(paths)}
    for failure in skipped:
        print(f"reviewbot: {failure.path}: skipped: {failure.error}", file=sys.stderr)
    for failure in failures:
        print(f"reviewbot: {failure.path}: not indexed: {failure.error}", file=sys.stderr)
    for label, value in [*counts.items(), ("seconds", f"{time.perf_counter() - started:.1f}")]:
        print(f"{label:<16} {value}")
    return 0


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
    from_cache: int  # files whose facts came from the cache
    failures: list[Failure]  # files whose analysis failed


def index_files(paths: list[str], digests: dict[str, str], config, jobs: int, progress=None) -> Indexed:
    """Index every file: one odd file whose analysis fails does not stop the index of a whole
    tree. Cached files are read here; the others go to `jobs` worker processes, largest first
    so that no big file is left for the end. Each file's facts go into the knowledge as they
    come and are dropped: a whole tree's would not fit in memory."""
    namespace = facts_namespace(config)
    builder = KnowledgeBuilder(config, paths)
    files = functions = 0
    failures = []

    def add(facts: FileFacts) -> None:
        nonlocal files, functions
        builder.add(facts)
        files += 1
        functions += len(facts.functions)
        if progress:
            progress.step()

    missing = []
    for path in paths:
        cached = cache.get(digests[path], namespace)
        if isinstance(cached, FileFacts):
            add(with_path(cached, path))
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
        _init_worker(config, namespace)
        collect(_worker_index_file(path) for path in missing)
    else:
        context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
        chunk = max(1, min(16, len(missing) // (jobs * 16)))
        with context.Pool(jobs, initializer=_init_worker, initargs=(config, namespace)) as pool:
            collect(pool.imap_unordered(_worker_index_file, missing, chunksize=chunk))
    failures.sort(key=lambda f: f.path)
    return Indexed(builder.build(), files, functions, from_cache, failures)


def index_file(path: str, config=None, namespace: str | None = None) -> FileFacts:
    """The facts of one file, from the cache when its content was analysed before."""
    namespace = namespace or facts_namespace(config)
    data = _read(path, config)
    cached = cache.get(digest_of(data), namespace)
    if isinstance(cached, FileFacts):
        return with_path(cached, path)
    return pickle.loads(_analysed(path, data, config, namespace))


def _analysed(path: str, data: bytes, config, namespace: str) -> bytes:
    """The facts of a file not in the cache, stored there, and pickled: a worker sends the
    main process the bytes it stored, so the facts are pickled once, not once more for the
    pipe."""
    text = data.decode("utf-8", "replace")  # as the workspace decodes: the analysis reads text
    facts = cache.pickled(for_knowledge(analyze({path: FileVersion(path, text)}, config)[path]))
    cache.put_pickled(digest_of(data), namespace, facts)
    return facts


def for_knowledge(facts: FileFacts) -> FileFacts:
    """What the index keeps of a file's facts (in its cache, and from a worker to the main
    process): what the knowledge is built from (every access, the asserted and annotated locks,
    the functions called, the enums). The rest (conditions, exits, every call site) is most of
    the facts, and would only be stored, sent and read again for nothing: of the calls, the
    first of each name is kept, with its line only."""
    functions = []
    for fn in facts.functions:
        first_calls: dict[str, Call] = {}
        for call in fn.calls:
            if call.name not in first_calls:
                first_calls[call.name] = Call(call.name, call.line, frozenset())
        functions.append(FunctionFacts(
            name=fn.name, file=fn.file, start_line=fn.start_line, end_line=fn.end_line, static=fn.static,
            complete=fn.complete, accesses=fn.accesses, lock_ops=[op for op in fn.lock_ops if op.op == ASSERT],
            calls=list(first_calls.values()), annotations=fn.annotations))
    return FileFacts(path=facts.path, functions=functions, enums=facts.enums, has_errors=facts.has_errors)


def analyze(files: dict, config) -> dict:
    """path -> FileFacts of the files, as an index wants them (reviewbot.c.index_facts). No
    cache of its own: the index caches each file's facts itself, by content."""
    return index_facts(files, config)


def with_path(facts: FileFacts, path: str) -> FileFacts:
    """Cached facts are stored by content: the same content may be at another path."""
    if facts.path == path:
        return facts
    functions = [replace(fn, file=path) for fn in facts.functions]
    return replace(facts, path=path, functions=functions)


def facts_namespace(config) -> str:
    """The cache namespace of file facts: the config tables the facts depend on (lock APIs,
    reference pairs, type hints); the cache adds the analyser's code version."""
    tables = repr((sorted(config.lock_apis.items()), sorted(config.reference_pairs.items()),
                   sorted(config.type_hints.items()))) if config is not None else ""
    return f"filefacts-{digest_of(tables.encode())[:12]}"


def _read(path: str, config) -> bytes:
    return read_file(path, (config.limits if config is not None else Limits()).file_bytes, "file_bytes")


_worker_config = None
_worker_namespace = None


def _init_worker(config, namespace: str) -> None:
    global _worker_config, _worker_namespace
    _worker_config, _worker_namespace = config, namespace
    _worker_signals()
    gc.enable()  # a forked worker inherits the parent's disabled collector
    gc.set_threshold(50_000, 20, 20)  # an analysis allocates many small objects, few cycles


def _worker_signals() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the pool stops its workers with SIGTERM
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent acts


def _worker_index_file(path: str) -> bytes | Failure:
    """The facts of a file the main process did not find in the cache, pickled (see
    _analysed), or what went wrong."""
    try:
        data = _read(path, _worker_config)
        return _analysed(path, data, _worker_config, _worker_namespace)
    except Exception as err:  # reported with the file's name; the other files go on
        return Failure(path, f"{type(err).__name__}: {err}")


class Progress:
    """A one-line progress bar on stderr (only used when stderr is a terminal)."""

    WIDTH = 30

    def __init__(self, total: int):
        self.total, self.count, self.shown = total, 0, 0.0

    def step(self) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.shown >= 0.1 or self.count == self.total:
            self.shown = now
            filled = self.WIDTH * self.count // max(self.total, 1)
            sys.stderr.write(f"\rindexing [{'#' * filled}{'.' * (self.WIDTH - filled)}] "
                             f"{self.count}/{self.total} files")
            sys.stderr.flush()

    def done(self) -> None:
        sys.stderr.write("\r" + " " * (self.WIDTH + 40) + "\r")
        sys.stderr.flush()
