"""Facts about one C function: the events one walk of its body produces.

Field keys name the struct type and member, never the variable: `fuse_file.iomode`, and for a
bit in a flag word `fuse_inode.state:FUSE_I_BACKING`. Lock keys name the lock the same way:
`fuse_inode.lock`, `inode.i_rwsem`; a global lock is its variable name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Access.op values
READ, WRITE, INC, DEC, ADD, SUB, ASSIGN, ADDR = "read", "write", "inc", "dec", "add", "sub", "assign", "addr"
SET_BIT, CLEAR_BIT, TEST_BIT = "set_bit", "clear_bit", "test_bit"
TEST_AND_SET_BIT, TEST_AND_CLEAR_BIT = "test_and_set_bit", "test_and_clear_bit"
GET, PUT = "get", "put"  # reference acquire / release through an API (atomic_inc, kref_put, ...)
# Summaries count the references a helper hands out or drops as deltas on "ref:RELEASE" keys
# (`igrab` +1 on `ref:iput`), beside the counter fields it moves.
REFERENCE_KEY = "ref:"

WRITE_OPS = frozenset({WRITE, INC, DEC, ADD, SUB, ASSIGN, SET_BIT, CLEAR_BIT,
                       TEST_AND_SET_BIT, TEST_AND_CLEAR_BIT, GET, PUT})
READ_OPS = frozenset({READ, TEST_BIT})

# LockOp.op values
ACQUIRE, RELEASE, ASSERT = "acquire", "release", "assert"

# Return value classes. RET_NULL: a function returning a pointer returns NULL (its failure, like
# an ERR_PTR's RET_ERRNO); a NULL (or 0) anywhere else, and held in a variable, is RET_ZERO.
RET_VOID, RET_ZERO, RET_ERRNO, RET_POINTER, RET_OTHER = "void", "zero", "errno", "pointer", "other"
RET_NULL = "null"
FAILURES = frozenset({RET_ERRNO, RET_NULL})  # the returns that report a failure to the caller

# Lock state where nothing in view says: in hunk-only mode, above the first line of a hunk.
UNKNOWN_LOCKS = "?"


@dataclass(frozen=True)
class Access:
    """One access to a struct field (or to one bit of a flag word)."""

    key: str  # "fuse_file.iomode", "fuse_inode.state:FUSE_I_BACKING"
    op: str  # one of the op constants above
    line: int  # 1-based, in the original file
    locks: frozenset[str]  # lock keys held here; contains UNKNOWN_LOCKS when not knowable
    value: str | None = None  # the constant assigned, the amount added, the API called
    marks: frozenset[str] = frozenset()  # READ_ONCE, WRITE_ONCE, data_race
    text: str = ""  # the expression as written, for evidence
    guessed_type: bool = False  # the variable's type came from elsewhere in the series
    in_condition: int | None = None  # id of the condition (or assertion) this read is part of
    guards: tuple[int, ...] = ()  # ids of the branch conditions this access is under
    fresh: bool = False  # through a variable holding a freshly allocated, unshared object


@dataclass(frozen=True)
class LockOp:
    lock: str
    op: str  # ACQUIRE, RELEASE, ASSERT
    line: int
    api: str  # the call as written: spin_lock, mutex_unlock, lockdep_assert_held, ...
    conditional: bool = False  # trylock: held only on the success branch
    shared: bool = False  # read side (down_read, inode_lock_shared, read_lock)
    in_loop: bool = False  # inside a loop body: paths model one pass, a lock may be retaken
    guards: tuple[int, ...] = ()  # ids of the branch conditions this operation is under


@dataclass(frozen=True)
class Call:
    name: str
    line: int
    locks: frozenset[str]
    args: tuple[str, ...] = ()
    guards: tuple[int, ...] = ()  # ids of the branch conditions this call is under


@dataclass(frozen=True)
class Condition:
    """A branch condition (if / while / ?: / switch) with the reads it makes."""

    id: int
    line: int
    text: str
    assertion: bool = False  # WARN_ON(...) and friends: documents an invariant, decides nothing


@dataclass(frozen=True)
class Exit:
    """One path out of the function: where it returns, what it holds, what it moved."""

    line: int
    value: str  # RET_* class
    locks: frozenset[str]  # locks still held at the return
    deltas: tuple[tuple[str, int], ...] = ()  # net counter movement on this path, key -> amount
    bits: tuple[tuple[str, str], ...] = ()  # flag bits left set/cleared on this path
    path: tuple[int, ...] = ()  # lines of the branch decisions taken, for evidence
    taken: tuple[bool, ...] = ()  # which way each branch of `path` went (True: its then side)
    # calls made on this path to functions with an effect (summarised in the scanned files, or
    # kernel reference APIs): (callee, line, outcome) where outcome is "ok" or "fail" when a
    # later branch tested the call's result, else None
    calls: tuple[tuple[str, int, str | None], ...] = ()
    # (field, line, value or None) of each plain store to a field of a shared object on this
    # path, in order
    stores: tuple[tuple[str, int, str | None], ...] = ()


@dataclass
class FunctionFacts:
    name: str
    file: str
    start_line: int
    end_line: int
    params: dict[str, str] = field(default_factory=dict)  # name -> struct type
    static: bool = False
    # False in hunk-only mode unless the hunks show the whole function, from its head through its
    # own closing brace: then only the hunks' lines are known
    complete: bool = True
    # the body is in view from its opening brace, so the lock state at entry is known (nothing
    # but what the function's annotations say), even when the rest of it is not
    entry_known: bool = True
    known_lines: tuple[tuple[int, int], ...] = ()  # inclusive ranges, when not complete
    accesses: list[Access] = field(default_factory=list)
    lock_ops: list[LockOp] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    exits: list[Exit] = field(default_factory=list)
    returns_type: str | None = None  # struct type of a returned pointer, for helper resolution
    annotations: dict[str, tuple[str, ...]] = field(default_factory=dict)  # must_hold/acquires/releases
    labels: dict[str, int] = field(default_factory=dict)  # goto label -> line
    gotos: list[tuple[str, int]] = field(default_factory=list)  # (label, line) of each goto
    # (lock, exit) of the paths that release a lock not held there (not taken on the path, nor
    # held on entry by the function's contract or by every caller)
    unheld_releases: list[tuple[str, Exit]] = field(default_factory=list)


@dataclass
class FileFacts:
    path: str
    functions: list[FunctionFacts] = field(default_factory=list)
    enums: dict[str, list[str]] = field(default_factory=dict)  # enum tag (or first constant) -> constants
    has_errors: bool = False
    # (name, line) of functions nested too deep to analyse (thousands of blocks, or an
    # expression of tens of thousands of terms): left out of the facts, and said so
    skipped: list[tuple[str, int]] = field(default_factory=list)
