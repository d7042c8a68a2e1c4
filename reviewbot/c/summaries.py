"""Summaries: what calling a function does, for its callers in the scanned files.

Computed bottom-up over the call graph (callees first), repeated until nothing changes (a
bound of MAX_ROUNDS for recursion). A summary says which locks the function returns holding
on every path (a lock wrapper like `fuse_dio_lock`), which it releases, which it holds on some
returns only (a try helper), which every caller holds when it is called, how it moves each
counter per return class, which bits it sets or clears, which constants it assigns to which
fields under which preconditions, and whether it returns a counted reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from reviewbot.c import paths
from reviewbot.c.apis import release_like
from reviewbot.c.model import (REFERENCE_KEY, ADD, ASSIGN, CLEAR_BIT, DEC, GET, INC, PUT, RET_POINTER, SET_BIT, SUB,
                               TEST_AND_CLEAR_BIT, TEST_AND_SET_BIT, UNKNOWN_LOCKS, Access)
from reviewbot.c.paths import OK_SENSES, CallEffect, Outcome

MAX_ROUNDS = 4

# How a reference-taking API tells success: by default a non-NULL, non-ERR_PTR pointer (tested
# or not: an untested result counts as taken); these answer 0 or true instead, or never fail.
ACQUIRE_SENSES = {"try_module_get": "nonzero", "pm_runtime_resume_and_get": "zero", "request_irq": "zero",
                  "device_add": "zero", "request_threaded_irq": "zero", "clk_prepare_enable": "zero",
                  "kern_path": "zero", "user_path_at": "zero", "dma_map_sg": "nonzero"}
NEVER_FAIL = frozenset({"dget", "dget_parent", "get_file", "kobject_get", "of_node_get", "get_device", "mntget",
                        "path_get", "get_task_struct", "__module_get", "get_page", "folio_get", "get_cred",
                        "pm_runtime_get", "pm_runtime_get_sync", "kobject_init_and_add", "kref_get",
                        "sock_hold", "dev_hold", "get_net", "get_bh", "skb_get", "mmget", "get_pid",
                        "folio_get", "pci_dev_get", "fwnode_handle_get", "kmap", "kmap_local_page",
                        "dma_map_single", "dma_map_page"})


@dataclass
class Summary:
    name: str
    acquires: frozenset = frozenset()  # held at every return, not held on entry
    releases: frozenset = frozenset()  # released on every path, held on entry (by the caller)
    conditional: frozenset = frozenset()  # held at some returns only
    must_hold: frozenset = frozenset()  # held on entry: annotated, asserted, or held by every caller
    effects: dict = field(default_factory=dict)  # return class -> {key: net amount}
    bits_set: frozenset = frozenset()
    bits_cleared: frozenset = frozenset()
    assigns: list = field(default_factory=list)  # (key, value, preconditions, line)
    returns_reference: bool = False
    param_keys: dict = field(default_factory=dict)  # parameter index -> struct type
    call_effect: CallEffect | None = None  # what a call does to the caller, per outcome


def change_of(access: Access):
    """What an access moves along a path: a counter delta or a bit, else None."""
    op = access.op
    if op in (INC, GET):
        return ("delta", access.key, 1)
    if op in (DEC, PUT):
        return ("delta", access.key, -1)
    if op in (ADD, SUB):
        try:
            amount = int(access.value, 0)
        except (TypeError, ValueError):
            amount = 1  # an amount not known here: the direction is what matters
        return ("delta", access.key, amount if op == ADD else -amount)
    if op in (SET_BIT, TEST_AND_SET_BIT):
        return ("bit", access.key, "set")
    if op in (CLEAR_BIT, TEST_AND_CLEAR_BIT):
        return ("bit", access.key, "clear")
    return None


def reference_effects(names: set[str], tables) -> dict[str, CallEffect]:
    """Effects of the kernel reference APIs called (not defined) in the scanned files:
    `igrab` +1 on `ref:iput`, `iput` -1 on it; `X_get` / `X_put` likewise on `ref:X_put`."""
    from reviewbot.c import apis

    releases = set(tables.reference_pairs.values())
    effects = {}
    for name in names:
        if name in apis.COUNTER_APIS or name in tables.lock_apis or name in apis.BIT_OPS:
            continue
        if name in tables.reference_pairs:
            key, amount = f"{REFERENCE_KEY}{tables.reference_pairs[name]}", 1
        elif name in releases:
            key, amount = f"{REFERENCE_KEY}{name}", -1
        elif name.endswith("_get"):
            key, amount = f"{REFERENCE_KEY}{name[:-4]}_put", 1
        elif name.endswith("_put") or apis.release_like(name):
            key, amount = f"{REFERENCE_KEY}{name}", -1
        elif apis.acquire_like(name):  # taken by its name: the paths tell whether it succeeded
            key, amount = f"{REFERENCE_KEY}{name}", 1
        else:
            continue
        ok = Outcome(deltas=((key, amount),))
        if amount < 0 or name in NEVER_FAIL:
            effects[name] = CallEffect("zero", ok, ok)
        else:
            known = name in tables.reference_pairs or name.endswith("_get")
            sense = ACQUIRE_SENSES.get(name) or ("pointer" if known else apis.acquire_sense(name))
            effects[name] = CallEffect(sense, ok, Outcome())
    return effects


def build_summary(walked, result: paths.PathResult, entry: frozenset, whole: bool = True) -> Summary:
    """The function's summary; not `whole`: only what a call does to its caller (call_effect)."""
    facts = walked.facts
    body = walked.body
    # paths where a WARN_ON fired say what happens when an invariant is already broken: what a
    # function does is what it does on the others
    exits = result.exits
    if result.warned:
        exits = [e for e in exits if e not in result.warned] or exits
    entry_known = entry - {UNKNOWN_LOCKS}
    held_sets = [e.locks - {UNKNOWN_LOCKS} for e in exits]
    call_effect = _call_effect(exits, held_sets, result, entry_known, facts.complete, body.bool_return)
    if not whole:
        return Summary(name=facts.name, call_effect=call_effect)
    summary = Summary(name=facts.name)
    summary.param_keys = {i: t for i, t in enumerate(body.param_types) if t}
    summary.must_hold = entry_known
    summary.acquires = frozenset(facts.annotations.get("acquires", ()))
    summary.releases = frozenset(facts.annotations.get("releases", ()))
    if exits and facts.complete:  # a function seen in part says nothing sure about its locks
        always = frozenset.intersection(*held_sets)
        summary.acquires |= always - entry_known
        summary.conditional = frozenset.union(*held_sets) - always - entry_known
        released = [(entry_known - h) | result.released.get(e, frozenset()) for e, h in zip(exits, held_sets)]
        summary.releases |= frozenset.intersection(*released)
    by_class: dict[str, list] = {}
    for exit_ in exits:
        by_class.setdefault(exit_.value, []).append(exit_.deltas)
    summary.effects = {cls: dict(paths.may_move(deltas)) for cls, deltas in by_class.items()}
    summary.bits_set = frozenset(k for e in exits for k, op in e.bits if op == "set")
    summary.bits_cleared = frozenset(k for e in exits for k, op in e.bits if op == "clear")
    summary.assigns = _assigns(facts)
    summary.returns_reference = any(e.value == RET_POINTER and any(a > 0 for _, a in e.deltas) for e in exits)
    summary.call_effect = call_effect
    return summary


