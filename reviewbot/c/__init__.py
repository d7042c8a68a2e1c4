"""C understanding: tree-sitter parsing of kernel C, and facts per function.

`analyze(files)` is the entry point: every file version parsed once, the types of all of them
collected, each function body walked once, then paths and summaries computed over the whole
set (a call into another scanned file uses that function's summary).
"""

from __future__ import annotations

import sys
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
    # what a later version of the same files reuses: path -> the key of the file's walk (its
    # text, path, known ranges and type context), and (path, index of the function in the
    # file) -> (first, last) summaries, as reviewbot.c.summaries.Settled keeps them
    file_keys: dict = field(default_factory=dict)
    settled: dict = field(default_factory=dict)


# Walking nests a Python call per level of C nesting (a long else-if chain, a long || chain):
# more than the interpreter's default allows on generated or table-like code.
RECURSION_LIMIT = 20000


def analyze(files: dict, config=None, use_cache: bool = True, previous: Program | None = None) -> Program:
    """Facts, paths and summaries of the C files `files` (path -> FileVersion). Files that do not
    exist at the version (text None) and non-C files are skipped. `config` (a
    reviewbot.knowledge.config.Config) extends the lock and reference tables and gives type
    hints; None means the built-in tables.

    Each file's type contributions and its walked functions are cached on disk: the types by
    the file's content, the walk by content, known ranges, the whole type context and the API
    tables (everything a walk reads), so an unchanged file in an unchanged context is neither
    parsed nor walked again. `use_cache=False` for a caller that caches the results itself.

    `previous`: the program of an earlier version of mostly the same files (the base of a
    series). A function of a file that has not changed since, and that calls nothing that has
    (nor is called by it, for a static one), is taken from it as it is: a review after a patch
    walks what the patch reaches, not the whole tree again."""
    # Raised for good, never lowered again: a server's threads analyse at the same time, and
    # one thread putting the limit back would break another one's walk.
    if sys.getrecursionlimit() < RECURSION_LIMIT:
        sys.setrecursionlimit(RECURSION_LIMIT)
    return _analyze(files, config, use_cache, previous)


def _analyze(files: dict, config, use_cache: bool, previous: Program | None) -> Program:
    from reviewbot.c import cache
    from reviewbot.c.walk import Tables, walk_file
    from reviewbot.c.summaries import Settled, summarize
    from reviewbot.c.types import collect_file, merge

    sources, text_digests, program_key = _inputs(files, config)
    tables = Tables.from_config(config)
    hints = getattr(config, "type_hints", None)
    found = _cached_program(program_key, previous) if use_cache else None
    if found is not None:
        return found
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
    program = Program(types=types, key=program_key, file_keys=keys)

    def walk(path: str):
        text, known = sources[path]
        found = cache.get(keys[path], FACTS_NAMESPACE) if use_cache else None
        if found is None:
            found = walk_file(parsed.get(path) or _parse(text), path, types, tables, known)
            if use_cache:
                cache.put(keys[path], FACTS_NAMESPACE, found)
        return found

    # each file is walked (or its walk read) once per summary round: a round completes the
    # facts it walks; the first round takes the walks made to compare
    fresh: dict = {}

    def walk_once(path: str):
        if path not in fresh:
            fresh[path] = walk(path)
        return fresh[path]

    # candidates[path][i]: the i-th function of the file as the previous version settled it,
    # when its walk is the same now; None: it must be walked (it is new or has changed)
    candidates = {path: _unchanged_functions(path, walk_once, keys[path], previous, use_cache)
                  for path in sources}
    unchanged = {path for path in sources if previous is not None and path in previous.files
                 and previous.file_keys.get(path) == keys[path]}
    to_walk = {(path, i) for path, found in candidates.items() for i, fn in enumerate(found) if fn is None}
    graph = None  # without a previous version everything is walked: who calls whom is moot
    if previous is not None:
        graph = _CallGraph({path: [fn or walk_once(path)[1][i] for i, fn in enumerate(found)]
                            for path, found in candidates.items()})
        # a name that comes or goes changes what its callers call
        before = {fn.name for facts in previous.files.values() for fn in facts.functions}
        to_walk |= graph.callers(before ^ graph.names())
    while True:
        to_walk = graph.closure(to_walk) if graph is not None else to_walk
        everything, walks = [], {}
        for path, found in candidates.items():
            if path not in unchanged or any((path, i) in to_walk for i in range(len(found))):
                file_facts, functions = fresh.pop(path) if path in fresh else walk(path)
                functions = [walked_fn if (path, i) in to_walk else found[i]
                             for i, walked_fn in enumerate(functions)]
                file_facts.functions = [fn.facts for fn in functions]
            else:
                file_facts, functions = previous.files[path], found
            walks[path] = file_facts, functions
            everything.extend(functions)
        summarized = summarize(everything, tables)
        if graph is None:
            break
        # a walked function whose summaries differ from before changes what its callers see
        changed = {graph.name(position) for position in to_walk
                   if _summaries_of(position, candidates) != _walked_summaries(position, walks, summarized)}
        more = graph.callers(changed) - to_walk
        if not more:
            break
        to_walk |= more
    for path, (file_facts, functions) in walks.items():
        program.files[path] = file_facts
        for i, fn in enumerate(functions):
            program.settled[(path, i)] = (fn.first, fn.last) if isinstance(fn, Settled) else \
                (summarized.first[id(fn)], summarized.last[id(fn)])
    _name_functions(program)
    if use_cache:
        cache.put(program_key, PROGRAM_NAMESPACE, _Stored.of(program, previous))
    return program


