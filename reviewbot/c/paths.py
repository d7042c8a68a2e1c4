"""Paths through one function: which locks are held at each access, and on which paths the
function returns, holding what, having moved which counters and bits.

The facts walker (reviewbot.c.walk) turns a function body into a small control-flow tree of
the nodes below, with events (accesses, lock operations, calls, local assignments) in
evaluation order. `run()` interprets that tree over sets of abstract states, one state per
distinct path so far (merged when they agree, bounded): `if` forks, loops run their body zero
or one time, `switch` forks per case with fall-through, `goto` carries its states to the label
(forward; a backward goto ends the path: a retry repeats what was already seen), `return`
records an Exit. What makes the answers precise enough for review:

- a condition tested twice with nothing it reads assigned in between (`if (c) lock; ...
  if (c) unlock;`) takes the same branch both times;
- a local assigned a constant (`err = -EBUSY; goto out; ... out: return err;`) keeps its value
  class, so the return is classified and a later `if (err)` on it is decided;
- the result of a trylock, of `mutex_lock_interruptible`, or of a summarised callee whose
  success and failure differ (a conditional lock wrapper, a counter moved only on success)
  stays pending until a branch tests it: the branch that means success gets the lock and the
  callee's success effects, the other branch its failure effects;
- `guard()` and `scoped_guard` locks are released when their scope ends, also by `return`,
  `break`, `continue` and `goto` out of it.
"""

from __future__ import annotations

from collections import Counter
from operator import itemgetter
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from reviewbot.c.model import (ACQUIRE, ASSERT, ASSIGN, RELEASE, RET_ERRNO, RET_NULL, RET_OTHER, RET_POINTER,
                               RET_VOID, RET_ZERO, UNKNOWN_LOCKS, WRITE, Exit)

# --- the control-flow tree the walker builds -----------------------------------------------


# Values as the walker describes them: what a local is assigned, what a return returns, what a
# branch tests. Named tuples, as cheap as the tuples they are: the paths' states hold constants
# and results, and every join hashes the states. A named tuple equals any tuple of its fields,
# though: a kind that has the shape of another (the result of lock op 3 and that of call 3, an
# index each; a && b and a || b) is a frozen dataclass, which equals only its own kind.


class Const(NamedTuple):
    cls: str  # its value class: RET_ZERO, RET_ERRNO, RET_POINTER, RET_OTHER
    text: str = ""  # its source text, where a store of it records the value stored


class Var(NamedTuple):
    name: str  # a local variable or parameter


class CallResult(NamedTuple):
    index: int  # into FunctionFacts.calls


@dataclass(frozen=True)
class TryResult:
    index: int  # into FunctionFacts.lock_ops: a trylock, true (0 for "try0") when it took the lock


@dataclass(frozen=True)
class CountResult:
    index: int  # into FunctionFacts.accesses: a counter API that moves the counter only when it returns true


class Choice(NamedTuple):
    test: Test | AllOf | AnyOf  # of c, in `c ? a : b`
    then: object  # the value of a
    orelse: object  # the value of b


class Test(NamedTuple):
    """What a branch tests: that `subject` (a Var or a result) is of the classes SENSES[sense]."""

    subject: Var | CallResult | TryResult | CountResult
    sense: str


@dataclass(frozen=True)
class AllOf:
    tests: tuple  # of `a && b`


@dataclass(frozen=True)
class AnyOf:
    tests: tuple  # of `a || b`


# Events, in evaluation order. The tree is compared (a cached walk with a new one), never hashed:
# plain dataclasses, one per kind, which the interpreter tells apart by type.


@dataclass
class AccessEvent:
    index: int  # into FunctionFacts.accesses


@dataclass
class LockEvent:
    index: int  # into FunctionFacts.lock_ops
    scope: int | None  # the block whose end releases it (guard(), scoped_guard), else None
    api_op: str  # the API's op: "acquire", "release", "assert", "try", "try0"


@dataclass
class CallEvent:
    index: int  # into FunctionFacts.calls


@dataclass
class SetEvent:
    name: str  # a local variable is assigned
    value: Const | CallResult | TryResult | CountResult | None  # None: a value nothing tests or returns


@dataclass
class RangeEvent:
    # a known range of a hunk-only function begins: lock state is unknown again, except for the
    # locks the range releases before taking them
    start: int
    end: int


@dataclass
class Block:
    id: int
    body: list


