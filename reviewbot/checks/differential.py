"""Differential review: the base version of a function is its specification. For each judged
function that exists at the base, its paths before and after the series are compared, and
what the series makes worse comes out without any knowledge of the API involved: a path that
no longer calls a release it called at the base, a new return that skips a release every
base path made after the same acquire, a path that now returns holding a lock it dropped at
the base, an access that ran under a lock at the base and runs without it now.

Paths are matched by what they do, not by their lines: the kind of value returned and the
conditions passed (by their text). Moved code is not a change. Shared by refcount-leak (lost
releases), lock-imbalance (lost unlocks), state-imbalance (a bit or counter no longer put
back) and unlocked-read/-write (lost locks around an access), which report these as their own
problem, once."""

from __future__ import annotations

import operator
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial, reduce

from reviewbot.c.apis import (ACCESS_MARKS, COUNTER_APIS, NOT_FIELD_LOCKS, acquire_like, release_kind,
                              release_like)
from reviewbot.c.model import FAILURES, REFERENCE_KEY, UNKNOWN_LOCKS, Access, Call, Condition, Exit, FunctionFacts
from reviewbot.checks.base import CheckContext, Rule, describe_return, make_finding
from reviewbot.findings import Finding



@dataclass(frozen=True)
class Regression:
    function: FunctionFacts  # after the series
    line: int
    message: str
    evidence: list[str]
    subject: str  # the release or the lock
    access: Access | None = None  # for a lock lost around an access: the access
    lock: str | None = None  # and the lock


def findings(rule: Rule, ctx: CheckContext, found: list[Finding], regressions,
             skip=lambda fn: False) -> Iterator[Finding]:
    """The regressions (`regressions(now, before)`) of the compared functions as findings of
    `rule`, once per line and subject, except where the rule's own findings `found` already
    tell the same problem: they name its subject in that function, or its line and what it
    releases (a counter left moved at the same return is another problem, and may be older
    than the series)."""
    named = {(f.file, f.function, f.subject) for f in found}
    messages: dict[tuple, list[str]] = {}
    for f in found:
        messages.setdefault((f.file, f.function, f.line), []).append(f.message)
    for fn, before in compared(ctx):
        if skip(fn):
            continue
        for regression in regressions(fn, before):
            line, subject = (fn.file, fn.name, regression.line), (fn.file, fn.name, regression.subject)
            if subject in named or line in named or \
                    any(_names(message, regression.subject) for message in messages.get(line, ())):
                continue
            named |= {line, subject}
            yield make_finding(rule, fn, regression.line, regression.message,
                               regression.evidence, regression.subject)


def _names(message: str, subject: str) -> bool:
    """Whether `message` names `subject` as a whole: `foo.ref` is not named by a message about
    `foo.refcount`, nor `put` by one that says "put it back"."""
    return re.search(rf"(?<![\w.>-]){re.escape(subject)}(?![\w])", message) is not None


def over_unlocked(rule: Rule, ctx: CheckContext, found: list[tuple[Finding, str]], regressions,
                  skip=lambda fn: False) -> Iterator[Finding]:
    """The unlocked-access findings of `rule` (`found`: each with the lock it misses), and the
    accesses the series moved out of a lock (`regressions(now, before)`): a field and lock
    the rule reports in a function is its own (its guard evidence says more); a lock lost
    that the rule does not name speaks for the access in its place (what the base held there
    says more than a guard inferred from other sites, and is news where that guard was
    missing at the base already)."""
    lost = {}  # one finding per field a function lost the lock of
    for fn, before in compared(ctx):
        for r in regressions(fn, before) if not skip(fn) else ():
            if _own_lock(ctx, r.access.key, r.lock):
                lost.setdefault((fn.file, fn.name, r.access.key), (fn, r))
    said = {(f.file, f.function, f.subject, lock) for f, lock in found}
    news = [(fn, r) for fn, r in lost.values() if (fn.file, fn.name, r.access.key, r.lock) not in said]
    # by field, not line: the rule's finding sits at the first of the function's reads
    replaced = {(fn.file, fn.name, r.access.key) for fn, r in news}
    yield from (f for f, _ in found if (f.file, f.function, f.subject) not in replaced)
    for fn, regression in news:
        yield make_finding(rule, fn, regression.line, regression.message, regression.evidence,
                           regression.subject, field_key=regression.access.key)


