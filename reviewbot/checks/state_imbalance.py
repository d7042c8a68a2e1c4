"""state-imbalance: paired operations whose effects don't cancel, a flag bit set and cleared
nowhere, a counter the series leaves moved one way only."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from reviewbot.c.model import (REFERENCE_KEY, ADD, ASSIGN, CLEAR_BIT, DEC, FAILURES, GET, INC, PUT, SET_BIT, SUB,
                               READ_OPS, TEST_AND_CLEAR_BIT, TEST_AND_SET_BIT, TEST_BIT, WRITE, WRITE_OPS,
                               FunctionFacts)
from reviewbot.checks import differential
from reviewbot.checks.base import CheckContext, Rule, make_finding
from reviewbot.checks.gating import is_assertion
from reviewbot.knowledge.pairs import name_pairs

RULE = Rule(
    name="state-imbalance",
    severity="medium",
    summary="paired operations whose effects don't cancel; a flag set and never cleared",
    question="Where is this undone?",
    doc="""\
## state-imbalance

**What it finds.** State that is moved one way and never moved back:

- a flag bit that is set (`set_bit()`, `test_and_set_bit()`) and cleared nowhere in the
  analysed files (in hunk-only mode: in what the hunks show), where before the series it
  was either not used or cleared somewhere; but not a bit only ever tested and set at once
  (`if (test_and_set_bit(...))`) where finding it set is no failure: that makes something
  happen once in the object's life;
- a tracked counter that before the series was moved both ways in the analysed code and
  after a patch is only moved one way;
- a pair of functions (named as a pair: a verb pair in their names such as `start`/`end`,
  `open`/`release`, `get`/`put`, defined in one file, or a pair named in `.reviewbot.toml`)
  where the second does not undo what the first does: a reference-like counter the first
  moves that the second leaves alone, a bit the first sets that the second never clears, a
  state field the first changes (`ff->iomode = IOM_UNCACHED`) that the second asserts
  (`WARN_ON(ff->iomode != IOM_UNCACHED)`) or that goes with the counter the two cancel, but
  never resets; directly or through the helpers they call.

Against the base (with a tree), also a path that put a flag bit, a counter or a field it
changed back at the base (a saved value stored back, a state set back) and, after the
series, leaves it set, moved or changed, or no longer calls what ended a state or restored
a context there (`hid_hw_stop()`, `memalloc_nofs_restore()`, `*_end()`).

**Why it matters.** An "end" that restores the counter but not the state field its "start"
changed leaves the object in a mode nobody leaves again; a flag nobody clears makes the
next user take the wrong branch (or trips a `WARN_ON` at teardown).

**Example.**

```c
if (keep_fb)
        set_bit(FUSE_I_BACKING, &fi->state);   /* reported: nothing clears it */
```

Pair comparisons need both functions (and the helpers they call) in full view: in hunk-only
mode only functions the hunks show whole are compared.