@dataclass
class If:
    cond: int  # Condition id
    line: int
    test: Test | AllOf | AnyOf | None
    key: str | None  # text for correlating a repeated condition; None when it has side effects
    names: frozenset  # identifiers the condition reads (an assignment to one forgets the key)
    then: list
    orelse: list
    warn_branch: bool | None = None  # the branch taken when a WARN_ON in the condition fires


@dataclass
class Loop:
    forever: bool  # for (;;), while (1): leaves only by break, return or goto
    at_least_once: bool  # do { } while
    body: list


@dataclass
class Switch:
    cases: list  # list of bodies, in order; fall-through from one into the next
    has_default: bool


@dataclass
class Return:
    line: int
    value: Const | Var | CallResult | TryResult | CountResult | Choice | None


@dataclass
class Goto:
    label: str
    line: int


@dataclass
class Label:
    name: str
    blocks: tuple  # ids of the blocks enclosing the label


@dataclass
class Jump:
    kind: str  # "break" or "continue"
    leaves: tuple  # ids of the blocks it leaves


@dataclass
class FunctionBody:
    """The walker's output for one function, besides its FunctionFacts."""

    nodes: list
    lock_kinds: list  # per FunctionFacts.lock_ops entry: the API's op ("acquire", "try", "try0", ...)
    condition_names: dict  # condition key -> identifiers it reads
    void_return: bool = False
    pointer_return: bool = False
    bool_return: bool = False
    param_types: list = field(default_factory=list)  # struct type of each parameter, or None
    conditional_accesses: set = field(default_factory=set)  # counter moves that happen only on success


# --- value classes and branch tests ---------------------------------------------------------

# what a branch asserts about a tested value: the value classes it allows
SENSES = {
    "nz": frozenset({RET_ERRNO, RET_POINTER, RET_OTHER}),
    "z": frozenset({RET_ZERO}),
    "err": frozenset({RET_ERRNO}),
    "errz": frozenset({RET_ERRNO, RET_ZERO}),
    "noerr": frozenset({RET_ZERO, RET_POINTER, RET_OTHER}),  # !IS_ERR(p)
    "noerrz": frozenset({RET_POINTER, RET_OTHER}),  # !IS_ERR_OR_NULL(p)
}
ALL_CLASSES = frozenset({RET_ZERO, RET_ERRNO, RET_POINTER, RET_OTHER})
# how success is told from failure: ok classes, fail classes
OK_SENSES = {
    "zero": (frozenset({RET_ZERO}), frozenset({RET_ERRNO})),  # 0 or -errno
    "nonzero": (frozenset({RET_OTHER}), frozenset({RET_ZERO})),  # trylock: true or false
    "pointer": (frozenset({RET_POINTER}), frozenset({RET_ERRNO, RET_ZERO, RET_NULL})),  # object, ERR_PTR or NULL
}
# A pointer result tested against NULL fails with NULL, one tested with IS_ERR() with an
# ERR_PTR: the test says which of the two the callee returns (kernel functions use one).
POINTER_FAILS = {"nz": frozenset({RET_ZERO}), "z": frozenset({RET_ZERO}),
                 "err": frozenset({RET_ERRNO}), "noerr": frozenset({RET_ERRNO})}


@dataclass(frozen=True)
class Outcome:
    """What a call does to its caller's state, for one outcome (ok or fail)."""

    acquires: frozenset = frozenset()
    releases: frozenset = frozenset()
    deltas: tuple = ()
    bits: tuple = ()


NO_EFFECT = Outcome()


@dataclass(frozen=True)
class CallEffect:
    """A callee's effect on its caller: applied at the call when both outcomes agree (uniform),
    else pending until a branch tests the result (`ok_sense` says how success is told)."""

    ok_sense: str
    ok: Outcome
    fail: Outcome

    @property
    def uniform(self) -> bool:
        return self.ok == self.fail


# --- states ---------------------------------------------------------------------------------

MAX_STATES = 32  # states kept at one point; beyond it, paths that agree on effects merge


class _StateFields(NamedTuple):
    held: frozenset = frozenset()
    scoped: frozenset = frozenset()  # (lock, block id) taken by guard()/scoped_guard
    released: frozenset = frozenset()  # locks released here without being taken here
    deltas: tuple = ()  # sorted (key, amount), amount != 0
    bits: tuple = ()  # sorted (key, "set"|"clear")
    vals: tuple = ()  # sorted (variable, value): a Const (its class), or a result still pending
    pending: tuple = ()  # results (CallResult, TryResult, CountResult) whose outcome no branch has decided yet
    known: frozenset = frozenset()  # (condition key, truth) of the conditions decided so far
    warned: bool = False  # the path went where a WARN_ON fired: an invariant already broken
    # the evidence: what the path did, which nothing of the rest depends on. Decisions and
    # stores are chains (latest, (earlier, ...)): a step adds to them without copying them
    decisions: tuple = ()  # ((line, which way: True for then), earlier decisions) of each branch
    calls: tuple = ()  # (callee, line, outcome or None)
    stores: tuple = ()  # ((field, line, value), earlier stores) of each store to a shared object's field