def _assigns(facts) -> list:
    """Constant assignments with the conditions that guard them: the enclosing branches, and
    the assertions (WARN_ON) on the same field before them in the same branch."""
    found = []
    conditions = facts.conditions
    assertion_reads: dict[int, set] = {}
    assertion_guards: dict[int, tuple] = {}  # the branches an assertion sits in
    for access in facts.accesses:
        if access.in_condition is not None and conditions[access.in_condition].assertion:
            assertion_reads.setdefault(access.in_condition, set()).add(access.key)
            assertion_guards.setdefault(access.in_condition, tuple(access.guards))
    for access in facts.accesses:
        if access.op != ASSIGN:
            continue
        pre = [conditions[g].text for g in access.guards]
        for cond_id, keys in assertion_reads.items():
            cond = conditions[cond_id]
            inside_a_guard = any(cond.text in text for text in pre)  # if (!WARN_ON(...))
            outer = assertion_guards[cond_id]
            if access.key in keys and cond.line < access.line and not inside_a_guard and \
                    tuple(access.guards[:len(outer)]) == outer:
                pre.append(cond.text)
        found.append((access.key, access.value, tuple(pre), access.line))
    return found


def _call_effect(exits, held_sets, result, entry_known, complete: bool, bool_return: bool) -> CallEffect:
    """How success is told (a pointer; true for a bool function; else 0 against -errno) and
    what each outcome does to the caller."""
    classes = {e.value for e in exits}
    if RET_POINTER in classes:
        sense = "pointer"
    elif bool_return:
        sense = "nonzero"
    else:
        sense = "zero"
    ok_classes, fail_classes = OK_SENSES[sense]
    pairs = list(zip(exits, held_sets))
    # success is what the exits returning a success value do; exits returning something not
    # classified (a variable set where the view ends) count only when there are no such exits
    groups = {"ok": [p for p in pairs if p[0].value in ok_classes]
              or [p for p in pairs if p[0].value not in fail_classes],
              "fail": [p for p in pairs if p[0].value in fail_classes]}
    outcomes = {name: _outcome(members, result, entry_known, complete) for name, members in groups.items()
                if members}
    ok = outcomes.get("ok") or outcomes.get("fail") or Outcome()
    # no failing return in view: a whole function never fails; of one seen in part, assume the
    # kernel convention that a failure leaves things as they were
    fail = outcomes.get("fail") or (ok if complete else Outcome())
    return CallEffect(sense, ok, fail)


