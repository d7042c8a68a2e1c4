"""unlocked-read: a plain read of a lock-guarded field without its lock."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from reviewbot.c.apis import ACCESS_MARKS
from reviewbot.c.model import READ, READ_OPS, WRITE_OPS
from reviewbot.checks import differential
from reviewbot.checks.base import CheckContext, Rule, describe_locks, missing_guard, unlocked_finding
from reviewbot.checks.gating import gated_changes, is_assertion

RULE = Rule(
    name="unlocked-read",
    severity="medium",
    summary="a plain read of a lock-guarded field without its lock",
    question="Does this read need the lock?",
    doc="""\
## unlocked-read

**What it finds.** A plain read of a field guarded by a lock, made where that lock is not
held (also a list head looked at through `list_empty()`, `list_first_entry()`, ...).
Reads marked as intentionally lockless (`READ_ONCE()`, `data_race()`,
`smp_load_acquire()`) or made in the condition of a `wait_event()` (evaluated again after
every wake-up), reads inside assertions (`WARN_ON()`), `test_bit()` (atomic) and reads in
functions that run while the object is not shared (`*_open`, `*_release`,
`*_evict*`, ...) are not reported, nor are reads of a field that is only written while the
object is not shared (set up once, then read only). A read that decides a locked change of
the same field is reported as `check-then-act` instead. A function that reads a field
without its lock at several lines gets one finding, naming them all.

Against the base (with a tree), also a read the series moves out of the lock every site of
it held before (a lock taken later, a test hoisted out of the critical section), guard or
no guard; an RCU read section is not a field's lock.

**Why it matters.** The compiler may tear, fuse or re-load a plain read that races with a
locked writer, and the value can be stale by the time it is used. Either take the lock or
say that the race is fine with `READ_ONCE()` (and `WRITE_ONCE()` on the writer side).

**Example.**

```c
if (fi->iocachectr > 0)     /* reported: fi->lock guards iocachectr */
        return -ETXTBSY;
```

In hunk-only mode, a read where the lock state is not visible is never reported.

**Silence it** with `/* reviewbot: ignore[unlocked-read] */` on the line or the line above,
a `READ_ONCE()` when the race is intended, or a `[[suppress]]` entry with
`rule = "unlocked-read"` in `.reviewbot.toml` (its `subject` names the field, or the lock a
read lost).
""",
)


def check(ctx: CheckContext) -> Iterator:
    yield from differential.over_unlocked(RULE, ctx, list(_unlocked(ctx)), partial(_reads_unlocked_now, ctx),
                                          skip=ctx.knowledge.is_exclusive)


def _reads_unlocked_now(ctx: CheckContext, fn, before) -> Iterator:
    """Reads the series moved out of their lock, but not those in an assertion or deciding a
    locked change (check-then-act reports those)."""
    conditions = {c.id: c for c in fn.conditions}
    for regression in differential.unlocked_now(fn, before, READ_OPS):
        key = regression.access.key
        cond = conditions.get(regression.access.in_condition)
        if cond is not None and (is_assertion(cond) or ctx.knowledge.guard(key) is not None
                                 and gated_changes(ctx, fn, key, regression.lock, cond)):
            continue
        yield regression


def _unlocked(ctx: CheckContext) -> Iterator:
    # a field nobody writes while it is shared (set up once, then only read) needs no lock;
    # a guard named by a profile or the config says that writers exist, maybe out of view
    shared_writes = {access.key for fn in ctx.all_functions() if not ctx.knowledge.is_exclusive(fn)
                     for access in fn.accesses if access.op in WRITE_OPS and not access.fresh}
    for fn in ctx.functions():
        if ctx.knowledge.is_exclusive(fn):
            continue
        # one finding per field a function reads without its lock, naming every such read: a
        # patch that adds a read of a field the function already read unlocked at the base (or
        # takes another lock around it) has not made anything new
        unlocked: dict[str, tuple] = {}  # key -> (guard, the reads made without it)
        conditions = {c.id: c for c in fn.conditions}
        for read in fn.accesses:
            if read.op != READ or read.fresh or read.marks & ACCESS_MARKS:
                continue
            cond = conditions.get(read.in_condition)
            if cond is not None and is_assertion(cond):
                continue
            guard = missing_guard(ctx, read)
            if guard is None:
                continue
            if guard.source == "inferred" and read.key not in shared_writes:
                continue
            if _tested_lockless_elsewhere(ctx, fn, read, guard.lock):
                continue
            if cond is not None and gated_changes(ctx, fn, read.key, guard.lock, cond):
                continue  # check-then-act reports it
            unlocked.setdefault(read.key, (guard, []))[1].append(read)
        for guard, reads in unlocked.values():
            finding = unlocked_finding(RULE, fn, reads[0], guard, "reads")
            finding.evidence[1:1] = [f"{fn.file}:{read.line}: also read here, holding "
                                     f"{describe_locks(read.locks)}" for read in reads[1:]]
            yield finding, guard.lock


def _tested_lockless_elsewhere(ctx: CheckContext, fn, read, lock: str) -> bool:
    """A test of one bit of a flag word (`fl->flags & FOO_READY`) that other functions make
    without the lock too, and no one makes under it: the code treats that bit as stable (set
    before the object is shared, cleared when it goes away) whatever the word's other bits
    need. A bit tested under the lock elsewhere is still reported."""
    if not read.value:
        return False
    tests = [(other, access) for other, access in ctx.sites(read.key, {READ})
             if access.value == read.value and not ctx.knowledge.is_exclusive(other)]
    return any(other.name != fn.name for other, _ in tests) and \
        not any(lock in access.locks for _, access in tests)
