"""lock-imbalance: a function returns holding a lock on some paths and not on others, or
releases one it does not hold."""

from __future__ import annotations

from collections.abc import Iterator

from reviewbot.c.model import ACQUIRE, FAILURES, RELEASE, Exit
from reviewbot.checks import differential
from reviewbot.checks.base import CheckContext, Rule, describe_path, distinct_paths, describe_return, make_finding

RULE = Rule(
    name="lock-imbalance",
    severity="high",
    summary="a function returns holding a lock on some paths and not on others",
    question="Is the lock state on return intended?",
    doc="""\
## lock-imbalance

**What it finds.** A function that takes a lock and then returns still holding it on some
paths but not on others, where the difference is not what the function promises its
callers: two returns of the same kind (two error returns, two plain returns of a `void`
function) that leave the lock differently, or an error return that keeps a lock the
success path drops. With a tree, also a path that releases a lock it does not hold: a
`goto out_unlock` from above the lock, a second unlock.

Not findings: lock wrappers that return holding the lock on every path (`fuse_dio_lock()`),
helpers that release a lock their caller took (or drop and retake it), conditional-acquire
helpers whose success returns hold the lock and whose failure returns don't
(`mutex_lock_interruptible()`-style and trylock-style helpers), functions annotated
`__acquires()`/`__releases()`/`__must_hold()`, and a condition tested twice
(`if (c) lock(); ... if (c) unlock();`), which is one path.

Against the base (with a tree), also a path that dropped a lock at the base and, after the
series, returns holding it, or no longer calls the unlock helper it called
(`folio_unlock()`, `release_fault_lock()`).

**Why it matters.** The path that keeps the lock deadlocks the next taker; usually it is an
error path added without its `unlock`, or a `return` placed where a `goto out_unlock` was
meant. Releasing a lock not held corrupts it (or releases someone else's hold).

**Example.**

```c
spin_lock(&fi->lock);
if (fi->iocachectr > 0)
        return -ETXTBSY;        /* reported: returns holding fi->lock */
fi->iocachectr--;
spin_unlock(&fi->lock);
return 0;
```

In hunk-only mode a function is checked when the hunks show it from the first acquire of
the lock to its end.

**Silence it** with `/* reviewbot: ignore[lock-imbalance] */` on the return line or the line
above, an `__acquires()` annotation when returning locked is the contract, or a
`[[suppress]]` entry with `rule = "lock-imbalance"` in `.reviewbot.toml`.
""",
)


def check(ctx: CheckContext) -> Iterator:
    found = list(_imbalances(ctx))
    yield from found
    yield from differential.findings(RULE, ctx, found, _lost_unlocks)


def _lost_unlocks(fn, before) -> Iterator:
    """Locks the series no longer drops on a path: known lock APIs, and unlock calls known by
    their name (`folio_unlock()`, `release_fault_lock()`)."""
    yield from differential.lost_unlocks(fn, before)
    yield from differential.lost_releases(fn, before, "lock")


def _imbalances(ctx: CheckContext) -> Iterator:
    for fn in ctx.functions():
        annotated = {lock for kind in ("acquires", "releases", "must_hold")
                     for lock in fn.annotations.get(kind, ())}
        taken = {op.lock: op for op in reversed(fn.lock_ops) if op.op == ACQUIRE}
        for lock in sorted(set(taken) - annotated):
            # every return after the first acquire must be in view (hunk-only: the hunks show
            # the function from there to its end); returns before it cannot hold the lock
            first = taken[lock].line
            if not ctx.known_from(fn, first) or _released_before(fn, lock, first):
                continue
            after = [e for e in fn.exits if e.line >= first]
            holding = [e for e in after if lock in e.locks]
            free = [e for e in after if lock not in e.locks]
            if not holding or not free or _conditional_acquire(holding, free):
                continue
            leak = holding[0]
            elsewhere = [e for e in free if e.line != leak.line]
            if elsewhere:
                message = (f"{fn.name}() returns holding `{lock}` at line {leak.line} but "
                           f"without it at line {elsewhere[0].line}")
            else:  # paths joining at one return (a goto to a cleanup label) differ in what they hold
                message = (f"{fn.name}() returns at line {leak.line} holding `{lock}` on one path"
                           f"{describe_path(leak)}, without it on the others that reach that return")
            op = taken[lock]
            evidence = [f"{fn.file}:{op.line}: `{lock}` taken ({op.api})"]
            evidence += [f"{fn.file}:{e.line}: {describe_return(e)} holding `{lock}`{describe_path(e)}"
                         for e in distinct_paths(holding)]
            evidence += [f"{fn.file}:{e.line}: {describe_return(e)} without `{lock}`{describe_path(e)}"
                         for e in distinct_paths(free)]
            if ctx.hunk_only:
                evidence.append(f"hunk-only: the hunks show {fn.name}() from line {first} to its end")
            yield make_finding(RULE, fn, leak.line, message, evidence, lock)
        yield from _unheld_releases(ctx, fn, annotated)