# what paths that are one from a point on agree on: the fields before the evidence; what
# paths that agree on their effects agree on: those before `known` (slices of the tuple, as
# _limit compares every state at every join)
_PATH_FIELDS = _StateFields._fields.index("decisions")
_EFFECT_FIELDS = _StateFields._fields.index("known")


_FIELD_INDEX = {name: i for i, name in enumerate(_StateFields._fields)}


class State(_StateFields):
    """One path's abstract state (a named tuple: states are copied at every event)."""

    __slots__ = ()

    def _replace(self, **changes) -> State:
        # the named tuple's own _replace, at about half the cost: it runs for every event
        values = list(self)
        for name, value in changes.items():
            values[_FIELD_INDEX[name]] = value
        return tuple.__new__(State, values)


def _add_delta(deltas: tuple, key: str, amount: int) -> tuple:
    found = dict(deltas)
    found[key] = found.get(key, 0) + amount
    return tuple(sorted((k, v) for k, v in found.items() if v))


def _unchain(chain: tuple) -> list:
    """The items of a chain, earliest first."""
    items = []
    while chain:
        item, chain = chain
        items.append(item)
    items.reverse()
    return items


def _get(pairs: tuple, key):
    for k, value in pairs:  # a few pairs: cheaper than a dict made for one look-up
        if k == key:
            return value
    return None


def _set_item(pairs: tuple, key, value) -> tuple:
    if value is None and all(k != key for k, _ in pairs):
        return pairs  # nothing to forget: most assignments are to locals no test reads
    found = dict(pairs)
    if value is None:
        found.pop(key, None)
    else:
        found[key] = value
    return tuple(sorted(found.items(), key=itemgetter(0)))


def _limit(states: list[State]) -> list[State]:
    """Paths that agree on everything but the branch lines they took and the calls they made
    are one path from here on (the first one's lines and calls stay as the evidence); beyond
    MAX_STATES, paths that agree on their effects merge too."""
    if len(states) < 2:
        return states
    merged: dict = {}
    for state in states:
        merged.setdefault(state[:_PATH_FIELDS], state)
    if len(merged) <= MAX_STATES:
        return list(merged.values())
    coarse: dict = {}
    for state in merged.values():
        coarse.setdefault(state[:_EFFECT_FIELDS], state)
    return list(coarse.values())[:MAX_STATES]


# --- the interpreter ------------------------------------------------------------------------


@dataclass
class PathResult:
    access_locks: dict[int, frozenset]  # access index -> locks held on every path reaching it
    call_locks: dict[int, frozenset]
    exits: list[Exit]
    released: dict  # Exit -> locks released on its path without being taken in the function
    asserted_unheld: set  # locks asserted held where the function had not taken them
    warned: set  # exits whose path went where a WARN_ON fired
    # indexes of the accesses and of the calls whose (empty) lock set is that of code no path reaches
    unreached_accesses: set = field(default_factory=set)
    unreached_calls: set = field(default_factory=set)


