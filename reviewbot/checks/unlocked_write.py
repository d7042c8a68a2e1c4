"""unlocked-write: a write of a lock-guarded field without its lock."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from reviewbot.c.apis import COUNTER_APIS
from reviewbot.c.model import WRITE_OPS
from reviewbot.checks import differential
from reviewbot.checks.base import CheckContext, Rule, missing_guard, unlocked_finding

RULE = Rule(
    name="unlocked-write",
    severity="high",
    summary="a write of a lock-guarded field without its lock",
    question="Does this write need the lock?",
    doc="""\
## unlocked-write

**What it finds.** A store, increment, decrement or bit change of a field (also a list
insertion or removal, `list_del(&x->node)`, and an RCU pointer update,
`rcu_assign_pointer(x->p, v)`) that is guarded by a lock (inferred from where the code accesses it under that lock, asserted with
`lockdep_assert_held()`/`__must_hold()`, or named by a profile or `.reviewbot.toml`), made
where that lock is not held. Functions that run while the object is not shared (`*_open`,
`*_release`, `*_evict*`, `*_init`, `*_alloc`, `*_free`, `*_destroy`, `*_fill_super*`,
configurable), objects just allocated and the function's own struct variables are not reported. Atomic counter APIs (`atomic_inc()`,
`refcount_dec()`, ...) need no lock and are not reported either.

Against the base (with a tree), also a write the series moves out of the lock every site of
it held before (a lock taken later, a test hoisted out of the critical section), guard or
no guard; an RCU read section is not a field's lock.

**Why it matters.** Every other writer takes the lock, so readers under the lock assume
the field cannot change under them. One unlocked writer breaks that for all of them: lost
updates, torn state transitions, counters that drift.

**Example.**

```c
spin_lock(&fi->lock);
fi->iocachectr++;           /* guarded everywhere else */
spin_unlock(&fi->lock);
...
fi->iocachectr--;           /* reported: fi->lock is not held */
```

In hunk-only mode, a write where the lock state is not visible (above the first line of a
hunk) is never reported.

**Silence it** with `/* reviewbot: ignore[unlocked-write] */` on the line or the line above,
or a `[[suppress]]` entry with `rule = "unlocked-write"` in `.reviewbot.toml` (its `subject`
names the field, or the lock a write lost).
""",
)


def check(ctx: CheckContext) -> Iterator:
    yield from differential.over_unlocked(RULE, ctx, list(_unlocked(ctx)),
                                          partial(differential.unlocked_now, ops=WRITE_OPS),
                                          skip=ctx.knowledge.is_exclusive)


def _unlocked(ctx: CheckContext) -> Iterator:
    for fn in ctx.functions():
        if ctx.knowledge.is_exclusive(fn):
            continue
        for write in fn.accesses:
            if write.op not in WRITE_OPS or write.fresh or write.value in COUNTER_APIS:
                continue
            guard = missing_guard(ctx, write)
            if guard is not None:
                yield unlocked_finding(RULE, fn, write, guard, "writes"), guard.lock