def _own_lock(ctx: CheckContext, key: str, lock: str) -> bool:
    """Whether a lock held around a field at the base can be what guards it: not a lock of
    another object where the field's struct is defined out of view (another subsystem's
    object, which that subsystem locks: `cam->s_mutex` around
    `list_empty(&cam->vdev.fh_list)`). A global lock may guard anything its file handles."""
    struct = key.partition(".")[0]
    owner, dot, _ = lock.partition(".")
    defined = ctx.program.types is not None and struct in ctx.program.types.members
    return defined or not dot or owner == struct


def reference_like(ctx: CheckContext, key: str) -> bool:
    """A reference count now or at the base (the series may have deleted its only put)."""
    return ctx.reference_like(key) or (ctx.base is not None and ctx.base.reference_like(key))


def compared(ctx: CheckContext) -> Iterator[tuple[FunctionFacts, FunctionFacts]]:
    """(function now, the same function at the base) for each judged function seen whole at
    both versions; nothing at the base itself or in hunk-only mode."""
    if ctx.base is None or ctx.hunk_only:
        return
    for fn in ctx.functions():
        before = ctx.base.program.functions.get(f"{fn.file}:{fn.name}") or \
            ctx.base.program.functions.get(fn.name)
        if before is not None and before.file == fn.file and fn.complete and before.complete \
                and (_text(ctx, fn) is None or _text(ctx, fn) != _text(ctx.base, before)):
            yield fn, before


def _text(ctx: CheckContext, fn: FunctionFacts) -> list[str] | None:
    """The function's lines as written: a function the series did not edit is not judged
    again, whatever its callers or callees now make its paths look like."""
    version = ctx.files.get(fn.file)
    if version is None or version.text is None:
        return None
    return version.text.splitlines()[fn.start_line - 1:fn.end_line]


def lost_releases(fn: FunctionFacts, before: FunctionFacts, kind: str) -> Iterator[Regression]:
    """Paths that no longer call a release (of `kind`: see `release_kind()`) the same path
    called at the base, and new paths that skip the release every base path made after the
    same acquire: one per release."""
    # a release of another kind is another rule's
    reported = {name for e in before.exits for name, _, _ in e.calls if release_kind(name) != kind}
    # tests the series took out (one of two alike counts)
    deleted = set(Counter(map(_condition_text, before.conditions)) - Counter(map(_condition_text, fn.conditions)))
    for exit, same, branches in _same_paths(fn, before):
        kept = _releases(exit)
        if same:
            # by name, counted: a path that put two objects and now puts one lost a put
            common = reduce(operator.and_, (Counter(_release_calls(e)) for e in same))
            for release in sorted(set(common - Counter(_release_calls(exit))) - reported):
                reported.add(release)
                old = same[0]
                line, call = _lost_call(before, old, fn, exit, release)
                message = (f"before this patch the path of {fn.name}() that {describe_return(old)} "
                           f"at line {old.line} called {call} (line {line}); after it, that "
                           f"path {describe_return(exit)} at line {exit.line} without it")
                evidence = [f"{before.file}:{line}: before the patch, {call} on this path",
                            f"{fn.file}:{exit.line}: {describe_return(exit)} without {call}"
                            f"{_past(branches)}"]
                yield Regression(fn, exit.line, message, evidence, release)
            continue
        # (release, message, where the base made it) of the two other ways a path loses one
        candidates = [
            (release, f"before this patch every path out of {fn.name}() that called {acquire}() "
                      f"ran {release}(); the new return at line {exit.line} skips it",
             f"{fn.file}:{taken}: {acquire}()")
            for acquire, taken, release in _followed_releases(exit, before)]
        candidates += [
            (release, f"before this patch {fn.name}() called {call} under the test `{test}` "
                      f"(line {line}); the patch deletes the test and the call, so the path that "
                      f"{describe_return(exit)} at line {exit.line} never makes it",
             f"{before.file}:{line}: before the patch, {call} under `{test}`")
            for release, line, test, call in _released_under_deleted_tests(fn, before, exit, deleted)]
        for release, message, made in candidates:
            if release in kept or release in reported:
                continue
            reported.add(release)
            evidence = [made, f"{fn.file}:{exit.line}: {describe_return(exit)} without {release}()"
                              f"{_past(branches)}"]
            yield Regression(fn, exit.line, message, evidence, release)