class _Run:
    def __init__(self, facts, body: FunctionBody, effects: dict[str, CallEffect], change_of, lock_sets_only: bool):
        self.facts = facts
        self.lock_sets_only = lock_sets_only
        self.body = body
        self.effects = effects
        self.changes = [change_of(access) for access in facts.accesses]  # what each access moves
        self.stores = [(access.key, access.line, access.value) if access.op in (WRITE, ASSIGN) and not access.fresh
                       and not lock_sets_only else None for access in facts.accesses]
        self.conditions_reading: dict[str, set] = {}  # variable -> keys of the conditions that read it
        for key, names in body.condition_names.items():
            for name in names:
                self.conditions_reading.setdefault(name, set()).add(key)
        self.access_locks: dict[int, frozenset] = {}
        self.call_locks: dict[int, frozenset] = {}
        self.unreached_accesses: set = set()
        self.unreached_calls: set = set()
        self.exits: dict[tuple, Exit] = {}  # what tells exits apart -> the exit
        self.released: dict = {}
        self.warned: set = set()
        self.gotos: dict[str, list[State]] = {}
        self.labels_seen: set[str] = set()
        # where labels are and what follows them: what only a goto needs (most functions have none)
        self.tails = _tails(body.nodes) if facts.gotos else {}
        self.rewalking: set[str] = set()
        self.label_blocks: dict[str, tuple] = {}
        self.breaks: list[list[State]] = []
        self.continues: list[list[State]] = []
        self.asserted_unheld: set = set()

    # sequences and nodes
    def seq(self, nodes: list, states: list[State]) -> list[State]:
        for node in nodes:
            on_event = _ON_EVENT.get(type(node))
            if states and on_event is not None:  # most nodes: straight to the event, not by node()
                states = on_event(self, node, states)
                continue
            if isinstance(node, Label):
                self.labels_seen.add(node.name)
                states = _limit(states + self.gotos.pop(node.name, []))
                continue
            if not states and not self.facts.complete:
                # in a function seen in part, code no known path reaches is reached by code not
                # in view: its lock state is unknown
                states = [State(held=frozenset({UNKNOWN_LOCKS}))]
            if not states:
                # unreachable; events here still get an (empty) lock set
                self._visit_unreachable(node)
                continue
            states = self.node(node, states)
        return states

    def _visit_unreachable(self, node) -> None:
        if isinstance(node, AccessEvent):
            if node.index not in self.access_locks:
                self.access_locks[node.index] = frozenset()
                self.unreached_accesses.add(node.index)
        elif isinstance(node, CallEvent):
            if node.index not in self.call_locks:
                self.call_locks[node.index] = frozenset()
                self.unreached_calls.add(node.index)
        elif isinstance(node, Block):
            self.seq(node.body, [])
        elif isinstance(node, If):
            self.seq(node.then, [])
            self.seq(node.orelse, [])
        elif isinstance(node, Loop):
            self.seq(node.body, [])
        elif isinstance(node, Switch):
            for body in node.cases:
                self.seq(body, [])

    def node(self, node, states: list[State]) -> list[State]:
        on_event = _ON_EVENT.get(type(node))
        if on_event is not None:
            return on_event(self, node, states)
        if isinstance(node, Block):
            out = self.seq(node.body, states)
            return [self._leave_blocks(s, (node.id,)) for s in out]
        if isinstance(node, If):
            return self.branch(node, states)
        if isinstance(node, Loop):
            return self.loop(node, states)
        if isinstance(node, Switch):
            return self.switch(node, states)
        if isinstance(node, Return):
            for state in states:
                self.ret(node, state)
            return []
        if isinstance(node, Goto):
            if node.label in self.labels_seen:
                return self._back_to_tail(node, states)
            self.gotos.setdefault(node.label, []).extend(
                self._leave_blocks(s, self._blocks_left_by_goto(s, node.label)) for s in states)
            return []
        if isinstance(node, Jump):
            stack = self.breaks if node.kind == "break" else self.continues
            if stack:
                stack[-1].extend(self._leave_blocks(s, node.leaves) for s in states)
                return []
            return states
        raise TypeError(node)

    def _back_to_tail(self, node: Goto, states: list[State]) -> list[State]:
        """A backward goto ends its path (a retry repeats what was already walked), except
        one from past the return that ends its label's code (`out: unlock; return rv;
        out_put: put; goto out;`): that path runs the code again, to its return."""
        tail = self.tails.get(node.label)
        if tail is None or node.line <= tail[-1].line or node.label in self.rewalking:
            return []
        self.rewalking.add(node.label)
        self.seq(tail, [self._leave_blocks(s, self._blocks_left_by_goto(s, node.label)) for s in states])
        self.rewalking.discard(node.label)
        return []

    def _blocks_left_by_goto(self, state: State, label: str) -> tuple:
        inside = set(self.label_blocks.get(label, ()))
        return tuple(block for _, block in state.scoped if block not in inside)

    def _leave_blocks(self, state: State, blocks: tuple) -> State:
        if not state.scoped:
            return state
        ending = {(lock, block) for lock, block in state.scoped if block in blocks}
        if not ending:
            return state
        held = state.held - {lock for lock, _ in ending}
        return state._replace(held=held, scoped=state.scoped - ending)

    # branches
    def branch(self, node: If, states: list[State]) -> list[State]:
        then_in, else_in = [], []
        for state in states:
            for truth, bucket in ((True, then_in), (False, else_in)):
                taken = self._take(node, state, truth)
                if taken is not None:
                    bucket.append(taken)
        then_out = self.seq(node.then, _limit(then_in))
        else_out = self.seq(node.orelse, _limit(else_in))
        return _limit(then_out + else_out)

    def _take(self, node: If, state: State, truth: bool) -> State | None:
        if node.key is not None and (node.key, not truth) in state.known:
            return None
        if node.test is not None:
            state = self._decide(state, node.test, truth)
            if state is None:
                return None
        known = state.known if node.key is None else state.known | {(node.key, truth)}
        warned = state.warned or node.warn_branch == truth
        if self.lock_sets_only:
            return state._replace(known=known, warned=warned)
        return state._replace(known=known, decisions=((node.line, truth), state.decisions), warned=warned)

    def _decide(self, state: State, test: Test | AllOf | AnyOf, truth: bool) -> State | None:
        if type(test) is not Test:
            # a && b true: both hold; a || b false: neither holds
            if (type(test) is AllOf) == truth:
                for part in test.tests:
                    state = self._decide(state, part, truth)
                    if state is None:
                        return None
                return state
            # a && b false: b failed or never ran; for a trylock or a conditional counter the
            # two are the same (nothing taken), so b counts as failed
            last = test.tests[-1]
            if type(last) is Test and type(last.subject) in (TryResult, CountResult) and \
                    last.subject in state.pending and self._outcome(last.subject, last.sense, False) == "fail":
                return self._resolve(state, last.subject, "fail", last.sense)
            return state
        subject, sense = test.subject, test.sense
        allowed = SENSES[sense] if truth else ALL_CLASSES - SENSES[sense]
        if type(subject) is Var:
            value = _get(state.vals, subject.name)
            if value is None and allowed == SENSES["z"]:
                # the branch where it is 0 or NULL: `if (ff) get(ff); return ff;` returns NULL here
                return state._replace(vals=_set_item(state.vals, subject.name, Const(RET_ZERO)))
            if value is None:
                return state
            if type(value) is Const:
                return state if value.cls in allowed else None
            subject = value
        if subject not in state.pending:
            return state
        outcome = self._outcome(subject, sense, truth)
        return self._resolve(state, subject, outcome, sense) if outcome else state

    def _outcome(self, subject: CallResult | TryResult | CountResult, sense: str, truth: bool) -> str | None:
        """"ok" or "fail" when a branch that tested `subject` tells which, else None."""
        allowed = SENSES[sense] if truth else ALL_CLASSES - SENSES[sense]
        ok, fail = self._classes(subject, sense)
        if not (allowed & fail):
            return "ok"
        if not (allowed & ok):
            return "fail"
        return None

    def _ok_sense(self, subject: CallResult | TryResult | CountResult) -> str:
        if type(subject) is CountResult:
            return "nonzero"
        if type(subject) is TryResult:
            return "zero" if self.body.lock_kinds[subject.index] == "try0" else "nonzero"
        return self.effects[self.facts.calls[subject.index].name].ok_sense

    def _classes(self, subject: CallResult | TryResult | CountResult, sense: str | None) -> tuple[frozenset, frozenset]:
        """The ok and fail value classes of a result, as a branch with test `sense` sees it."""
        ok_sense = self._ok_sense(subject)
        ok, fail = OK_SENSES[ok_sense]
        if ok_sense == "pointer" and sense in POINTER_FAILS:
            fail = POINTER_FAILS[sense]
        return ok, fail

    def _resolve(self, state: State, subject: CallResult | TryResult | CountResult, outcome: str,
                 sense: str | None = None) -> State:
        """`sense`: the test that decided the outcome, None when no branch did."""
        state = state._replace(pending=tuple(p for p in state.pending if p != subject))
        if type(subject) is CountResult:
            state = self._settle_vars(state, subject, outcome, sense)
            change = self.changes[subject.index] if outcome == "ok" else None
            return self._change(state, change)
        if type(subject) is TryResult:
            state = self._settle_vars(state, subject, outcome, sense)
            if outcome == "ok":
                op = self.facts.lock_ops[subject.index]
                state = self._acquire(state, op.lock, None)
            return state
        state = self._settle_vars(state, subject, outcome, sense)
        call = self.facts.calls[subject.index]
        effect = self.effects[call.name]
        state = self._apply(state, effect.ok if outcome == "ok" else effect.fail)
        calls = tuple((n, line, outcome if (n, line) == (call.name, call.line) and o is None else o)
                      for n, line, o in state.calls)
        return state._replace(calls=calls)

    def _settle_vars(self, state: State, subject: CallResult | TryResult | CountResult, outcome: str,
                     sense: str | None) -> State:
        """Variables holding a result now decided take the class it has on that outcome."""
        ok, fail = self._classes(subject, sense)
        cls = sorted(ok if outcome == "ok" else fail)[0]
        vals = tuple((var, Const(cls) if value == subject else value) for var, value in state.vals)
        return state._replace(vals=vals)

    # loops and switches
    def loop(self, node: Loop, states: list[State]) -> list[State]:
        self.breaks.append([])
        self.continues.append([])
        body_out = self.seq(node.body, states)
        breaks = self.breaks.pop()
        continues = self.continues.pop()
        out = breaks
        if not node.forever:
            out = out + body_out + continues
            if not node.at_least_once:
                out = out + states
        return _limit(out)

    def switch(self, node: Switch, states: list[State]) -> list[State]:
        self.breaks.append([])
        falling: list[State] = []
        for body in node.cases:
            falling = self.seq(body, _limit(states + falling))
        out = self.breaks.pop() + falling
        if not node.has_default:
            out = out + states
        return _limit(out)

    # events (run through _ON_EVENT, by the event's type)
    def access(self, node: AccessEvent, states: list[State]) -> list[State]:
        index = node.index
        self._record(self.access_locks, self.unreached_accesses, index, states)
        if index in self.body.conditional_accesses:
            return [s._replace(pending=s.pending + (CountResult(index),)) for s in states]
        change, store = self.changes[index], self.stores[index]
        if store is not None:
            states = [s._replace(stores=(store, s.stores)) for s in states]
        if change is None:
            return states
        return [self._change(s, change) for s in states]

    def lock(self, node: LockEvent, states: list[State]) -> list[State]:
        op = self.facts.lock_ops[node.index]
        if node.api_op in ("try", "try0"):
            return [s._replace(pending=s.pending + (TryResult(node.index),)) for s in states]
        if op.op == ACQUIRE:
            return [self._acquire(s, op.lock, node.scope) for s in states]
        if op.op == RELEASE:
            return [self._release(s, op.lock) for s in states]
        if op.op == ASSERT:
            out = []
            for s in states:
                if op.lock not in s.held:
                    self.asserted_unheld.add(op.lock)
                    s = s._replace(held=s.held | {op.lock})
                out.append(s)
            return out
        return states

    def call(self, node: CallEvent, states: list[State]) -> list[State]:
        self._record(self.call_locks, self.unreached_calls, node.index, states)
        call = self.facts.calls[node.index]
        effect = self.effects.get(call.name)
        if effect is None:  # nothing known about the callee: not part of the path's story
            return states
        made = () if self.lock_sets_only else ((call.name, call.line, None),)
        if effect.uniform:
            return [self._apply(s._replace(calls=s.calls + made), effect.ok) for s in states]
        pending = (CallResult(node.index),)
        return [s._replace(calls=s.calls + made, pending=s.pending + pending) for s in states]

    def set_local(self, node: SetEvent, states: list[State]) -> list[State]:
        return [self._assign(s, node.name, node.value) for s in states]

    def range_start(self, node: RangeEvent, states: list[State]) -> list[State]:
        held = frozenset({UNKNOWN_LOCKS}) | _held_before(self.facts, node.start, node.end)
        return [s._replace(held=held, scoped=frozenset()) for s in states]

    def _change(self, state: State, change) -> State:
        if change is None:
            return state
        what, key, amount = change
        if what == "delta":
            return state._replace(deltas=_add_delta(state.deltas, key, amount))
        return state._replace(bits=_set_item(state.bits, key, amount))

    def _record(self, table: dict, unreached: set, index: int, states: list[State]) -> None:
        """The locks held at an access or a call (`table`: access_locks or call_locks, `unreached`
        its events not reached yet): those held on every path reaching it (and "?" when any
        path's lock state is unknown)."""
        if len(states) == 1:
            held = states[0].held
        else:
            held = frozenset.intersection(*(s.held for s in states))
            if any(UNKNOWN_LOCKS in s.held for s in states):
                held |= {UNKNOWN_LOCKS}
        if self.rewalking and index in table:  # code walked again: held on every walk's paths
            held = (table[index] & held) | (table[index] & {UNKNOWN_LOCKS})
        else:
            unreached.discard(index)
        table[index] = held

    def _assign(self, state: State, var: str, value) -> State:
        old = _get(state.vals, var)
        if old is not None and type(old) is not Const and old in state.pending:
            state = self._resolve(state, old, "ok")
        if value is not None and type(value) is not Const:  # a result: kept while it is pending
            value = value if value in state.pending else None
        known = state.known
        reading = self.conditions_reading.get(var)
        if reading and known:
            known = frozenset((k, t) for k, t in known if k not in reading)
        vals = _set_item(state.vals, var, value)
        if vals is state.vals and known is state.known:
            return state
        return state._replace(vals=vals, known=known)

    def _acquire(self, state: State, lock: str, scope) -> State:
        scoped = state.scoped | {(lock, scope)} if scope is not None else state.scoped
        return state._replace(held=state.held | {lock}, scoped=scoped)

    def _release(self, state: State, lock: str) -> State:
        if lock in state.held:
            # releasing what it held, code seen in part shows its lock state: nothing else held
            return state._replace(held=state.held - {lock, UNKNOWN_LOCKS})
        return state._replace(released=state.released | {lock})

    def _apply(self, state: State, outcome: Outcome) -> State:
        if outcome == NO_EFFECT:  # the common case: a callee with no effect on its caller
            return state
        for lock in outcome.releases:
            state = self._release(state, lock)
        for lock in outcome.acquires:
            state = self._acquire(state, lock, None)
        deltas = state.deltas
        if outcome.deltas:
            found = dict(deltas)
            for key, amount in outcome.deltas:
                found[key] = found.get(key, 0) + amount
            deltas = tuple(sorted((k, v) for k, v in found.items() if v))
        bits = state.bits
        for key, op in outcome.bits:
            bits = _set_item(bits, key, op)
        return state._replace(deltas=deltas, bits=bits)

    # returns
    def ret(self, node: Return, state: State) -> None:
        if self.lock_sets_only:
            return
        if state.scoped:
            state = self._leave_blocks(state, tuple(block for _, block in state.scoped))
        if not self.facts.complete and not any(a <= node.line <= b for a, b in self.facts.known_lines):
            # a return nobody has seen (the end the hunk-only repair gave the function)
            state = state._replace(held=frozenset({UNKNOWN_LOCKS}))
        value = node.value
        if type(value) is Choice:  # each value the test lets this path return
            for truth, chosen in ((True, value.then), (False, value.orelse)):
                taken = self._decide(state, value.test, truth)
                if taken is not None:
                    self.ret(Return(node.line, chosen), taken)
            return
        if type(value) is Var:
            value = _get(state.vals, value.name)
        if value is not None and type(value) is not Const and value in state.pending:
            ok, fail = OK_SENSES[self._ok_sense(value)]
            self._exit(node.line, sorted(ok)[0], self._finish(self._resolve(state, value, "ok")))
            self._exit(node.line, sorted(fail)[0], self._finish(self._resolve(state, value, "fail")))
            return
        if value is None:
            cls = RET_VOID if self.body.void_return else (RET_POINTER if self.body.pointer_return else RET_OTHER)
        elif type(value) is Const:
            cls = value.cls
        else:
            cls = RET_POINTER if self.body.pointer_return else RET_OTHER
        self._exit(node.line, cls, self._finish(state))

    def _finish(self, state: State) -> State:
        """Results nobody tested: a trylock is not counted as held, a call as succeeded (its
        effects apply, but the path's calls do not say a branch saw it succeed)."""
        if not state.pending:
            return state
        for subject in state.pending:
            if type(subject) is not TryResult:
                state = self._resolve(state, subject, "ok")._replace(calls=state.calls)
        return state._replace(pending=())

    def _exit(self, line: int, cls: str, state: State) -> None:
        if cls == RET_ZERO and self.body.pointer_return:
            cls = RET_NULL
        # paths that end alike are one exit: made once (half the paths end as another did)
        key = (line, cls, state.held, state.deltas, state.bits, state.decisions, state.calls, state.stores)
        exit_ = self.exits.get(key)
        if exit_ is None:
            decisions = _unchain(state.decisions)
            exit_ = self.exits[key] = Exit(line, cls, state.held, state.deltas, state.bits,
                                           tuple(line for line, _ in decisions), tuple(truth for _, truth in decisions),
                                           state.calls, tuple(_unchain(state.stores)))
        self.released[exit_] = self.released.get(exit_, frozenset()) | state.released
        if state.warned:
            self.warned.add(exit_)


