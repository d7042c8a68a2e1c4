"""What every rule builds on: the Rule record, the CheckContext a check reads, and the
helpers that word evidence and build findings the same way in every rule."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

from reviewbot.c.model import GET, PUT, UNKNOWN_LOCKS, Access, Exit, FunctionFacts
from reviewbot.findings import Finding
from reviewbot.knowledge.pairs import name_pairs
from reviewbot.workspace import HUNK_ONLY


@dataclass(frozen=True)
class Rule:
    name: str  # "check-then-act"
    severity: str  # default severity
    summary: str  # one line
    doc: str  # markdown: what it finds, why it matters, an example, how to silence it
    question: str = "Is this intended?"  # how a list-style reply puts a finding to the author


@dataclass
class CheckContext:
    """Everything a check may look at for one version of the analysed files."""

    program: object  # reviewbot.c.Program of this version
    knowledge: object  # reviewbot.knowledge.Knowledge built from `program`
    mode: str  # reviewbot.workspace.TREE or HUNK_ONLY
    version: int = 0  # 0 = base, k = after patch k
    # the base version's context (None when this is the base): rules that judge what the
    # series changed (a counter balanced before the series, one-way after) compare with it
    base: CheckContext | None = None
    files: dict = field(default_factory=dict)  # path -> reviewbot.workspace.FileVersion
    # The functions the rules judge, as (file, name); None: every function. In a tree, the
    # functions the series touches and their call neighbourhood: the rest of the tree is there
    # for what it teaches (guards, pairs, summaries), and a review costs what the patch costs.
    focus: frozenset | None = None
    # The fields and bits those functions touch at any version of the series: the rules about
    # one field across all functions (a bit nobody clears) judge these. None: every field.
    focus_keys: frozenset | None = None

    @property
    def hunk_only(self) -> bool:
        return self.mode == HUNK_ONLY

    def functions(self) -> Iterator[FunctionFacts]:
        """The functions the rules judge."""
        return iter(self._judged)

    @cached_property
    def _judged(self) -> list[FunctionFacts]:
        return [fn for fn in self.all_functions() if self.focus is None or (fn.file, fn.name) in self.focus]

    def all_functions(self) -> Iterator[FunctionFacts]:
        """Every analysed function, also those outside the focus, in file order."""
        for path in sorted(self.program.files):
            yield from self.program.files[path].functions

    def judges_key(self, key: str) -> bool:
        return self.focus_keys is None or key in self.focus_keys

    def keys(self) -> Iterator[str]:
        """Every field and bit any analysed function accesses."""
        return iter(self._sites_by_key)

    def sites(self, key: str, ops) -> list[tuple[FunctionFacts, Access]]:
        """(function, access) of every access to `key` with an op in `ops`, in file order."""
        return [(fn, access) for fn, access in self._sites_by_key.get(key, ()) if access.op in ops]

    @cached_property
    def _sites_by_key(self) -> dict[str, list[tuple[FunctionFacts, Access]]]:
        found: dict[str, list] = {}
        for fn in self.all_functions():
            for access in fn.accesses:
                found.setdefault(access.key, []).append((fn, access))
        return found

    def function(self, name: str, near: FunctionFacts | None = None) -> FunctionFacts | None:
        """The facts of function `name`, preferring a static one in the same file as `near`."""
        if near is not None:
            local = self.program.functions.get(f"{near.file}:{name}")
            if local is not None:
                return local
        return self.program.functions.get(name)

    def reference_like(self, key: str) -> bool:
        """A counter that counts references or users: moved through refcount/kref/get/put
        APIs somewhere, or the field whose moves cancel between two functions named as a pair
        (`start`/`end`, `get`/`put`). Not a cursor, an id generator or a statistic."""
        return key in self._reference_like_keys

    @cached_property
    def _reference_like_keys(self) -> frozenset[str]:
        paired = {pair.key for pair in self.knowledge.pairs
                  if pair.key and name_pairs({pair.acquire_fn, pair.release_fn})}
        counted = {access.key for fn in self.all_functions() for access in fn.accesses
                   if access.op in (GET, PUT)}
        return frozenset(paired | counted)

    def fully_known(self, fn: FunctionFacts) -> bool:
        """Every line of the function is in view (always in tree mode; in hunk-only mode when
        the hunks show it whole, e.g. a function the series adds)."""
        return self.known_from(fn, fn.start_line)

    def known_from(self, fn: FunctionFacts, line: int) -> bool:
        """Every line of the function from `line` to its end is in view."""
        if not fn.complete:
            for start, end in sorted(fn.known_lines):
                if end < line:
                    continue
                if start > line:
                    return False
                line = end + 1
            if line <= fn.end_line:
                return False
        return self._really_ends(fn)

    def _really_ends(self, fn: FunctionFacts) -> bool:
        """In hunk-only mode a function's facts end where its fragment ends, which may be where
        the hunk stops rather than at the function's closing brace: only a brace in the first
        column of the last line shows that the function itself ends there."""
        version = self.files.get(fn.file)
        if version is None or version.known is None:
            return True
        lines = version.text.splitlines()
        return fn.end_line <= len(lines) and lines[fn.end_line - 1].startswith("}")


def lock_unknown(locks: frozenset[str]) -> bool:
    return UNKNOWN_LOCKS in locks


def describe_locks(locks: frozenset[str]) -> str:
    """The locks known to be held, for evidence: "`fuse_inode.lock`" or "no lock"."""
    return ", ".join(f"`{lock}`" for lock in sorted(locks - {UNKNOWN_LOCKS})) or "no lock"


def type_guess(access: Access) -> list[str]:
    """The evidence line saying that an access's struct type is a guess, when it is one."""
    if not access.guessed_type:
        return []
    struct = access.key.partition(".")[0]
    return [f"the type of `{access.text or access.key}` is a guess: its declaration is not in "
            f"view, and the same variable name is a `struct {struct}` elsewhere in the series "
            f"or in the profile"]


