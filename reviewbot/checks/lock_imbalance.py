"""lock-imbalance: a function returns holding a lock on some paths and not on others."""

from __future__ import annotations

from collections.abc import Iterator

from reviewbot.c.model import ACQUIRE, RELEASE, RET_ERRNO, Exit
from reviewbot.checks import CheckContext, Rule, describe_path, describe_return, make_finding

RULE = Rule(
    name="lock-imbalance",
    severity="high",
    summary="a function returns holding a lock on some paths and not on others",
    doc="""\
## lock-imbalance

**What it finds.** A function that takes a lock and then returns still holding it on some
paths but not on others, where the difference is not what the function promises its
callers: two returns of the same kind (two error returns, two plain returns of a `void`
function) that leave the lock differently, or an error return that keeps a lock the
success path drops.

Not findings: lock wrappers that return holding the lock on every path (`fuse_dio_lock()`),
helpers that release a lock their caller took (or drop and retake it), conditional-acquire
helpers whose success returns hold the lock and whose failure returns don't
(`mutex_lock_interruptible()`-style and trylock-style helpers), functions annotated
`__acquires()`/`__releases()`/`__must_hold()`, and a condition tested twice
(`if (c) lock(); ... if (c) unlock();`), which is one path.

**Why it matters.** The path that keeps the lock deadlocks the next taker; usually it is an
error path added without its `unlock`, or a `return` placed where a `goto out_unlock` was
meant.

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
            message = (f"{fn.name}() returns holding `{lock}` at line {leak.line} but "
                       f"without it at line {free[0].line}")
            op = taken[lock]
            evidence = [f"{fn.file}:{op.line}: `{lock}` taken ({op.api})"]
            evidence += [f"{fn.file}:{e.line}: {describe_return(e)} holding `{lock}`{describe_path(e)}"
                         for e in holding]
            evidence += [f"{fn.file}:{e.line}: {describe_return(e)} without `{lock}`{describe_path(e)}"
                         for e in free]
            if ctx.hunk_only:
                evidence.append(f"hunk-only: the hunks show {fn.name}() from line {first} to its end")
            yield make_finding(RULE, fn, leak.line, message, evidence, lock)


def _released_before(fn, lock: str, line: int) -> bool:
    """Released before it is first taken: the caller holds it on entry, and the function only
    drops and retakes it (the lock state of its returns is the caller's)."""
    return any(op.lock == lock and op.op == RELEASE and op.line < line for op in fn.lock_ops)


def _conditional_acquire(holding: list[Exit], free: list[Exit]) -> bool:
    """Success returns hold the lock, failure returns don't: the helper's contract."""
    held_kinds = {e.value for e in holding}
    free_kinds = {e.value for e in free}
    return held_kinds.isdisjoint(free_kinds) and RET_ERRNO not in held_kinds