# what the interpreter does at each kind of event (events are most of a tree's nodes: one look-up)
_ON_EVENT = {AccessEvent: _Run.access, CallEvent: _Run.call, SetEvent: _Run.set_local, LockEvent: _Run.lock,
             RangeEvent: _Run.range_start}


def run(facts, body: FunctionBody, effects: dict[str, CallEffect], change_of,
        entry_locks: frozenset = frozenset(), lock_sets_only: bool = False) -> PathResult:
    """Interpret a function's control-flow tree (see the module docstring). `change_of(access)`
    says what an access moves: ("delta", key, amount), ("bit", key, "set"|"clear") or None.
    `lock_sets_only`: what is wanted is the lock sets of its accesses and calls (and the locks it
    asserts), not its exits: its paths keep no evidence, and it makes no exits (which decide
    nothing of the rest)."""
    runner = _Run(facts, body, effects, change_of, lock_sets_only)
    if facts.gotos:
        _collect_labels(body.nodes, (), runner.label_blocks)
    start = State(held=frozenset(entry_locks))
    out = runner.seq(body.nodes, [start])
    for state in out:  # falling off the end
        runner.ret(Return(line=facts.end_line, value=None), state)
    unknown = frozenset({UNKNOWN_LOCKS})
    for label, states in runner.gotos.items():  # to a label not in view (hunk-only): what follows is unknown
        for state in states:
            runner.ret(Return(line=facts.end_line, value=None), state._replace(held=unknown))
    exits = list(runner.exits.values())
    return PathResult(runner.access_locks, runner.call_locks, exits, runner.released,
                      runner.asserted_unheld, runner.warned, runner.unreached_accesses, runner.unreached_calls)


