"""What a branch condition decides: the changes of a field, under its lock, that a test of the
field leads to (directly, or through the calls it guards), with no re-check under the lock.
Shared by check-then-act, which reports such a test made without the lock, and unlocked-read,
which leaves those reads to it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from reviewbot.c.apis import ASSERTIONS
from reviewbot.c.model import READ_OPS, WRITE_OPS, Condition, FunctionFacts
from reviewbot.checks.base import CheckContext, lock_unknown

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
