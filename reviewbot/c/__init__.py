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
    parsed = {}
    contributions = []
    for path, (text, _) in sources.items():
        digest = _digest(text)
        found = cache.get(digest, TYPES_NAMESPACE) if use_cache else None
        if found is None:
            parsed[path] = _parse(text)
            found = collect_file(parsed[path].tree.root_node)
            if use_cache:
                cache.put(digest, TYPES_NAMESPACE, found)
        contributions.append(found)
    types = merge(contributions, getattr(config, "type_hints", None))
    tables = Tables.from_config(config)
    context_digest = _digest(types.digest() + tables.digest())
    keys = {}
    for path, (text, known) in sources.items():
        ranges = repr([(r.start, r.end) for r in known]) if known is not None else ""
        keys[path] = _digest(f"{_digest(text)}\0{path}\0{ranges}\0{context_digest}")
    # the whole result (summaries and lock sets depend on every file) is cached as well
    program_key = _digest("\0".join(f"{path}\0{key}" for path, key in sorted(keys.items())))
    found = cache.get(program_key, PROGRAM_NAMESPACE) if use_cache else None
    if found is not None:
        program = Program(*found, types=types)
        return program
    program = Program(types=types)
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
        cache.put(program_key, PROGRAM_NAMESPACE, (program.files, program.functions, program.summaries))
    return program


def analyze_text(path: str, text: str, config=None) -> Program:
    """`analyze` of one whole file given as text."""
    return analyze_text_files({path: text}, config)


def analyze_text_files(texts: dict, config=None) -> Program:
    """`analyze` of whole files given as texts (path -> text)."""
    from reviewbot.workspace import FileVersion

    return analyze({path: FileVersion(path=path, text=text) for path, text in texts.items()}, config)


def _code_digest() -> str:
    """Identifies the code that produces cached results, so that a changed analyser never
    reads what an older one stored."""
    import hashlib
    from pathlib import Path

    here = Path(__file__).parent
    digest = hashlib.sha1()
    for name in ("__init__.py", "apis.py", "facts.py", "fragments.py", "parse.py", "paths.py", "summaries.py",
                 "types.py", "model.py"):
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:12]


_CODE = _code_digest()
TYPES_NAMESPACE = f"types-{_CODE}"
FACTS_NAMESPACE = f"facts-{_CODE}"
PROGRAM_NAMESPACE = f"program-{_CODE}"


def _source_text(version) -> bytes:
    """The text to parse: the file, or for a hunk-only version its repaired fragments."""
    if version.known is None:
        text = version.text
    else:
        from reviewbot.c.fragments import repair

        text = repair(version)
    return text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")


def _digest(data) -> str:
    import hashlib

    return hashlib.sha1(data if isinstance(data, bytes) else data.encode()).hexdigest()


def _parse(text: bytes):
    from reviewbot.c.parse import parse_c

    return parse_c(text)