def _outcome(members, result, entry_known, complete: bool) -> Outcome:
    deltas = paths.typical([e.deltas for e, _ in members])
    bits = paths.typical([e.bits for e, _ in members])
    if not complete:
        return Outcome(deltas=deltas, bits=bits)
    held = frozenset.intersection(*(h for _, h in members))
    released = frozenset.intersection(*((entry_known - h) | result.released.get(e, frozenset())
                                        for e, h in members))
    return Outcome(acquires=held - entry_known, releases=released, deltas=deltas, bits=bits)


# --- the whole program ------------------------------------------------------------------------

@dataclass
class Settled:
    """A function an earlier analysis of the same code walked, and nothing it calls (nor any
    caller, for a static one) has changed since: walking it again would give the same."""

    facts: object  # FunctionFacts: its final facts, with the lock sets
    first: Summary  # its summary as the callers saw it while their summaries converged
    last: Summary  # its final summary (with the locks every caller holds on entry)


@dataclass
class Summarized:
    first: dict  # id(WalkedFunction) -> the Settled.first of each walked function
    last: dict  # id(WalkedFunction) -> the Settled.last of each walked function


def summarize(everything: list, tables, only: set | None = None, references: dict | None = None,
              entry_only: frozenset = frozenset(), uncalled: frozenset = frozenset()) -> Summarized:
    """Summaries of every walked function, computed with the callees' summaries, and each
    walked function's facts completed with its lock sets and exits. `everything`: in file
    order, a WalkedFunction for each function to walk, a Settled for each one taken as it is
    (it calls nothing walked here, and a static one is called by nothing walked here).

    `only`: the ids of the walked functions to summarize (with every function they call); the
    others keep their facts as walked, and count as callers that hold no lock. Their summaries
    then say only what a call does to its caller (an index wants the lock sets, not summaries).
    `references`: the reference_effects of the names called and not defined, when the caller
    has them already. `entry_only`: ids of functions of `only` that do nothing to a caller (no
    lock, counter, bit nor reference moves, none in what they call, and not named like a
    release): they are not summarized, and run only when all their callers hold a lock.
    `uncalled`: ids of functions of `only` that no walked function calls: what a call to one
    does is wanted by nobody, so their runs make no exits, and their summaries say nothing."""
    whole = only is None
    by_name: dict[str, list] = {}
    for fn in everything:
        by_name.setdefault(fn.facts.name, []).append(fn)
    all_walked = [fn for fn in everything if not isinstance(fn, Settled)]
    if only is not None:
        everything = [fn for fn in everything if isinstance(fn, Settled) or id(fn) in only]
    walked = [fn for fn in everything if not isinstance(fn, Settled)]
    settled = [fn for fn in everything if isinstance(fn, Settled)]
    called = {call.name for fn in everything for call in fn.facts.calls}
    if references is None:
        references = reference_effects(called - set(by_name), tables)
    base_effects = {name: references[name] for name in called if name in references}
    named_releases = reference_effects({name for name in called & set(by_name) if release_like(name)}, tables)
    summaries: dict[int, Summary] = {id(fn): fn.first for fn in settled}
    # a call to a function that does nothing to its caller is as a call to one not summarized
    summaries.update((id(fn), Summary(name=fn.facts.name)) for fn in walked if id(fn) in entry_only)
    entries = {id(fn): _entry(fn) for fn in walked}

    def effects_for(fn) -> dict[str, CallEffect]:
        """The effects of the functions `fn` calls (a run looks up no other name)."""
        found = {}
        for name in {c.name for c in fn.facts.calls}:
            if name in base_effects:
                found[name] = base_effects[name]
            callee = _resolve(by_name, name, fn)
            if callee is not None and id(callee) in summaries and callee is not fn:
                effect = summaries[id(callee)].call_effect
                # a release helper of the tree whose own effects are not followed still
                # marks the paths that call it (what the differential review compares)
                if effect is not None and effect.uniform and effect.ok == paths.NO_EFFECT:
                    effect = named_releases.get(name, effect)
                found[name] = effect
        return found

    def walk(fn, effects: dict, entry: frozenset) -> paths.PathResult:
        return paths.run(fn.facts, fn.body, effects, change_of, entry, lock_sets_only=id(fn) in uncalled)

    def summary_of(fn, result: paths.PathResult, entry: frozenset) -> Summary:
        return Summary(name=fn.facts.name) if id(fn) in uncalled else build_summary(fn, result, entry, whole)

    order = [fn for fn in _bottom_up(walked, by_name) if id(fn) in entries]
    callers: dict[int, set] = {id(fn): set() for fn in everything}
    for fn in walked:
        for name in {c.name for c in fn.facts.calls}:
            callee = _resolve(by_name, name, fn)
            if callee is not None and callee is not fn and id(callee) in callers:
                callers[id(callee)].add(id(fn))
    results: dict[int, paths.PathResult] = {}
    used_entry: dict[int, frozenset] = {}
    used_effects: dict[int, dict] = {}
    dirty = {id(fn) for fn in walked if id(fn) not in entry_only}
    for _ in range(MAX_ROUNDS):  # callees first; a caller again only when a callee's effect changed
        if not dirty:
            break
        for fn in order:
            if id(fn) not in dirty:
                continue
            dirty.discard(id(fn))
            used_effects[id(fn)] = effects_for(fn)
            result = walk(fn, used_effects[id(fn)], entries[id(fn)])
            summary = summary_of(fn, result, entries[id(fn)] | frozenset(result.asserted_unheld))
            old = summaries.get(id(fn))
            if old is None or old.call_effect != summary.call_effect:
                dirty |= callers[id(fn)]
            summaries[id(fn)] = summary
            results[id(fn)] = result
            used_entry[id(fn)] = entries[id(fn)]
    first = {id(fn): summaries[id(fn)] for fn in walked}
    summaries.update((id(fn), fn.last) for fn in settled)
    # held on entry: asserted locks, and locks every caller holds (static functions whose callers
    # are all in view); a function whose entry grows is walked again with it
    callers_hold = _held_by_callers(all_walked, by_name, results)
    for fn in order:
        if id(fn) in entry_only:
            if id(fn) in callers_hold:  # else no lock is held anywhere in it
                results[id(fn)] = walk(fn, effects_for(fn), callers_hold[id(fn)])
                _apply_result(fn, results[id(fn)], whole)
            continue
        asserted = frozenset(results[id(fn)].asserted_unheld)
        entry = entries[id(fn)] | callers_hold.get(id(fn), frozenset()) | asserted
        rerun = entry != used_entry[id(fn)]
        if rerun:
            effects, added = effects_for(fn), entry - used_entry[id(fn)]
            if effects == used_effects[id(fn)] and fn.facts.complete and not added & _locks_moved(fn, effects):
                # locks held all along that nothing in it moves: the paths are those walked
                results[id(fn)] = paths.with_held(results[id(fn)], added)
            else:
                results[id(fn)] = walk(fn, effects, entry)
        if rerun or entry != used_entry[id(fn)] | asserted:  # else the summary above was built so
            summaries[id(fn)] = summary_of(fn, results[id(fn)], entry)
        _apply_result(fn, results[id(fn)], whole)
    return Summarized(first, {id(fn): summaries[id(fn)] for fn in walked})