def with_held(result: PathResult, locks: frozenset) -> PathResult:
    """What `run` gives with `locks` held on entry too, from what it gave without them, for a
    function seen whole whose run takes, releases and asserts none of them (itself or by a
    call): its paths are the same, each holding them all along."""
    def held(table: dict, unreached: set) -> dict:
        return {i: found if i in unreached else found | locks for i, found in table.items()}

    exits = {e: replace(e, locks=e.locks | locks) for e in result.exits}
    return PathResult(held(result.access_locks, result.unreached_accesses), held(result.call_locks, result.unreached_calls),
                      list(exits.values()), {exits[e]: found for e, found in result.released.items()},
                      result.asserted_unheld, {exits[e] for e in result.warned}, result.unreached_accesses,
                      result.unreached_calls)


def _held_before(facts, start: int, end: int) -> frozenset:
    """Locks that lines start..end of a function seen in part release before taking them:
    code not in view took them, so they are held where the range starts."""
    first_op: dict[str, str] = {}
    for op in sorted(facts.lock_ops, key=lambda o: o.line):
        if start <= op.line <= end and op.op in (ACQUIRE, RELEASE):
            first_op.setdefault(op.lock, op.op)
    return frozenset(lock for lock, op in first_op.items() if op == RELEASE)


def _tails(nodes: list) -> dict[str, list]:
    """Label -> the statements from it through the first return after it, for the labels of
    the function's own block."""
    top = nodes[0].body if len(nodes) == 1 and isinstance(nodes[0], Block) else nodes
    tails = {}
    for i, node in enumerate(top):
        if isinstance(node, Label):
            end = next((j for j in range(i + 1, len(top)) if isinstance(top[j], Return)), None)
            if end is not None:
                tails[node.name] = top[i + 1:end + 1]
    return tails


