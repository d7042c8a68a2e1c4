"""Series -> Review: findings at the base and after each patch, with new / fixed / preexisting
status, plus the mutation tables and state transitions reviewers read.

The dataclasses are settled interfaces for the reporters.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace

from reviewbot.c import analyze, cache, program_key
from reviewbot.c.cache import no_cycle_collection
from reviewbot.c.model import ASSIGN, WRITE
from reviewbot.c.parse import parse_c
from reviewbot.checks import CHECKS
from reviewbot.checks.base import CheckContext
from reviewbot.checks.gating import is_assertion
from reviewbot.checks.suppress import suppressed
from reviewbot.findings import FIXED, NEW, PREEXISTING, Finding
from reviewbot.knowledge import Knowledge, build_knowledge, load_config
from reviewbot.series import Series
from reviewbot.workspace import HUNK_ONLY, TREE, Git, Workspace, file_paths, is_c_path

SAME, ADDED, REMOVED = "same", "added", "removed"
KNOWLEDGE_NAMESPACE, REVIEW_NAMESPACE = "knowledge", "review"


@dataclass(frozen=True)
class TableRow:
    """One tracked-field operation in a function: what, where, under which locks."""

    key: str  # "fuse_file.iomode", "fuse_inode.state:FUSE_I_BACKING"
    op: str  # read, inc, dec, assign, set_bit, ... (reviewbot.c.model op constants)
    value: str | None  # the constant assigned, the amount, the API
    line: int | None  # line in the version the row comes from (after the patch unless REMOVED)
    locks: tuple[str, ...]  # lock keys held; "?" means not knowable (hunk-only)
    marks: tuple[str, ...] = ()  # READ_ONCE, WRITE_ONCE, data_race
    change: str = SAME  # SAME, ADDED (only after the patch), REMOVED (only before)


@dataclass
class FunctionTable:
    """The tracked-field table of one function a patch touches, base and after merged."""

    file: str
    function: str
    patch: int  # 1-based
    rows: list[TableRow] = field(default_factory=list)


@dataclass(frozen=True)
class Transition:
    """A state change of an enum-like field: from -> to, by which function."""

    key: str
    from_value: str  # a constant, or "*" when no guard constrains it
    to_value: str
    function: str
    file: str
    line: int
    change: str = SAME  # SAME: before and after the series; ADDED / REMOVED by the series


@dataclass
class Review:
    series: Series
    mode: str  # "tree" or "hunk-only"
    base: str | None
    findings: list[Finding] = field(default_factory=list)  # every status; reporters filter
    suppressed: int = 0
    tables: list[FunctionTable] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # caveats a reader must see (hunk-only, ...)
    tree: str | None = None  # the git tree the files came from (tree mode, or its config)


HUNK_ONLY_NOTE = (
    "hunk-only mode: each function is known only as far as the hunks show it, and the lock "
    "state where a hunk starts is unknown. No finding assumes it: one made there rests on a "
    "profile, the configuration or what the series itself shows, and says so in its evidence.")


class _Functions:
    """One version's functions by line and by name: each file is indexed once, on first use,
    so that finding the function of every line a patch changes costs one pass over the file."""

    def __init__(self, program):
        self.program = program
        self._indexed: dict[str, tuple[dict[int, str], dict[str, object]]] = {}

    def at(self, path: str | None, line: int | None) -> str | None:
        """The name of the function around `line` of `path`."""
        return self._index(path)[0].get(line) if path is not None and line is not None else None

    def named(self, path: str | None, name: str | None):
        """The facts of function `name` defined in `path`."""
        return self._index(path)[1].get(name) if path is not None and name is not None else None

    def every(self, wanted) -> list:
        """The facts of the functions `wanted` ((path, name) pairs) defined here."""
        return [fn for fn in (self.named(path, name) for path, name in wanted) if fn is not None]

    def _index(self, path: str) -> tuple[dict[int, str], dict[str, object]]:
        """line -> name and name -> facts of the functions of `path` (the first one wins)."""
        if path not in self._indexed:
            by_line, by_name = {}, {}
            facts = self.program.files.get(path)
            for fn in facts.functions if facts is not None else ():
                by_name.setdefault(fn.name, fn)
                for number in range(fn.start_line, fn.end_line + 1):
                    by_line.setdefault(number, fn.name)
            self._indexed[path] = by_line, by_name
        return self._indexed[path]


@dataclass
class _Version:
    """One version of the analysed files: k = 0 (base) .. N (after patch N)."""

    files: dict  # path -> FileVersion
    program: object  # reviewbot.c.Program
    knowledge: object  # reviewbot.knowledge.Knowledge
    findings: dict[str, Finding]  # fingerprint -> finding, suppressed ones left out
    suppressed: set[str]  # fingerprints silenced here
    functions: _Functions  # the program's functions by line and by name


def review_series(series: Series, workspace: Workspace, config=None, progress=None) -> Review:
    """Findings at the base and after each patch, each marked new (in the patch that
    introduces it), fixed (by the patch that removes it) or preexisting.

    `progress(step, done, total)`, when given, hears of each version parsed and checked; it
    may raise to stop the review (reviewbot.service uses that for time limits)."""
    with no_cycle_collection():
        return _review_series(series, workspace, config, progress)


def _review_series(series: Series, workspace: Workspace, config, progress) -> Review:
    config = config if config is not None else load_config(workspace.tree)
    progress = progress or (lambda step, done, total: None)
    neighbours = _neighbours(workspace)
    workspace.read_untouched(neighbours)
    files_at = [_version_files(workspace, k, neighbours) for k in range(workspace.patch_count + 1)]
    # the profiles `auto` enables for these paths also give the facts their type hints
    configs = [config.for_paths(files) for files in files_at]
    review = Review(series=series, mode=workspace.mode, base=workspace.base, tree=workspace.tree)
    # the same series on the same files under the same config: the same review
    key = hashlib.sha1("\0".join([workspace.mode, repr(config), *(p.diff for p in series.patches),
                                   *map(program_key, files_at, configs)]).encode()).hexdigest()
    found = cache.get(key, REVIEW_NAMESPACE)
    if found is not None:
        review.findings, review.suppressed, review.tables, review.transitions, review.notes = found
        return review
    versions = []
    for k, (files, version_config) in enumerate(zip(files_at, configs)):
        progress("parsing", k, workspace.patch_count + 1)
        # a version after a patch takes what the patch does not reach from the one before it
        program = analyze(files, version_config, previous=versions[-1].program if versions else None)
        knowledge = _knowledge(program, config)
        versions.append(_Version(files, program, knowledge, {}, set(), _Functions(program)))
    touched = [_touched_functions(patch, versions[k - 1], versions[k])
               for k, patch in enumerate(series.patches, 1)]
    focus = focus_keys = None
    if workspace.mode != HUNK_ONLY:  # hunk-only: every function known is one the series shows
        focus = _focus(series, touched, versions)
        focus_keys = frozenset(access.key for version in versions
                               for fn in version.functions.every(focus) for access in fn.accesses)
    base_ctx = None
    for k, version in enumerate(versions):
        progress("checking", k, len(versions))
        ctx = CheckContext(version.program, version.knowledge, workspace.mode, k, base_ctx,
                           version.files, focus, focus_keys)
        base_ctx = base_ctx or ctx
        for finding in run_checks(ctx):
            text = version.files[finding.file].text or ""
            if suppressed(finding, text.splitlines(), version.knowledge.config):
                version.suppressed.add(finding.fingerprint)
            else:
                version.findings[finding.fingerprint] = finding
    review.findings = _statuses(versions)
    reported = {f.fingerprint for f in review.findings}
    review.suppressed = len(set().union(*(v.suppressed for v in versions)) - reported)
    review.tables = _tables(series, versions, touched)
    review.transitions = _transitions(versions[0], versions[-1])
    if workspace.mode == HUNK_ONLY:
        review.notes.append(HUNK_ONLY_NOTE)
    broken = sorted({path for version in versions for path, facts in version.program.files.items()
                     if facts.has_errors})
    if broken:
        review.notes.append("parts of these files did not parse, so findings there may be "
                            "missing: " + ", ".join(broken))
    skipped = sorted({f"{name}() at {path}:{line}" for version in versions
                      for path, facts in version.program.files.items()
                      for name, line in facts.skipped})
    if skipped:
        review.notes.append("nested too deep to analyse, so not reviewed: " + ", ".join(skipped))
    cache.put(key, REVIEW_NAMESPACE,
              (review.findings, review.suppressed, review.tables, review.transitions, review.notes))
    return review


def _knowledge(program, config) -> Knowledge:
    """The knowledge of a program under a config, from the cache when both were seen before."""
    key = hashlib.sha1(f"{program.key}\0{config!r}".encode()).hexdigest()
    knowledge = cache.get(key, KNOWLEDGE_NAMESPACE) if program.key else None
    if knowledge is None:
        knowledge = build_knowledge(program, config)
        if program.key:
            cache.put(key, KNOWLEDGE_NAMESPACE, knowledge)
    return knowledge


def _version_files(workspace: Workspace, k: int, neighbours: list[str]) -> dict:
    """path -> FileVersion of what version k analyses: the C files the series touches and
    their neighbours. In one order whatever the series touches: every series in one directory
    on one base then starts from one program, analysed (and cached) once. (Where two files of
    the directory define one name, the first in that order wins, not the touched one: the
    same findings on bench/realbugs, and nine seconds less for fs/btrfs.)"""
    return {path: workspace.version(path, k) for path in sorted(workspace.c_paths(k) + neighbours)}


def _neighbours(workspace: Workspace) -> list[str]:
    """In tree mode, the untouched C files in the directories the series touches: which lock
    guards a field, and what pairs with what, is learnt from the code around the patch too."""
    if workspace.mode == HUNK_ONLY or workspace.tree is None or workspace.base is None:
        return []
    touched = {path for k in range(workspace.patch_count + 1) for path in workspace.versions[k]}
    dirs = sorted({os.path.dirname(path) or "." for path in touched if is_c_path(path)})
    return [path for path in _c_files_in(workspace, dirs) if path not in touched]


def _c_files_in(workspace: Workspace, dirs: list[str]) -> list[str]:
    """The C files right in the directories `dirs` (paths from the top of the tree) at the base."""
    if not dirs:
        return []
    listed = Git(workspace.tree).out("ls-tree", "--name-only", workspace.base, "--",
                                     *(f"{d}/" if d != "." else "." for d in dirs))
    return [path for path in listed.splitlines() if is_c_path(path)]


def prepare_directory(tree: str, base: str, directory: str) -> int:
    """Analyse `directory` (a path from the top of the git tree `tree`) at the commit `base` as
    the first review of a series there does, and keep it in the cache: a review of a series
    that touches files of that directory alone, on that base, then analyses what its patches
    change, not the directory. Returns the number of C files analysed."""
    tree = Git(tree).top  # what a review names the tree by: its config is the top's
    workspace = Workspace(TREE, base, 0, versions=[{}], tree=tree)
    config = load_config(tree)
    neighbours = _c_files_in(workspace, [directory])
    workspace.read_untouched(neighbours)
    files = _version_files(workspace, 0, neighbours)
    if files:
        _knowledge(analyze(files, config.for_paths(files)), config)
    return len(files)


# Callers are followed this far up from a function the series touches: the rules follow
# helpers two calls deep for their evidence (a test whose helper's helper changes the field).
CALLER_DEPTH = 2


def _focus(series: Series, touched: list[list[tuple]], versions: list[_Version]) -> frozenset:
    """The functions the rules judge, as (path, name): the ones the series touches, their
    callers up to CALLER_DEPTH (what they hold, move and test may change with them) and the
    functions they call (whose summaries learn from every caller what it holds)."""
    names = set()
    for patch, functions in zip(series.patches, touched):
        for path, old_name, new_name in functions:
            names |= {(_renamed_from(patch, path), old_name), (path, new_name)}
    names = {(path, name) for path, name in names if name is not None}
    focus = set(names)
    for version in versions:
        program = version.program
        callers: dict[str, list] = {}
        for facts in program.files.values():
            for fn in facts.functions:
                for call in fn.calls:
                    callers.setdefault(call.name, []).append(fn)
        reached = version.functions.every(names)
        for fn in reached:
            for call in fn.calls:
                callee = program.functions.get(f"{fn.file}:{call.name}") or program.functions.get(call.name)
                if callee is not None:
                    focus.add((callee.file, callee.name))
        for _ in range(CALLER_DEPTH):
            reached = [caller for fn in reached for caller in callers.get(fn.name, ())
                       if (caller.file, caller.name) not in focus]
            focus |= {(fn.file, fn.name) for fn in reached}
    return frozenset(focus)


def run_checks(ctx: CheckContext) -> list[Finding]:
    """Every rule on one version, with ordinals telling apart findings of one rule, file,
    function and subject (in line order)."""
    found = [finding for check in CHECKS.values() for finding in check(ctx)]
    found.sort(key=lambda f: (f.file, f.line, f.rule, f.function, f.subject))
    seen: dict[tuple, int] = {}
    for finding in found:
        ident = (finding.rule, finding.file, finding.function, finding.subject)
        finding.ordinal = seen.get(ident, 0)
        seen[ident] = finding.ordinal + 1
    return found


def _statuses(versions: list[_Version]) -> list[Finding]:
    """New in the first patch after which a finding is there (and not at the base); fixed by
    the first patch after which a base finding is gone; else preexisting."""
    present = [version.findings for version in versions]
    fingerprints = list(dict.fromkeys(fp for found in present for fp in found))
    out = []
    for fp in fingerprints:
        first = next(k for k, found in enumerate(present) if fp in found)
        gone = next((k for k in range(first + 1, len(present)) if fp not in present[k]), None)
        if first > 0:
            finding = _with(present[first][fp], NEW, first)
            if gone is not None:
                finding.evidence.append(f"patch {gone} removes it again")
        elif gone is not None:
            finding = _with(present[gone - 1][fp], FIXED, gone)
        else:
            finding = _with(present[-1][fp], PREEXISTING, None)
        out.append(finding)
    out.sort(key=lambda f: (f.patch or 0, f.file, f.line, f.rule))
    return out


def _with(finding: Finding, status: str, patch: int | None) -> Finding:
    return replace(finding, status=status, patch=patch, evidence=list(finding.evidence))


# --- mutation tables and transitions -----------------------------------------------------

def _touched_functions(patch, before: _Version, after: _Version) -> list[tuple[str, str | None, str | None]]:
    """(path, name before, name after) for every function patch `patch` changes a line of.
    A function whose name changes inside one hunk is one entry with both names."""
    found: dict[tuple, None] = {}
    for pf in patch.patchset:
        old, new = file_paths(pf)
        renamed: dict[str, str] = {}
        touched: dict[str, None] = {}
        for hunk in pf:
            old_names = {before.functions.at(old, line.source_line_no)
                         for line in hunk if line.is_removed} - {None}
            new_names = {after.functions.at(new, line.target_line_no)
                         for line in hunk if line.is_added} - {None}
            gone = {name for name in old_names - new_names if after.functions.named(new, name) is None}
            came = {name for name in new_names - old_names if before.functions.named(old, name) is None}
            for name in sorted(gone):
                successor = _renamed_to(name, came)
                if successor is not None:
                    renamed[successor] = name
                    came.discard(successor)
            touched.update(dict.fromkeys(sorted(old_names | new_names)))
        for name in touched:
            if name in renamed.values():
                continue
            old_name = renamed.get(name, name if before.functions.named(old, name) else None)
            new_name = name if after.functions.named(new, name) else None
            found[(new or old, old_name, new_name)] = None
    return list(found)


def _renamed_to(name: str, candidates: set[str]) -> str | None:
    """The function a hunk's removed `name` became: the only new one, or the only new one
    ending in the same word (fuse_file_uncached_io_end -> fuse_inode_uncached_io_end)."""
    if len(candidates) == 1:
        return next(iter(candidates))
    same_verb = [c for c in candidates if c.rpartition("_")[2] == name.rpartition("_")[2]]
    return same_verb[0] if len(same_verb) == 1 else None


def _rows(fn, tracked) -> list[TableRow]:
    if fn is None:
        return []
    return [TableRow(a.key, a.op, a.value, a.line, tuple(sorted(a.locks)), tuple(sorted(a.marks)))
            for a in fn.accesses if a.key in tracked]


def _tables(series: Series, versions: list[_Version], touched: list[list[tuple]]) -> list[FunctionTable]:
    tables = []
    for k, patch in enumerate(series.patches, 1):
        before, after = versions[k - 1], versions[k]
        tracked = set(before.knowledge.tracked) | set(after.knowledge.tracked)
        for path, old_name, new_name in touched[k - 1]:
            old_path = _renamed_from(patch, path)
            old_rows = _rows(before.functions.named(old_path, old_name), tracked)
            new_rows = _rows(after.functions.named(path, new_name), tracked)
            if old_rows or new_rows:
                tables.append(FunctionTable(path, new_name or old_name, k, _merge_rows(old_rows, new_rows)))
    return tables


def _renamed_from(patch, path: str) -> str:
    for pf in patch.patchset:
        old, new = file_paths(pf)
        if new == path and old is not None:
            return old
    return path


def _merge_rows(old_rows: list[TableRow], new_rows: list[TableRow]) -> list[TableRow]:
    """Rows that match on everything but the line are SAME; the rest ADDED or REMOVED."""
    def ident(row):
        return (row.key, row.op, row.value, row.locks, row.marks)
    unmatched = list(old_rows)
    merged = []
    for row in new_rows:
        twin = next((old for old in unmatched if ident(old) == ident(row)), None)
        if twin is not None:
            unmatched.remove(twin)
            merged.append(row)
        else:
            merged.append(replace(row, change=ADDED))
    merged += [replace(row, change=REMOVED) for row in unmatched]
    return merged


def _transitions(base: _Version, final: _Version) -> list[Transition]:
    before = _state_transitions(base)
    after = _state_transitions(final)
    def ident(t):
        return (t.key, t.from_value, t.to_value, t.function)
    before_ids = {ident(t) for t in before}
    after_ids = {ident(t) for t in after}
    out = [t if ident(t) in before_ids else replace(t, change=ADDED) for t in after]
    out += [replace(t, change=REMOVED) for t in before if ident(t) not in after_ids]
    return out


def _state_transitions(version: _Version) -> list[Transition]:
    """Assignments of a named constant to an enum-like field, with the value the function
    expects before it (from an `if` guarding the store or a `WARN_ON` before it), else "*"."""
    states = {key for key, t in version.knowledge.tracked.items() if t.kind == "state"}
    out = []
    for path in sorted(version.program.files):
        for fn in version.program.files[path].functions:
            for access in fn.accesses:
                if access.key in states and access.op in (ASSIGN, WRITE) and access.value:
                    out.append(Transition(access.key, _expected_before(fn, access), access.value,
                                          fn.name, fn.file, access.line))
    return out


def _expected_before(fn, store) -> str:
    member = store.key.rpartition(".")[2]
    for cond in sorted(fn.conditions, key=lambda c: -c.line):
        if cond.line > store.line:
            continue
        asserted = is_assertion(cond)
        if not asserted and cond.id not in store.guards:
            continue
        # WARN_ON(x != V) before the store, or if (x == V) around it: the field held V
        wanted = "!=" if asserted else "=="
        for left, op, right in _comparisons(cond.text):
            if op == wanted and left.endswith(member) and right.isupper() and right.isidentifier():
                return right
    return "*"


def _comparisons(condition: str) -> list[tuple[str, str, str]]:
    """(left, operator, right) of the == and != comparisons in a condition's text."""
    parsed = parse_c(f"void f(void)\n{{\n\t({condition});\n}}\n")
    found = []
    stack = [parsed.tree.root_node]
    while stack:
        node = stack.pop()
        operator = node.child_by_field_name("operator") if node.type == "binary_expression" else None
        if operator is not None and operator.type in ("==", "!="):
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            found.append((parsed.text(left), operator.type, parsed.text(right)))
        stack.extend(node.children)
    return found