**Silence it** with `/* reviewbot: ignore[state-imbalance] */` on the reported line or the
line above, or a `[[suppress]]` entry with `rule = "state-imbalance"` (and `subject` = the
field key) in `.reviewbot.toml`.
""",
)

SETS = frozenset({SET_BIT, TEST_AND_SET_BIT})
CLEARS = frozenset({CLEAR_BIT, TEST_AND_CLEAR_BIT})
UPS = frozenset({INC, ADD, GET})
DOWNS = frozenset({DEC, SUB, PUT})
STATE_CHANGES = frozenset({ASSIGN, WRITE})
# helpers are followed this deep when looking for what one side of a pair changes
_CALL_DEPTH = 2


def check(ctx: CheckContext) -> Iterator:
    uncleared = _uncleared_bits(ctx)
    one_way = _one_way_counters(ctx)
    # a pair is not reported again for what the two above already say
    found = [*_bits_never_cleared(ctx, uncleared), *_counters_one_way(ctx, one_way),
             *_pairs(ctx, uncleared | one_way.keys())]
    yield from found
    yield from differential.findings(RULE, ctx, found, partial(_lost_resets, ctx))


def _lost_resets(ctx: CheckContext, fn: FunctionFacts, before: FunctionFacts) -> Iterator:
    """State the series no longer puts back on a path (references are refcount-leak's)."""
    yield from (r for r in differential.lost_resets(fn, before) if not differential.reference_like(ctx, r.subject))
    yield from differential.lost_releases(fn, before, "state")


def _uncleared_bits(ctx: CheckContext) -> set[str]:
    """The flag bits (of the focus) something sets and nothing clears, but not a latch."""
    return {key for key in ctx.keys() if ctx.judges_key(key) and ctx.sites(key, SETS)
            and not ctx.sites(key, CLEARS) and not _once_latch(ctx, key)}


def _once_latch(ctx: CheckContext, key: str) -> bool:
    """A bit that only ever appears as `if (test_and_set_bit(...))` where finding it set is no
    failure (`return -EBUSY` would be: a busy flag someone must clear) makes something happen
    once in the object's life: staying set until the object goes away is its purpose."""
    sites = ctx.sites(key, WRITE_OPS | READ_OPS)
    if not sites or any(access.op != TEST_AND_SET_BIT or access.in_condition is None
                        for _, access in sites):
        return False
    for fn, access in sites:
        tests = {c.line for c in fn.conditions if c.id == access.in_condition}
        if any(exit.value in FAILURES and tests & set(exit.path) for exit in fn.exits):
            return False
    return True


def _bits_never_cleared(ctx: CheckContext, uncleared: set[str]) -> Iterator:
    base = ctx.base or ctx
    for key in sorted(uncleared):
        before_sets, before_clears = base.sites(key, SETS), base.sites(key, CLEARS)
        if before_sets and not before_clears:
            continue  # one-way before the series too: the clear is out of view, not missing
        sets = ctx.sites(key, SETS)
        fn, first = sets[0]
        bit = key.partition(":")[2]
        message = f"`{bit}` is set in {fn.name}() but nothing clears it"
        evidence = [f"{f.file}:{a.line}: `{a.text or a.op}` sets `{key}` in {f.name}()"
                    for f, a in sets]
        evidence += [f"{f.file}:{a.line}: tested in {f.name}()"
                     for f, a in ctx.sites(key, {TEST_BIT})]
        where = ("in what the hunks show of the touched files (hunk-only)"
                 if ctx.hunk_only else "in the files the series touches")
        evidence.append(f"no clear_bit() or test_and_clear_bit() of `{key}` {where}")
        if not before_sets:
            evidence.append(f"before the series nothing set `{key}`")
        yield make_finding(RULE, fn, first.line, message, evidence, key)


def _one_way_counters(ctx: CheckContext) -> dict[str, bool]:
    """Tracked counters moved both ways at the base and one way only now: key -> moved up."""
    if ctx.base is None:
        return {}
    found = {}
    for key, tracked in sorted(ctx.knowledge.tracked.items()):
        if tracked.kind != "counter" or not ctx.judges_key(key):
            continue
        if not (ctx.base.sites(key, UPS) and ctx.base.sites(key, DOWNS)):
            continue
        ups, downs = ctx.sites(key, UPS), ctx.sites(key, DOWNS)
        if bool(ups) != bool(downs):
            found[key] = bool(ups)
    return found


def _counters_one_way(ctx: CheckContext, one_way: dict[str, bool]) -> Iterator:
    for key, up in sorted(one_way.items()):
        moved = ctx.sites(key, UPS if up else DOWNS)
        fn, first = moved[0]
        missing = "decrements" if up else "increments"
        message = f"`{key}` is only moved one way after this patch: nothing {missing} it any more"
        evidence = [f"{f.file}:{a.line}: `{a.text or a.op}` in {f.name}()" for f, a in moved]
        evidence += [f"before the series: {f.file}:{a.line}: `{a.text or a.op}` in {f.name}()"
                     for f, a in ctx.base.sites(key, DOWNS if up else UPS)]
        yield make_finding(RULE, fn, first.line, message, evidence, key)


def _pairs(ctx: CheckContext, reported: set[str]) -> Iterator:
    for pair in ctx.knowledge.pairs:
        acquire, release = ctx.function(pair.acquire_fn), ctx.function(pair.release_fn)
        if acquire is None or release is None or not _meant_as_pair(ctx, acquire, release):
            continue
        if not _in_focus(ctx, acquire, release):
            continue
        if not (_in_view(ctx, acquire, _CALL_DEPTH) and _in_view(ctx, release, _CALL_DEPTH)):
            continue
        given = _changes(ctx, release, success_only=False)
        asserted = _asserted_keys(ctx, release)
        for key, changes in sorted(_changes(ctx, acquire, success_only=True).items()):
            if key in reported:
                continue
            kinds = {kind for kind, _, _ in given.get(key, ())}
            missing = [(kind, line, text) for kind, line, text in changes
                       if kind in _UNDOES and not _UNDOES[kind] & kinds
                       and _comparable(ctx, kind, key, pair, asserted)]
            if not missing:
                continue
            kind, line, text = missing[0]
            message = (f"{release.name}() does not undo the change of `{key}` that "
                       f"{acquire.name}() makes")
            evidence = [f"pair {acquire.name}() / {release.name}(): {pair.why}",
                        f"{acquire.file}:{line}: `{text}` on the way through {acquire.name}()",
                        f"{release.name}() ({release.file}:{release.start_line}) and the helpers it "
                        f"calls never {_VERB[kind]} `{key}`"]
            if ctx.hunk_only:
                evidence.append("hunk-only: the hunks show both functions, and the helpers they "
                                "call, whole")
            yield make_finding(RULE, release, release.start_line, message, evidence, key)


def _meant_as_pair(ctx: CheckContext, acquire: FunctionFacts, release: FunctionFacts) -> bool:
    """Two functions whose every effect should cancel: named as a pair (a verb pair in their
    names, or the config) and defined side by side in one file. Functions that merely move one
    counter in opposite directions do many other, unrelated things."""
    if ctx.knowledge.config.pairs.get(acquire.name) == release.name:
        return True
    return acquire.file == release.file and bool(name_pairs({acquire.name, release.name}))


def _comparable(ctx: CheckContext, kind: str, key: str, pair, asserted: set[str]) -> bool:
    """Whether the release side is expected to undo this change: a reference-like counter, a
    flag bit, or a state field that travels with the counter the pair cancels or whose value
    the release side asserts (`WARN_ON(ff->iomode != IOM_UNCACHED)`: it knows the state the
    acquire side leaves)."""
    if kind in ("up", "down"):
        return ctx.reference_like(key)
    if kind == "state":
        return pair.key is not None or key in asserted
    return True


def _asserted_keys(ctx: CheckContext, fn: FunctionFacts) -> set[str]:
    found = set()
    for function in _functions(ctx, fn, _CALL_DEPTH, set()):
        conditions = {c.id: c for c in function.conditions}
        found |= {access.key for access in function.accesses
                  if access.in_condition in conditions and is_assertion(conditions[access.in_condition])}
    return found


# what one side does -> what the other side must do for the two to cancel
_UNDOES = {"up": {"down"}, "down": {"up"}, "set": {"clear"}, "state": {"state"}}
_VERB = {"up": "decrement", "down": "increment", "set": "clear", "state": "change"}


def _changes(ctx: CheckContext, fn: FunctionFacts, success_only: bool) -> dict[str, list]:
    """key -> [(kind, line, text)]: counters moved ("up"/"down"), bits set or cleared and
    tracked state fields assigned ("state"). The taking side (success_only) counts only what
    the function does itself, and only on paths that don't return an error: a change made in
    a helper is judged at the helper's own pair. The giving side counts its helpers too."""
    found: dict[str, list] = {}

    def add(key: str, kind: str, line: int, text: str) -> None:
        if not key.startswith(REFERENCE_KEY) and (kind, line, text) not in found.setdefault(key, []):
            found[key].append((kind, line, text))

    for access in fn.accesses if success_only else _accesses(ctx, fn, _CALL_DEPTH, set()):
        kind = _KIND.get(access.op)
        if access.op in STATE_CHANGES:
            tracked = ctx.knowledge.tracked.get(access.key)
            kind = "state" if tracked is not None and tracked.kind == "state" else None
        if kind is not None and not access.fresh:
            add(access.key, kind, access.line, access.text or access.op)
    if success_only:
        moved_on_success = {key for exit in fn.exits if exit.value not in FAILURES
                            for key, _ in exit.deltas + exit.bits}
        return {key: changes for key, changes in found.items()
                if key in moved_on_success or any(kind == "state" for kind, _, _ in changes)}
    for exit in fn.exits:
        for key, amount in exit.deltas:
            add(key, "up" if amount > 0 else "down", fn.start_line, key)
        for key, what in exit.bits:
            add(key, what, fn.start_line, key)
    return found


_KIND = {**dict.fromkeys(UPS, "up"), **dict.fromkeys(DOWNS, "down"), **dict.fromkeys(SETS, "set"),
         **dict.fromkeys(CLEARS, "clear")}


def _accesses(ctx: CheckContext, fn: FunctionFacts, depth: int, seen: set[str]):
    """The accesses of `fn` and of the helpers it calls, up to `depth` calls deep."""
    for function in _functions(ctx, fn, depth, seen):
        yield from function.accesses


def _functions(ctx: CheckContext, fn: FunctionFacts, depth: int, seen: set[str]):
    """`fn` and the helpers it calls (defined in the analysed files), up to `depth` calls deep."""
    if fn.name in seen:
        return
    seen.add(fn.name)
    yield fn
    if depth:
        for call in fn.calls:
            callee = ctx.function(call.name, near=fn)
            if callee is not None:
                yield from _functions(ctx, callee, depth - 1, seen)


def _in_focus(ctx: CheckContext, acquire: FunctionFacts, release: FunctionFacts) -> bool:
    """Either side of the pair, or a helper it calls, is one the rules judge."""
    if ctx.focus is None:
        return True
    return any((fn.file, fn.name) in ctx.focus for side in (acquire, release)
               for fn in _functions(ctx, side, _CALL_DEPTH, set()))


def _in_view(ctx: CheckContext, fn: FunctionFacts, depth: int) -> bool:
    """The function and the helpers it calls (as far as they are defined here) are in full view."""
    if not ctx.fully_known(fn):
        return False
    return depth == 0 or all(_in_view(ctx, callee, depth - 1)
                             for callee in (ctx.function(c.name, near=fn) for c in fn.calls)
                             if callee is not None and callee.name != fn.name)
