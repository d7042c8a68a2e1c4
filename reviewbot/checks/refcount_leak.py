"""refcount-leak: a path that takes a reference or moves a counter and returns without the
matching release, while the function's other paths release it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

from reviewbot.c.model import DEC, FAILURES, GET, INC, PUT, REFERENCE_KEY, Exit, FunctionFacts
from reviewbot.c.summaries import ACQUIRE_SENSES, NEVER_FAIL
from reviewbot.checks import differential
from reviewbot.checks.base import CheckContext, Rule, describe_path, distinct_paths, describe_return, make_finding

RULE = Rule(
    name="refcount-leak",
    severity="high",
    summary="a return path keeps a reference or a counter move that the other paths undo",
    question="Does this path leak a reference?",
    doc="""\
## refcount-leak

**What it finds.** A function that takes a reference or moves a counter, and returns on one
path without giving it back while its other paths do. Two kinds of evidence count:

- a counter the function moves (`++`, `--`, `refcount_inc()`, ..., directly or through a
  helper whose effects are known): an error return leaves it moved while another return
  after the same move leaves it where it was;
- a reference API pair (`igrab()`/`iput()`, `dget()`/`dput()`, `kmalloc()`/`kfree()`,
  `get_file()`/`fput()`, ... and the `[references]` of `.reviewbot.toml`): a path that
  called the acquire and saw it succeed returns an error without the release, while another
  path releases it. A path that hands the object to another call first is not reported: that
  callee may own it now.
- an acquire whose result is only tested (`if (of_find_compatible_node(...))`): the object
  it returns is kept nowhere, so its reference can never be released.

Only error returns are reported: a function that keeps or returns the reference it took on
success (a constructor, a `get` or `open` helper) is fine.

Against the base (with a tree), also what the series makes worse, whatever the API: a path
that called a release at the base (`*_put`, `*_free`, `brelse`, `*_unregister`,
`*_disable`, ... by name, or a put of a reference count) and no longer does, and a new
return that skips the release every base path made after the same acquire. A lost unlock
helper is lock-imbalance's, a lost `*_stop()`, `*_end()` or `*_restore()` state-imbalance's.

**Why it matters.** The leaked reference keeps an object alive forever (or a mode counter
off zero, so the inode never leaves the mode). Error paths are where releases get lost,
and they are the paths tests rarely run.

**Example.**

```c
fi->iocachectr++;
err = setup(fi);
if (err)
        return err;             /* reported: iocachectr stays raised */
...
fi->iocachectr--;
return 0;
```

In hunk-only mode only functions the hunks show whole are checked.

