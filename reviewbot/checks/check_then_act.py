"""check-then-act: an unlocked test of a guarded field decides a locked change of that field."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from reviewbot.c.apis import ACCESS_MARKS, ASSERTIONS
from reviewbot.c.model import READ_OPS, WRITE_OPS, Condition, FunctionFacts
from reviewbot.checks import CheckContext, Rule, describe_locks, lock_unknown, make_finding, type_guess
from reviewbot.knowledge.config import source_label

RULE = Rule(
    name="check-then-act",
    severity="high",
    summary="an unlocked test of a guarded field decides a change of it under its lock",
    doc="""\
## check-then-act

**What it finds.** A read of a lock-guarded field made without its lock (`READ_ONCE()`
included) whose result decides a branch or a call that then changes the same field under
the lock, with no second look at the field once the lock is held. A `WARN_ON()` in the
locked part documents an expectation; it is not a re-check.

**Why it matters.** Between the test and the lock, another thread can make the same test,
and both go on to change the field: a state machine steps twice, a counter is taken twice,
or the `WARN_ON` fires. The lock protects the change, not the decision.

**Example.**

```c
if (READ_ONCE(ff->iomode) != IOM_CACHED)    /* no fi->lock here */
        fuse_file_cached_io_open(inode, ff); /* takes fi->lock, sets ff->iomode */
```

Two concurrent `mmap()` calls both see `IOM_NONE`. Fix it by testing under the lock
(inside the helper), or by testing again once the lock is held.

In hunk-only mode the lock state where a hunk starts is not visible: the rule then reports
only reads marked lockless (`READ_ONCE`, `data_race`) of fields whose guard comes from a
profile, the configuration or an assertion, and says so in the evidence.