def _collect_labels(nodes: list, blocks: tuple, found: dict) -> None:
    for node in nodes:
        if isinstance(node, Label):
            found[node.name] = blocks
        elif isinstance(node, Block):
            _collect_labels(node.body, blocks + (node.id,), found)
        elif isinstance(node, If):
            _collect_labels(node.then, blocks, found)
            _collect_labels(node.orelse, blocks, found)
        elif isinstance(node, Loop):
            _collect_labels(node.body, blocks, found)
        elif isinstance(node, Switch):
            for body in node.cases:
                _collect_labels(body, blocks, found)


def typical(items: list[tuple]) -> tuple:
    """Per key, the value most of the exits agree on (absent counts as a value; a tie means
    absent): what a caller can expect from a call, without every callee's rare paths piling up."""
    keys = {key for pairs in items for key, _ in pairs}
    found = []
    for key in sorted(keys):
        counts = Counter(dict(pairs).get(key) for pairs in items).most_common()
        if len(counts) > 1 and counts[0][1] == counts[1][1]:
            continue
        if counts[0][0] is not None:
            found.append((key, counts[0][0]))
    return tuple(found)


def may_move(items: list[tuple]) -> tuple:
    """Per key, what the exits that move it move it by (the most common amount): what a call
    may do, e.g. a start that takes a reference unless the file already holds one, a put that
    frees the object on its last reference."""
    amounts: dict = {}
    for pairs in items:
        for key, amount in pairs:
            amounts.setdefault(key, Counter())[amount] += 1
    return tuple((key, counts.most_common(1)[0][0]) for key, counts in sorted(amounts.items()))
