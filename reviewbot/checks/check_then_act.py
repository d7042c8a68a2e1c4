"""check-then-act: an unlocked test of a guarded field decides a locked change of that field."""

from __future__ import annotations

from collections.abc import Iterator

from reviewbot.c.apis import ACCESS_MARKS
from reviewbot.c.model import READ_OPS, Condition, FunctionFacts
from reviewbot.checks.base import (CheckContext, Rule, describe_locks, lock_unknown, make_finding,
                                   type_guess)
from reviewbot.checks.gating import gated_changes, is_assertion
from reviewbot.knowledge.config import source_label

RULE = Rule(
    name="check-then-act",
    severity="high",
    summary="an unlocked test of a guarded field decides a change of it under its lock",
    question="Can this check race with a concurrent change?",
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