**Silence it** with `/* reviewbot: ignore[check-then-act] */` on the line or the line above,
or a `[[suppress]]` entry with `rule = "check-then-act"` in `.reviewbot.toml`.
""",
)

# helpers are followed this deep when looking for the locked change behind a call
_CALL_DEPTH = 2


@dataclass(frozen=True)
class Change:
    """A change of the tested field that the test decides."""

    function: FunctionFacts  # where the change is made
    line: int
    text: str
    via: str | None  # the call (made under the test) that leads to it, None when direct
    lock_seen: bool  # the lock is held in view; else the hunks don't show it (guard documented)


def check(ctx: CheckContext) -> Iterator:
    for fn in ctx.functions():
        if ctx.knowledge.is_exclusive(fn):
            continue
        conditions = {c.id: c for c in fn.conditions}
        for read in fn.accesses:
            cond = conditions.get(read.in_condition)
            if read.op not in READ_OPS or read.fresh or cond is None or is_assertion(cond):
                continue
            guard = ctx.knowledge.guard(read.key)
            if guard is None or guard.lock in read.locks:
                continue
            unknown = lock_unknown(read.locks)
            if unknown and not (read.marks & ACCESS_MARKS and guard.source != "inferred"):
                # the lock may be held above the hunk: no evidence it is not
                continue
            changes = gated_changes(ctx, fn, read.key, guard.lock, cond)
            if not changes:
                continue
            first = changes[0]
            target = f"{first.via}()" if first.via else "the branch"
            message = (f"`{read.text or read.key}` is tested without `{guard.lock}`, then "
                       f"{target} changes it under the lock without testing it again")
            held = ("where the hunk does not show which locks are held" if unknown
                    else f"holding {describe_locks(read.locks)}")
            evidence = [f"{fn.file}:{read.line}: `{read.text or read.key}` is read {held}; "
                        f"it decides `{cond.text}`"]
            for change in changes:
                how = f" (called at line {_call_line(fn, change.via, cond)})" if change.via else ""
                under = "under" if change.lock_seen else "where the hunks don't show the lock; guarded by"
                assertion = _assertion_before(change.function, read.key, change.line)
                note = f" (`{assertion}` there is an assertion, not a re-check)" if assertion else ""
                evidence.append(f"{change.function.file}:{change.line}: {change.function.name}(){how} "
                                f"changes `{read.key}` (`{change.text}`) {under} `{guard.lock}`, "
                                f"with no re-check of it under the lock{note}")
            evidence.append(guard.describe())
            if unknown:
                evidence.append(
                    f"hunk-only: the lock state at line {read.line} is not in the hunks; "
                    f"{'/'.join(sorted(read.marks & ACCESS_MARKS))} marks the read lockless, and "
                    f"`{guard.lock}` guarding `{read.key}` comes from the {source_label(guard.source)}")
            evidence += type_guess(read)
            yield make_finding(RULE, fn, read.line, message, evidence, read.key)


def is_assertion(cond: Condition) -> bool:
    return cond.assertion or any(f"{name}(" in cond.text for name in ASSERTIONS)


def gated_changes(ctx: CheckContext, fn: FunctionFacts, key: str, lock: str,
                  cond: Condition) -> list[Change]:
    """Changes of `key` under `lock` that the condition `cond` of `fn` decides, directly or
    through the calls it guards, and that nothing re-checks under the lock."""
    changes = [Change(fn, w.line, w.text or w.op, None, lock in w.locks)
               for w in _locked_unchecked_writes(ctx, fn, key, lock)
               if cond.id in w.guards]
    for call in fn.calls:
        if cond.id not in call.guards or lock in call.locks:
            continue
        callee = ctx.function(call.name, near=fn)
        for target, w in _changes_in(ctx, callee, key, lock, _CALL_DEPTH, {fn.name}):
            changes.append(Change(target, w.line, w.text or w.op, call.name, lock in w.locks))
    return changes


def _changes_in(ctx: CheckContext, fn: FunctionFacts | None, key: str, lock: str, depth: int,
                seen: set[str]) -> Iterator[tuple[FunctionFacts, object]]:
    if fn is None or fn.name in seen or depth == 0:
        return
    seen.add(fn.name)
    if lock in fn.annotations.get("must_hold", ()):
        return  # the helper expects its caller to hold the lock: a different question
    for w in _locked_unchecked_writes(ctx, fn, key, lock):
        yield fn, w
    for call in fn.calls:
        if lock not in call.locks:
            yield from _changes_in(ctx, ctx.function(call.name, near=fn), key, lock, depth - 1, seen)


def _locked_unchecked_writes(ctx: CheckContext, fn: FunctionFacts, key: str, lock: str):
    """Writes of `key` in `fn` made under `lock` (or where the lock state is not visible and
    the guard is documented) with no re-check before them: a locked read of `key` in a real
    condition (not an assertion) that guards the write or comes before it (an early exit)."""
    conditions = {c.id: c for c in fn.conditions}
    rechecks = [r for r in fn.accesses
                if r.key == key and r.op in READ_OPS and r.in_condition in conditions
                and not is_assertion(conditions[r.in_condition])
                and (lock in r.locks or lock_unknown(r.locks))]
    documented = ctx.knowledge.guard(key).source != "inferred"
    for w in fn.accesses:
        if w.key != key or w.op not in WRITE_OPS:
            continue
        if not (lock in w.locks or (lock_unknown(w.locks) and documented)):
            continue
        if any(r.in_condition in w.guards or r.line < w.line for r in rechecks):
            continue
        yield w


def _assertion_before(fn: FunctionFacts, key: str, line: int) -> str | None:
    """The text of an assertion on `key` made before `line` in `fn`, if there is one."""
    conditions = {c.id: c for c in fn.conditions}
    for access in fn.accesses:
        cond = conditions.get(access.in_condition)
        if access.key == key and access.line <= line and cond is not None and is_assertion(cond):
            return cond.text
    return None


def _call_line(fn: FunctionFacts, name: str, cond: Condition) -> int:
    return next(c.line for c in fn.calls if c.name == name and cond.id in c.guards)