def summarize_locks(walked: list, tables) -> None:
    """The lock sets of the accesses of the walked functions, as `summarize` finds them, with
    as few functions summarized as that takes (an index wants those lock sets, not exits nor
    summaries). A lock can be held only in a function that takes, asserts or is annotated
    with one (or is seen in part), or calls a function that returns holding one, or is a
    static function whose every caller may hold one: in the others every lock set is empty.
    Those functions are summarized with the functions they call that move something (a lock,
    counter, bit or reference, themselves or through their callees: one that moves nothing
    changes no lock set of its callers), until no newly summarized function returns holding a
    lock it was not called with and has callers not summarized yet."""
    graph = _Graph(walked)
    defined = {fn.facts.name for fn in walked}
    references = reference_effects({c.name for fn in walked for c in fn.facts.calls} - defined, tables)
    holding = {id(fn) for fn in walked if fn.facts.lock_ops or fn.facts.annotations
               or not fn.facts.complete or not fn.facts.entry_known}
    moving = holding | {id(fn) for fn in walked if any(c.name in references for c in fn.facts.calls)
                        or any(change_of(a) is not None for a in fn.facts.accesses)}
    through = graph.callers_closure(moving)
    static = [id(fn) for fn in walked if fn.facts.static]
    # static functions summarized only for the locks their callers hold, and that do nothing
    # to a caller
    inert = {id(fn) for fn in walked if id(fn) not in through and not release_like(fn.facts.name)}
    uncalled = frozenset(id(fn) for fn in walked if not graph.callers.get(id(fn), set()) - {id(fn)})
    while True:
        holding |= graph.called_holding(static, holding)
        summarized = summarize(walked, tables, graph.callees_closure(holding, through), references,
                               frozenset(holding & inert), uncalled)
        acquiring = {key for key, summary in summarized.first.items() if _acquires(summary.call_effect)}
        more = graph.callers_of(acquiring) - holding
        if not more:
            return
        holding |= more