# how an exit reads in evidence, by its return class (reviewbot.c.model RET_*)
RETURN_WORDS = {"void": "returns", "zero": "returns 0", "errno": "returns an error",
                "null": "returns NULL", "pointer": "returns a pointer", "other": "returns a value"}


def describe_return(exit: Exit) -> str:
    return RETURN_WORDS.get(exit.value, f"returns {exit.value}")


def distinct_paths(exits: list[Exit]) -> list[Exit]:
    """One exit per return line and kind of value: evidence lists each distinct path once,
    not every way of reaching the same return."""
    return list({(e.line, e.value): e for e in reversed(exits)}.values())[::-1]


def describe_path(exit: Exit) -> str:
    if not exit.path:
        return ""
    return " (through the branches at lines " + ", ".join(map(str, exit.path)) + ")"


def missing_guard(ctx: CheckContext, access: Access):
    """The guard of the access's field when the access is known to be made without it."""
    guard = ctx.knowledge.guard(access.key)
    if guard is None or guard.lock in access.locks or lock_unknown(access.locks):
        return None
    return guard


def unlocked_finding(rule: Rule, fn: FunctionFacts, access: Access, guard, verb: str) -> Finding:
    """The finding of unlocked-read and unlocked-write: `text` VERBs `key` without the lock."""
    message = f"`{access.text or access.key}` {verb} `{access.key}` without `{guard.lock}`"
    evidence = [f"{fn.file}:{access.line}: held here: {describe_locks(access.locks)}",
                guard.describe(), *type_guess(access)]
    return make_finding(rule, fn, access.line, message, evidence, access.key)


def make_finding(rule: Rule, fn: FunctionFacts, line: int, message: str, evidence: list[str],
                 subject: str, field_key: str = "") -> Finding:
    return Finding(rule=rule.name, severity=rule.severity, file=fn.file, line=line,
                   function=fn.name, message=message, evidence=evidence, subject=subject, field_key=field_key)