def index_facts(files: dict, config=None) -> dict:
    """path -> FileFacts of the C files `files` (path -> FileVersion), for an index: what
    `analyze` finds of the accesses (with their lock sets), calls and lock operations, without
    summaries, exits nor the lock sets of calls (reviewbot.c.summaries.summarize_locks)."""
    from reviewbot.c.walk import Tables, walk_file
    from reviewbot.c.summaries import summarize_locks
    from reviewbot.c.types import collect_file, merge

    if sys.getrecursionlimit() < RECURSION_LIMIT:
        sys.setrecursionlimit(RECURSION_LIMIT)
    sources = _sources(files)  # an index caches by itself: no digests, no key
    tables = Tables.from_config(config)
    parsed = {path: _parse(text) for path, (text, _) in sources.items()}
    types = merge([collect_file(found.tree.root_node) for found in parsed.values()],
                  getattr(config, "type_hints", None))
    found, everything = {}, []
    for path, (_, known) in sources.items():
        found[path], functions = walk_file(parsed[path], path, types, tables, known, for_index=True)
        everything.extend(functions)
    summarize_locks(everything, tables)
    return found


def program_key(files: dict, config=None) -> str:
    """The key `analyze(files, config)` stores its result under: a digest of all it is made of."""
    return _inputs(files, config)[2]


def _inputs(files: dict, config) -> tuple[dict, dict, str]:
    """path -> (text to parse, known ranges) of the C files, path -> the text's digest, and the
    program's key. The whole result (summaries and lock sets depend on every file) is cached
    by everything it is made of: the files (in order: the first declaration of a name wins),
    what is known of them, the tables and the type hints."""
    from reviewbot.c.walk import Tables

    sources = _sources(files)
    text_digests = {path: _digest(text) for path, (text, _) in sources.items()}
    hints = getattr(config, "type_hints", None)
    key = _digest("\0".join(f"{path}\0{text_digests[path]}\0{_ranges(known)}"
                             for path, (_, known) in sources.items())
                  + f"\0{Tables.from_config(config).digest()}\0{sorted((hints or {}).items())!r}")
    return sources, text_digests, key


def _sources(files: dict) -> dict:
    """path -> (text to parse, known ranges) of the C files among `files`."""
    return {path: (_source_text(version), version.known) for path, version in files.items()
            if version.text is not None and path.endswith((".c", ".h"))}


def _name_functions(program: Program) -> None:
    """The program's functions and summaries by name (the first definition of a name, and
    "path:name" for a static one), from its files and settled summaries."""
    program.functions, program.summaries = {}, {}
    for path, facts in program.files.items():
        for i, fn in enumerate(facts.functions):
            summary = program.settled[(path, i)][1]
            program.functions.setdefault(fn.name, fn)
            program.summaries.setdefault(fn.name, summary)
            if fn.static:
                program.functions[f"{fn.file}:{fn.name}"] = fn
                program.summaries[f"{fn.file}:{fn.name}"] = summary