def _locks_moved(fn, effects: dict) -> frozenset:
    """The locks a run of `fn` may take, release or assert, itself or by a call."""
    found = {op.lock for op in fn.facts.lock_ops}
    for effect in effects.values():
        if effect is not None:
            found |= effect.ok.acquires | effect.ok.releases | effect.fail.acquires | effect.fail.releases
    return frozenset(found)


def _acquires(effect: CallEffect | None) -> bool:
    return effect is not None and bool(effect.ok.acquires or effect.fail.acquires)


class _Graph:
    """Who calls whom among walked functions (by id), as `_resolve` sees the calls."""

    def __init__(self, walked: list):
        by_name: dict[str, list] = {}
        for fn in walked:
            by_name.setdefault(fn.facts.name, []).append(fn)
        self.callees: dict[int, set] = {}
        self.callers: dict[int, set] = {}
        for fn in walked:
            for name in {c.name for c in fn.facts.calls}:
                callee = _resolve(by_name, name, fn)
                if callee is not None:
                    self.callees.setdefault(id(fn), set()).add(id(callee))
                    self.callers.setdefault(id(callee), set()).add(id(fn))

    def callees_closure(self, keys: set, through: set) -> set:
        """`keys` and the functions in `through` they call, and those call, and so on."""
        return _closure(keys, lambda key: (callee for callee in self.callees.get(key, ()) if callee in through))

    def callers_closure(self, keys: set) -> set:
        return _closure(keys, lambda key: self.callers.get(key, ()))

    def callers_of(self, keys: set) -> set:
        return {caller for key in keys for caller in self.callers.get(key, ())}

    def called_holding(self, keys: list, holding: set) -> set:
        """Those of `keys` called only by functions of `holding` or by others found so (not
        counting calls to themselves), and by one at least."""
        found: set = set()
        while True:
            more = {key for key in keys if key not in found and key not in holding
                    and (self.callers.get(key, set()) - {key})
                    and self.callers[key] - {key} <= holding | found}
            if not more:
                return found
            found |= more