def _released_under_deleted_tests(fn: FunctionFacts, before: FunctionFacts, exit: Exit, deleted: set[str]):
    """(release, its line, the test, the call as written) for each release a base path made
    under a test the series deleted (`if (!schedule_work(w)) put(x);` become
    `schedule_work(w);`), where that base path is this new path but for the deleted tests."""
    if not deleted:
        return
    texts = {cond.id: _condition_text(cond) for cond in before.conditions}
    now = sorted(_branches(fn, exit))
    calls = {(call.name, call.line): call for call in before.calls}
    for old in before.exits:
        if _kind(old) != _kind(exit) or sorted(b for b in _branches(before, old) if b[0] not in deleted) != now:
            continue
        for name, line, _ in old.calls:
            call = calls.get((name, line))
            tests = [texts[g] for g in call.guards if texts.get(g) in deleted] if call else []
            if release_like(name) and tests:
                yield name, line, tests[-1], _written(call)


def lost_unlocks(fn: FunctionFacts, before: FunctionFacts) -> Iterator[Regression]:
    """Paths that return holding a lock the same path had dropped at the base."""
    for exit, old, lock, _, _, branches in _worse_on_same_paths(fn, before, _still_held):
        yield _worse_path(fn, before, exit, old, branches, lock,
                          (f"released `{lock}`", f"without `{lock}`"),
                          ("still holding it", f"holding `{lock}`"))


def lost_resets(fn: FunctionFacts, before: FunctionFacts) -> Iterator[Regression]:
    """Paths that leave a flag bit set, a counter higher or a field changed where the same
    path put it back at the base (a `clear_bit()`, a `--`, a `kref_put()` or a store of the
    saved value deleted from one branch)."""
    worse = partial(_worse, handed=_handed_over(fn, before))
    for exit, old, key, change, was, branches in _worse_on_same_paths(fn, before, worse):
        yield _worse_path(fn, before, exit, old, branches, key,
                          (f"left `{key}` {was}", f"with `{key}` {was}"),
                          (f"leaving it {change}", f"with `{key}` {change}"))


def _worse_path(fn: FunctionFacts, before: FunctionFacts, exit: Exit, old: Exit, branches,
                subject: str, then: tuple[str, str], now: tuple[str, str]) -> Regression:
    """A path the series made worse, said the one way: `then` and `now` are what the path did
    at the base and does now, as the message says it and as its evidence does."""
    message = (f"before this patch the path of {fn.name}() that {describe_return(old)} at "
               f"line {old.line} {then[0]}; after it, that path {describe_return(exit)} at "
               f"line {exit.line} {now[0]}")
    evidence = [f"{before.file}:{old.line}: before the patch, {describe_return(old)} {then[1]}",
                f"{fn.file}:{exit.line}: {describe_return(exit)} {now[1]}{_past(branches)}"]
    return Regression(fn, exit.line, message, evidence, subject)


def _worse_on_same_paths(fn: FunctionFacts, before: FunctionFacts, worse):
    """(exit, the first of its base paths, subject, now, was, the path's branches) for what
    `worse(exit, same)` finds a path of `fn` leaves worse than the same paths at the base:
    each subject once."""
    reported = set()
    for exit, same, branches in _same_paths(fn, before):
        if not same:
            continue
        for subject, now, was in worse(exit, same):
            if subject not in reported:
                reported.add(subject)
                yield exit, same[0], subject, now, was, branches


def _still_held(exit: Exit, same: list[Exit]) -> Iterator[tuple[str, str, str]]:
    """(lock, "held", "released") for each lock this path returns holding and the base's same
    paths did not (nothing, where the lock state at the return is not knowable)."""
    if UNKNOWN_LOCKS in exit.locks:
        return
    for lock in sorted(exit.locks - set().union(*(e.locks for e in same))):
        yield lock, "held", "released"


