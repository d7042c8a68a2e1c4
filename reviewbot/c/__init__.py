"""C understanding: tree-sitter parsing of kernel C, and facts per function.

`analyze(files)` is the entry point: every file version parsed once, the types of all of them
collected, each function body walked once, then paths and summaries computed over the whole
set (a call into another scanned file uses that function's summary).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The analysis modules are imported inside the functions below: they import reviewbot.c.apis
# and reviewbot.c.model, which would otherwise import them back through this package.


@dataclass
class Program:
    files: dict = field(default_factory=dict)  # path -> FileFacts
    functions: dict = field(default_factory=dict)  # name (and "path:name" for static ones) -> FunctionFacts
    summaries: dict = field(default_factory=dict)  # the same keys -> Summary
    types: object = None  # the TypeContext the facts were resolved with
    key: str | None = None  # a digest of everything the program was made from (files, tables)


# Walking nests a Python call per level of C nesting (a long else-if chain, a long || chain):
# more than the interpreter's default allows on generated or table-like code.
RECURSION_LIMIT = 20000


def analyze(files: dict, config=None, use_cache: bool = True) -> Program:
    """Facts, paths and summaries of the C files `files` (path -> FileVersion). Files that do not
    exist at the version (text None) and non-C files are skipped. `config` (a
    reviewbot.knowledge.config.Config) extends the lock and reference tables and gives type
    hints; None means the built-in tables.

    Each file's type contributions and its walked functions are cached on disk: the types by
    the file's content, the walk by content, known ranges, the whole type context and the API
    tables (everything a walk reads), so an unchanged file in an unchanged context is neither
    parsed nor walked again. `use_cache=False` for a caller that caches the results itself."""
    import sys

    # Raised for good, never lowered again: a server's threads analyse at the same time, and
    # one thread putting the limit back would break another one's walk.
    if sys.getrecursionlimit() < RECURSION_LIMIT:
        sys.setrecursionlimit(RECURSION_LIMIT)
    return _analyze(files, config, use_cache)


def _analyze(files: dict, config, use_cache: bool) -> Program:
    from reviewbot.c import cache
    from reviewbot.c.facts import Tables, walk_file
    from reviewbot.c.summaries import summarize
    from reviewbot.c.types import collect_file, merge

    sources = {}
    for path, version in files.items():
        if version.text is None or not path.endswith((".c", ".h")):
            continue
        sources[path] = (_source_text(version), version.known)
    tables = Tables.from_config(config)
    hints = getattr(config, "type_hints", None)
    text_digests = {path: _digest(text) for path, (text, _) in sources.items()}
    # The whole result (summaries and lock sets depend on every file) is cached as well, by
    # everything it is made of: the files (in order: the first declaration of a name wins),
    # what is known of them, the tables and the type hints.
    program_key = _digest("\0".join(f"{path}\0{text_digests[path]}\0{_ranges(known)}"
                                     for path, (_, known) in sources.items())
                          + f"\0{tables.digest()}\0{sorted((hints or {}).items())!r}")
    found = cache.get(program_key, PROGRAM_NAMESPACE) if use_cache else None
    if found is not None:
        return Program(*found, key=program_key)
    parsed = {}
    contributions = []
    for path, (text, _) in sources.items():
        digest = text_digests[path]
        found = cache.get(digest, TYPES_NAMESPACE) if use_cache else None
        if found is None:
            parsed[path] = _parse(text)
            found = collect_file(parsed[path].tree.root_node)
            if use_cache:
                cache.put(digest, TYPES_NAMESPACE, found)
        contributions.append(found)
    types = merge(contributions, hints)
    context_digest = _digest(types.digest() + tables.digest())
    keys = {path: _digest(f"{text_digests[path]}\0{path}\0{_ranges(known)}\0{context_digest}")
            for path, (_, known) in sources.items()}
    program = Program(types=types, key=program_key)
    walked = []
    for path, (text, known) in sources.items():
        key = keys[path]
        found = cache.get(key, FACTS_NAMESPACE) if use_cache else None
        if found is None:
            parsed_file = parsed.get(path) or _parse(text)
            found = walk_file(parsed_file, path, types, tables, known)
            if use_cache:
                cache.put(key, FACTS_NAMESPACE, found)
        file_facts, functions = found
        program.files[path] = file_facts
        walked.extend(functions)
    program.summaries, _ = summarize(walked, tables)
    for fn in walked:
        program.functions.setdefault(fn.facts.name, fn.facts)
        if fn.facts.static:
            program.functions[f"{fn.facts.file}:{fn.facts.name}"] = fn.facts
    if use_cache:
        cache.put(program_key, PROGRAM_NAMESPACE,
                  (program.files, program.functions, program.summaries, program.types))
    return program


def analyze_text(path: str, text: str, config=None) -> Program:
    """`analyze` of one whole file given as text."""
    return analyze_text_files({path: text}, config)


def analyze_text_files(texts: dict, config=None) -> Program:
    """`analyze` of whole files given as texts (path -> text)."""
    from reviewbot.workspace import FileVersion

    return analyze({path: FileVersion(path=path, text=text) for path, text in texts.items()}, config)


# what each kind of cached result is stored under (reviewbot.c.cache adds the code version)
TYPES_NAMESPACE, FACTS_NAMESPACE, PROGRAM_NAMESPACE = "types", "facts", "program"


def _source_text(version) -> bytes:
    """The text to parse: the file, or for a hunk-only version its repaired fragments."""
    if version.known is None:
        text = version.text
    else:
        from reviewbot.c.fragments import repair

        text = repair(version)
    return text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")


def _ranges(known) -> str:
    return repr([(r.start, r.end) for r in known]) if known is not None else ""


def _digest(data) -> str:
    import hashlib

    return hashlib.sha1(data if isinstance(data, bytes) else data.encode()).hexdigest()


def _parse(text: bytes):
    from reviewbot.c.parse import parse_c

    return parse_c(text)