def _closure(keys: set, next_of) -> set:
    found, todo = set(keys), list(keys)
    while todo:
        for other in next_of(todo.pop()):
            if other not in found:
                found.add(other)
                todo.append(other)
    return found


def _entry(fn) -> frozenset:
    entry = frozenset(fn.facts.annotations.get("must_hold", ()))
    if not fn.facts.entry_known:
        entry |= {UNKNOWN_LOCKS}
    return entry


def _resolve(by_name: dict, name: str, caller):
    """The function a call names: a static one in the caller's file first."""
    candidates = by_name.get(name)
    if not candidates:
        return None
    for fn in candidates:
        if fn.facts.file == caller.facts.file:
            return fn
    for fn in candidates:
        if not fn.facts.static:
            return fn
    return None


def _bottom_up(walked: list, by_name: dict) -> list:
    """Functions ordered callees first (a cycle is cut where it is found)."""
    order, seen = [], set()
    for root in walked:
        if id(root) in seen:
            continue
        seen.add(id(root))
        stack = [(root, iter(sorted({c.name for c in root.facts.calls})))]
        while stack:
            fn, callees = stack[-1]
            for name in callees:
                callee = _resolve(by_name, name, fn)
                if callee is not None and id(callee) not in seen:
                    seen.add(id(callee))
                    stack.append((callee, iter(sorted({c.name for c in callee.facts.calls}))))
                    break
            else:
                stack.pop()
                order.append(fn)
    return order


def _held_by_callers(walked: list, by_name: dict, results: dict) -> dict[int, frozenset]:
    held: dict[int, frozenset] = {}
    complete_callers: dict[int, bool] = {}
    for caller in walked:
        result = results.get(id(caller))  # none: a caller left out, that holds no lock
        for index, call in enumerate(caller.facts.calls):
            callee = _resolve(by_name, call.name, caller)
            if callee is None or not callee.facts.static or callee is caller:
                continue
            locks = result.call_locks.get(index, frozenset()) if result is not None else frozenset()
            known = UNKNOWN_LOCKS not in locks and caller.facts.complete
            complete_callers[id(callee)] = complete_callers.get(id(callee), True) and known
            held[id(callee)] = held[id(callee)] & locks if id(callee) in held else locks
    # a static function's callers are all in its own file: in view when the function is complete
    complete = {id(fn) for fn in walked if fn.facts.complete}
    return {key: locks for key, locks in held.items()
            if complete_callers.get(key) and locks and key in complete}


def _apply_result(fn, result: paths.PathResult, whole: bool) -> None:
    """The function's facts with its lock sets and exits; not `whole`: only the lock sets of its
    accesses (all an index keeps)."""
    facts = fn.facts
    facts.accesses = [_with_locks(a, result.access_locks.get(i, frozenset())) for i, a in enumerate(facts.accesses)]
    if not whole:
        return
    facts.calls = [_with_locks(c, result.call_locks.get(i, frozenset())) for i, c in enumerate(facts.calls)]
    facts.exits = list(result.exits)
    facts.unheld_releases = [(lock, e) for e in result.exits for lock in sorted(result.released.get(e, ()))
                             if lock != UNKNOWN_LOCKS]




def _with_locks(event, locks: frozenset):
    """An access or call with its lock set (the walker made it with none: most stay so)."""
    return event if event.locks == locks else replace(event, locks=locks)