**Silence it** with `/* reviewbot: ignore[refcount-leak] */` on the return line or the line
above, or a `[[suppress]]` entry with `rule = "refcount-leak"` in `.reviewbot.toml`.
""",
)

_UP_OPS = frozenset({INC, GET})
_DOWN_OPS = frozenset({DEC, PUT})


def check(ctx: CheckContext) -> Iterator:
    found = []
    for fn in ctx.functions():
        if not ctx.fully_known(fn):
            continue
        for finding in (*_counter_leaks(ctx, fn), *_reference_leaks(ctx, fn), *_unkept_references(ctx, fn)):
            if ctx.hunk_only:
                finding.evidence.append(f"hunk-only: the hunks show all of {fn.name}()")
            found.append(finding)
    yield from found
    yield from differential.findings(RULE, ctx, found, partial(_lost_releases, ctx))


def _lost_releases(ctx: CheckContext, fn: FunctionFacts, before: FunctionFacts) -> Iterator:
    """Releases the series took off a path: calls, and puts of a reference-like counter."""
    yield from differential.lost_releases(fn, before, "reference")
    yield from (r for r in differential.lost_resets(fn, before) if differential.reference_like(ctx, r.subject))


def _counter_leaks(ctx: CheckContext, fn: FunctionFacts) -> Iterator:
    for key, moves in sorted(_moves(ctx, fn).items()):
        first_move = min(moves)
        after = [e for e in fn.exits if e.line > first_move]
        released = [e for e in after if not dict(e.deltas).get(key)]
        leaking = [e for e in after if dict(e.deltas).get(key) and e.value in FAILURES
                   and _moved_for_sure(ctx, e, moves)]
        if not released or not leaking:
            continue
        leak = leaking[0]
        amount = dict(leak.deltas)[key]
        message = (f"{fn.name}() returns at line {leak.line} with `{key}` moved by {amount:+d}; "
                   f"its other paths put it back")
        evidence = [f"{fn.file}:{line}: {move.what} moves `{key}` {'up' if move.sign > 0 else 'down'}"
                    for line, move in sorted(moves.items())]
        evidence.append(f"{fn.file}:{leak.line}: {describe_return(leak)} with `{key}` "
                        f"{amount:+d}{describe_path(leak)}")
        evidence += [f"{fn.file}:{e.line}: {describe_return(e)} with `{key}` unchanged{describe_path(e)}"
                     for e in distinct_paths(released)]
        yield make_finding(RULE, fn, leak.line, message, evidence, key)


@dataclass(frozen=True)
class Move:
    sign: int  # +1 up, -1 down
    what: str  # the access or the call, for evidence
    call: str | None = None  # the helper called, when the move is a call


def _moves(ctx: CheckContext, fn: FunctionFacts) -> dict[str, dict[int, Move]]:
    """Reference-like counter -> {line: Move} of the moves `fn` makes itself or by calling one
    side of a known pair (a `start`/`end`, `get`/`put` helper). Reference-like: moved through
    refcount/kref/get/put APIs, or the field of a pair whose effects cancel; a cursor or a
    statistic is not. A counter some other helper moves as a side effect is left out: the
    exits' net movement could not tell its moves apart."""
    pair_sides = {name for pair in ctx.knowledge.pairs for name in (pair.acquire_fn, pair.release_fn)}
    moves: dict[str, dict[int, Move]] = {}
    for access in fn.accesses:
        # the count of an object the function allocated is its own: the last put frees it
        if access.op in _UP_OPS | _DOWN_OPS and ctx.reference_like(access.key) and not access.fresh:
            sign = 1 if access.op in _UP_OPS else -1
            moves.setdefault(access.key, {})[access.line] = Move(sign, f"`{access.text or access.op}`")
    side_effects = set()
    for call in fn.calls:
        summary = ctx.program.summaries.get(call.name)
        effects = summary.effects.values() if summary else ()
        moved = {key for effect in effects for key, amount in effect.items() if amount}
        if call.name not in pair_sides:
            side_effects |= moved
            continue
        for key in filter(ctx.reference_like, moved):
            sign = 1 if any(effect.get(key, 0) > 0 for effect in effects) else -1
            moves.setdefault(key, {})[call.line] = Move(sign, f"{call.name}()", call.name)
    return {key: found for key, found in moves.items()
            if not key.startswith(REFERENCE_KEY) and key not in side_effects}


def _moved_for_sure(ctx: CheckContext, exit: Exit, moves: dict[int, Move]) -> bool:
    """A helper that can fail moved the counter on this path only if a branch saw it succeed."""
    outcomes = {(name, line): outcome for name, line, outcome in exit.calls}
    for line, move in moves.items():
        if move.call is None or (move.call, line) not in outcomes:
            continue
        summary = ctx.program.summaries.get(move.call)
        can_fail = summary is not None and summary.call_effect is not None and not summary.call_effect.uniform
        if outcomes[(move.call, line)] == "ok" or not can_fail:
            return True
    return any(move.call is None for move in moves.values())