def _handed_over(fn: FunctionFacts, before: FunctionFacts) -> set[str]:
    """The fields of objects the function now gives to a callee the base did not call: the
    store that put one back may have moved into it."""
    new = {call.name for call in fn.calls} - {call.name for call in before.calls}
    given = {word for call in fn.calls if call.name in new for arg in call.args for word in _words(arg)}
    return {access.key for access in fn.accesses if _words(access.text)[:1] and _words(access.text)[0] in given}


def _words(text: str) -> list[str]:
    return "".join(c if c.isalnum() or c == "_" else " " for c in text).split()


def _worse(exit: Exit, same: list[Exit], handed: set[str] = frozenset()) -> Iterator[tuple[str, str, str]]:
    """(key, what this path leaves, what the base's same paths left) for each counter this path
    leaves higher, each bit it leaves set where they did not, and each bit they all cleared
    that it no longer clears. References taken through
    calls are the release checks' (`ref:` keys)."""
    now = dict(exit.deltas)
    for key in sorted(set(now).union(*(dict(e.deltas) for e in same))):
        if key.startswith(REFERENCE_KEY):
            continue
        amounts = [dict(e.deltas).get(key, 0) for e in same]
        if now.get(key, 0) > max(amounts):
            yield key, _moved(now.get(key, 0)), _moved(max(amounts))
    bits = dict(exit.bits)
    for key, op in exit.bits:
        if op == "set" and not any(dict(e.bits).get(key) == "set" for e in same):
            yield key, "set", "clear" if any(dict(e.bits).get(key) for e in same) else "as it found it"
    # a bit every same path cleared at the base, which this path no longer touches
    for key in set.intersection(*({k for k, op in e.bits if op == "clear"} for e in same)) - bits.keys():
        yield key, "as it found it", "clear"
    yield from (found for found in _not_put_back(exit, same) if found[0] not in handed)


def _not_put_back(exit: Exit, same: list[Exit]) -> Iterator[tuple[str, str, str]]:
    """A field every same path changed and then stored again at the base (put back: a saved
    value restored, a state left again), where this path makes the first stores and no longer
    the last (by the values stored, when they are constants)."""
    stored: dict[str, list] = {}
    for key, line, value in exit.stores:
        stored.setdefault(key, []).append(value)
    for key, values in sorted(stored.items()):
        restores = []
        for e in same:
            was = [(line, value) for k, line, value in e.stores if k == key]
            if len(was) <= len(values) or [value for _, value in was[:len(values)]] != values:
                break
            restores.append(was[-1][0])
        else:
            yield key, "changed", f"put back (line {restores[0]})"


def _moved(amount: int) -> str:
    return f"moved by {amount:+d}" if amount else "as it found it"


def unlocked_now(fn: FunctionFacts, before: FunctionFacts, ops) -> Iterator[Regression]:
    """Accesses (with an op in `ops`) of the same field, operation, text and value (the bit a
    read tests) that ran under a lock at every base site, and run without it at a site now. An
    access through a counter API (`atomic_*`, `refcount_*`, `kref_*`) is atomic: no lock
    guards it."""
    held: dict[tuple, frozenset] = {}
    for access in before.accesses:
        ident = (access.key, access.op, access.text, access.value)
        held[ident] = held.get(ident, access.locks) & access.locks
    reported = set()
    for access in fn.accesses:
        ident = (access.key, access.op, access.text, access.value)
        if access.op not in ops or ident not in held or UNKNOWN_LOCKS in access.locks \
                or ident in reported or access.fresh or access.marks & ACCESS_MARKS \
                or access.value in COUNTER_APIS:
            continue
        lost = held[ident] - access.locks - NOT_FIELD_LOCKS - {UNKNOWN_LOCKS}
        if not lost:
            continue
        reported.add(ident)
        lock = sorted(lost)[0]
        message = (f"`{access.text or access.key}` ran under `{lock}` before this patch; "
                   f"after it, line {access.line} runs it without the lock")
        evidence = [f"{fn.file}:{access.line}: {access.op} of `{access.key}` without `{lock}`; "
                    f"every site of it held `{lock}` before the patch"]
        yield Regression(fn, access.line, message, evidence, lock, access, lock)


def _kind(exit: Exit) -> str:
    return "failure" if exit.value in FAILURES else exit.value