def _unheld_releases(ctx: CheckContext, fn, annotated: set) -> Iterator:
    """A path that releases a lock it does not hold (a goto to the unlock from before the
    lock, a second unlock). Left out: hunk-only mode (callers not in view may hold it), locks
    the function's contract says its caller holds (annotated, asserted, held by every caller,
    released on every path like an unlock helper), locks a callee takes, releases or needs,
    and locks whose own operations the paths cannot follow exactly."""
    if ctx.hunk_only or not fn.complete:
        return
    summary = ctx.program.summaries.get(f"{fn.file}:{fn.name}") or ctx.program.summaries.get(fn.name)
    contract = annotated | (summary.must_hold | summary.releases if summary is not None else set())
    contract |= _moved_by_callees(ctx, fn)
    reported = set()
    for lock, exit_ in fn.unheld_releases:
        ops = [op for op in sorted(fn.lock_ops, key=lambda op: op.line)
               if op.lock == lock and op.op in (ACQUIRE, RELEASE)]
        if lock in contract or lock in reported or not _one_lock_at_a_time(ops):
            continue
        reported.add(lock)
        message = f"{fn.name}() releases `{lock}` on a path that does not hold it"
        evidence = [f"{fn.file}:{op.line}: `{lock}` {'taken' if op.op == ACQUIRE else 'released'} ({op.api})"
                    for op in ops]
        evidence.append(f"{fn.file}:{exit_.line}: {describe_return(exit_)} after releasing `{lock}` "
                        f"without holding it{describe_path(exit_)}")
        yield make_finding(RULE, fn, exit_.line, message, evidence, lock)


def _released_before(fn, lock: str, line: int) -> bool:
    """Released before it is first taken: the caller holds it on entry, and the function only
    drops and retakes it (the lock state of its returns is the caller's)."""
    return any(op.lock == lock and op.op == RELEASE and op.line < line for op in fn.lock_ops)


def _conditional_acquire(holding: list[Exit], free: list[Exit]) -> bool:
    """Success returns hold the lock, failure returns don't: the helper's contract."""
    held_kinds = {e.value for e in holding}
    free_kinds = {e.value for e in free}
    return held_kinds.isdisjoint(free_kinds) and held_kinds.isdisjoint(FAILURES)


def _one_lock_at_a_time(ops: list) -> bool:
    """The lock's operations (in line order) show its state on every path: taken before any
    release, unconditionally (not under a branch, whose test may be repeated in a way the
    paths do not correlate, nor a trylock, nor in a loop, which the paths walk once), and
    one object at a time (no second take before a release, no two releases on adjacent lines:
    two objects of one type, which the facts key alike)."""
    return bool(ops) and ops[0].op == ACQUIRE and \
        not any(op.in_loop or (op.op == ACQUIRE and (op.guards or op.conditional)) for op in ops) and \
        not any(a.op == b.op == ACQUIRE or (a.op == b.op == RELEASE and b.line == a.line + 1)
                for a, b in zip(ops, ops[1:]))


def _moved_by_callees(ctx: CheckContext, fn) -> set:
    """Locks the function's callees take, release or need held: what a callee does to a lock
    may depend on what its caller holds in ways its summary does not tell, so only locks the
    function alone handles are judged."""
    found = set()
    for call in fn.calls:
        summary = ctx.program.summaries.get(call.name)
        if summary is None:
            continue
        found |= summary.acquires | summary.releases | summary.conditional | summary.must_hold
        if summary.call_effect is not None:
            for outcome in (summary.call_effect.ok, summary.call_effect.fail):
                found |= outcome.acquires | outcome.releases
    return found