def _reference_leaks(ctx: CheckContext, fn: FunctionFacts) -> Iterator:
    # helpers that return a reference are left out: which object a later release frees is
    # not in the facts, and such helpers often come with their own free function
    called = {name for exit in fn.exits for name, _, _ in exit.calls}
    pairs = ctx.knowledge.config.reference_pairs
    for acquire, release in sorted((name, pairs[name]) for name in called & pairs.keys()):
        took = [e for e in fn.exits if _took(e, acquire)]
        released = [e for e in took if _released(e, acquire, release)]
        leaking = [e for e in took if e not in released and e.value in FAILURES
                   and not _handed_over(fn, e, released, release)]
        if not released or not leaking:
            continue
        leak = leaking[0]
        line = next(line for name, line, outcome in leak.calls if name == acquire)
        message = (f"{fn.name}() returns at line {leak.line} without {release}() "
                   f"for the {acquire}() at line {line}; its other paths call it")
        evidence = [f"{fn.file}:{line}: {acquire}() takes a reference, released by {release}()",
                    f"{fn.file}:{leak.line}: {describe_return(leak)} without {release}(){describe_path(leak)}"]
        evidence += [f"{fn.file}:{e.line}: {describe_return(e)} after {release}(){describe_path(e)}"
                     for e in distinct_paths(released)]
        yield make_finding(RULE, fn, leak.line, message, evidence, acquire)


def _unkept_references(ctx: CheckContext, fn: FunctionFacts) -> Iterator:
    """An acquire whose result is only tested (`if (of_find_node_by_name(...))`): nothing
    holds the object it returns, so nothing can ever release it. Acquires that answer 0 or
    an error code, or hand back the pointer they were given (`get_device(dev)`), are not."""
    pairs = ctx.knowledge.config.reference_pairs
    tested = {_squashed(cond.text) for cond in fn.conditions}
    for call in fn.calls:
        if call.name not in pairs or call.name in NEVER_FAIL or call.name in ACQUIRE_SENSES:
            continue
        text = _squashed(f"{call.name}({', '.join(call.args)})")
        if text in tested or f"!{text}" in tested:
            release = pairs[call.name]
            message = (f"{fn.name}() tests what {call.name}() returns at line {call.line} and keeps "
                       f"it nowhere: the reference it takes is never given back with {release}()")
            evidence = [f"{fn.file}:{call.line}: `{call.name}({', '.join(call.args)})` is a test; "
                        f"its object is not stored, so no {release}() can follow"]
            # named by the release it can never have: what the differential review says too
            yield make_finding(RULE, fn, call.line, message, evidence, release)


def _squashed(text: str) -> str:
    return "".join(text.split())


def _handed_over(fn: FunctionFacts, leak: Exit, released: list[Exit], release: str) -> bool:
    """The leaking path passes the object (the variable the other paths release) to a call
    the releasing paths don't make: that callee may own it now (`sget(..., v9ses)`)."""
    owners = {call.args[0] for call in fn.calls if call.name == release and call.args}
    common = {(name, line) for e in released for name, line, _ in e.calls}
    args = {(call.name, call.line): call.args for call in fn.calls}
    return any(_mentions(arg, owner) for name, line, _ in leak.calls if (name, line) not in common
               for arg in args.get((name, line), ()) for owner in owners)


def _mentions(expression: str, variable: str) -> bool:
    """Whether `variable` occurs as a whole identifier in an argument's text."""
    words = "".join(c if c.isalnum() or c == "_" else " " for c in expression).split()
    return variable in words


def _took(exit: Exit, acquire: str) -> bool:
    """The path called `acquire` and a branch saw it succeed (an unchecked result, or one
    checked through a field the facts cannot follow, proves nothing)."""
    return any(name == acquire and outcome == "ok" for name, _, outcome in exit.calls)


def _released(exit: Exit, acquire: str, release: str) -> bool:
    taken = min(line for name, line, outcome in exit.calls if name == acquire and outcome == "ok")
    return any(name == release and line > taken for name, line, _ in exit.calls)