def _branches(fn: FunctionFacts, exit: Exit) -> tuple[tuple[str, bool], ...]:
    """(condition text, which way the path went) for each branch the path passes, in order."""
    texts: dict[int, list[str]] = {}
    for cond in fn.conditions:
        texts.setdefault(cond.line, []).append(_condition_text(cond))
    return tuple((text, truth) for line, truth in zip(exit.path, exit.taken) for text in texts.get(line, ()))


def _signature(fn: FunctionFacts, exit: Exit) -> tuple:
    """The kind of return and the branches passed, by their text (lines move; what is tested
    does not), in any order: the two sides of one `if` are two paths, even where nothing else
    tells them apart, and so are paths past one more `if (err)`."""
    return _kind(exit), tuple(sorted(_branches(fn, exit)))


def _releases(exit: Exit) -> set[str]:
    return set(_release_calls(exit))


def _release_calls(exit: Exit) -> list[str]:
    """The release-like calls the path makes, by name, once per call."""
    return [name for name, _, _ in exit.calls if release_like(name)]


def _lost_call(before: FunctionFacts, old: Exit, fn: FunctionFacts, exit: Exit, release: str) -> tuple[int, str]:
    """(line, the call as `release(object)`) of the call of `release` on the base path `old`
    whose object no call of it on `exit` releases now (the first one, when all do)."""
    def written(facts: FunctionFacts, path: Exit) -> list[tuple[int, str]]:
        calls = {(call.name, call.line): call for call in facts.calls}
        return [(line, _written(calls[(name, line)]) if (name, line) in calls else f"{name}()")
                for name, line, _ in path.calls if name == release]
    was = written(before, old)
    now = [text for _, text in written(fn, exit)]
    return next(((line, text) for line, text in was if text not in now), was[0])


def _written(call: Call) -> str:
    """A call as `name(its first argument)`: which object it releases."""
    return f"{call.name}({' '.join(call.args[0].split()) if call.args else ''})"


def _condition_text(cond: Condition) -> str:
    return " ".join(cond.text.split())


def _same_paths(fn: FunctionFacts, before: FunctionFacts) -> list[tuple[Exit, list[Exit], tuple]]:
    """(exit now, the base exits of the same path, the branches of that path): the same kind
    of return past the same conditions, each taken the same way; none for a path the series
    adds. Paths that end up doing the same are one exit (the first one's branches name it):
    where the series changed no test, a base path no exit now names is compared with the
    exits of the same kind past the same conditions, whichever way they name (where it did,
    such a base path is one the new tests split)."""
    by_signature: dict[tuple, list[Exit]] = {}
    for exit in before.exits:
        by_signature.setdefault(_signature(before, exit), []).append(exit)
    signatures = {exit: _signature(fn, exit) for exit in fn.exits}
    pairs = [(exit, by_signature.get(signature, []), _branches(fn, exit)) for exit, signature in signatures.items()]
    named = set(signatures.values())
    if sorted(map(_condition_text, before.conditions)) != sorted(map(_condition_text, fn.conditions)):
        return pairs
    for (kind, branches), same in by_signature.items():
        if (kind, branches) in named:
            continue
        conditions = sorted(text for text, _ in branches)
        pairs += [(exit, same, _branches(before, same[0])) for exit, (now_kind, now) in signatures.items()
                  if now_kind == kind and sorted(text for text, _ in now) == conditions]
    return pairs


def _followed_releases(exit: Exit, before: FunctionFacts) -> Iterator[tuple[str, int, str]]:
    """(acquire, its line on this path, release) for each acquire on a new path that every
    base path making it (and not seeing it fail) followed with the same release."""
    for name, line, outcome in exit.calls:
        if outcome == "fail" or release_like(name) or not acquire_like(name):
            continue
        passed = [e for e in before.exits if any(n == name and o != "fail" for n, _, o in e.calls)]
        if not passed:
            continue
        followed = []
        for e in passed:
            first = min(l for n, l, o in e.calls if n == name and o != "fail")
            followed.append({n for n, l, _ in e.calls if release_like(n) and l > first})
        for release in sorted(set.intersection(*followed)):
            yield name, line, release


def _past(branches: tuple[tuple[str, bool], ...]) -> str:
    if not branches:
        return ""
    return " (where " + ", ".join(f"`{text}` is {'true' if truth else 'false'}" for text, truth in branches) + ")"