@dataclass
class _Stored:
    """A program as the cache keeps it: the files that differ from the program it was built on
    (all of them when it was built on none), which is stored too. A version after a one-line
    patch then costs one file, not the tree, to store and to read."""

    order: list[str]  # every path, in the program's order
    files: dict  # path -> FileFacts, the files not taken over from `based_on`
    settled: dict  # (path, index) -> summaries, of those files
    types: object
    file_keys: dict
    based_on: str | None  # the key of the program the others come from

    @classmethod
    def of(cls, program: Program, previous: Program | None) -> _Stored:
        taken = {path for path, facts in program.files.items()
                 if previous is not None and previous.files.get(path) is facts}
        return cls(list(program.files), {p: f for p, f in program.files.items() if p not in taken},
                   {k: v for k, v in program.settled.items() if k[0] not in taken},
                   program.types, program.file_keys, previous.key if taken else None)

    def program(self, key: str, previous: Program | None) -> Program | None:
        """The program, or None when the one it was built on is no longer in the cache."""
        base = None
        if self.based_on is not None:
            base = previous if previous is not None and previous.key == self.based_on else \
                _cached_program(self.based_on, None)
            if base is None:
                return None
        program = Program(types=self.types, key=key, file_keys=self.file_keys)
        for path in self.order:
            source = self if path in self.files else base
            program.files[path] = source.files[path]
            program.settled.update(((path, i), source.settled[(path, i)])
                                   for i in range(len(program.files[path].functions)))
        _name_functions(program)
        return program


def _cached_program(key: str, previous: Program | None) -> Program | None:
    from reviewbot.c import cache

    stored = cache.get(key, PROGRAM_NAMESPACE)
    return stored.program(key, previous) if isinstance(stored, _Stored) else None


def _unchanged_functions(path: str, walk, key: str, previous: Program | None, use_cache: bool) -> list:
    """Per function of the file: the previous version's Settled, when the function's walk is the
    same as then (the whole file is, or the function's own facts and body are); else None."""
    from reviewbot.c import cache
    from reviewbot.c.summaries import Settled

    if previous is None or path not in previous.files:
        return [None] * len(walk(path)[1])
    earlier = [Settled(fn, *previous.settled[(path, i)])
               for i, fn in enumerate(previous.files[path].functions)]
    if previous.file_keys.get(path) == key:
        return earlier
    before = cache.get(previous.file_keys[path], FACTS_NAMESPACE) if use_cache else None
    if before is None:
        return [None] * len(walk(path)[1])
    by_name = {}
    for i, fn in enumerate(before[1]):
        by_name.setdefault(fn.facts.name, (i, fn))
    found = []
    for fn in walk(path)[1]:
        i, old = by_name.get(fn.facts.name, (None, None))
        found.append(earlier[i] if old == fn else None)
    return found


def _summaries_of(position: tuple, candidates: dict):
    settled = candidates[position[0]][position[1]]
    return (settled.first, settled.last) if settled is not None else None


def _walked_summaries(position: tuple, walks: dict, summarized):
    fn = walks[position[0]][1][position[1]]
    return summarized.first[id(fn)], summarized.last[id(fn)]


class _CallGraph:
    """Who calls whom among the functions of a program, by position (path, index in the file)."""

    def __init__(self, functions: dict):
        self.functions = functions  # path -> objects with `.facts`, in file order
        self.by_name: dict[str, list] = {}
        self.calling: dict[str, list] = {}
        for path, found in functions.items():
            for i, fn in enumerate(found):
                self.by_name.setdefault(fn.facts.name, []).append((path, i))
                for name in {call.name for call in fn.facts.calls}:
                    self.calling.setdefault(name, []).append((path, i))

    def names(self) -> set[str]:
        return set(self.by_name)

    def name(self, position: tuple) -> str:
        return self.functions[position[0]][position[1]].facts.name

    def callers(self, names: set[str]) -> set[tuple]:
        """Every function calling one of `names` (a caller that resolves a name to another
        definition of it too)."""
        return {position for name in names for position in self.calling.get(name, ())}

    def closure(self, positions: set[tuple]) -> set[tuple]:
        """`positions` and what walking them again walks with them: the static functions they
        call (their callers' locks on entry are learnt from the walked callers) and the
        callers of the static ones among them (for the same reason), and so on."""
        found, todo = set(positions), list(positions)
        while todo:
            path, i = todo.pop()
            fn = self.functions[path][i].facts
            reached = [(path, j) for name in {call.name for call in fn.calls}
                       for other, j in self.by_name.get(name, ()) if other == path
                       and self.functions[path][j].facts.static]
            if fn.static:
                reached += [(other, j) for other, j in self.calling.get(fn.name, ()) if other == path]
            for position in reached:
                if position not in found:
                    found.add(position)
                    todo.append(position)
        return found


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
