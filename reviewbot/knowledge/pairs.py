"""Paired operations: the function that takes something and the one that gives it back.

Found four ways:
- effects: one function moves a field one way (adds K, sets a bit), another moves it back
  (subtracts K, clears the bit). Functions whose names also pair are matched by name; of the
  rest, a field with exactly one function each way pairs them. More than that is ambiguous and
  gives no pair: no guesses.
- names: two functions whose names differ in one `_`-separated word that is a verb pair
  (fuse_inode_uncached_io_start / fuse_inode_uncached_io_end).
- kernel reference APIs (reviewbot.c.apis.REFERENCE_PAIRS and `[references]` in the config)
  that the code calls.
- `[pairs]` in the config.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from reviewbot.c.apis import BIT_OPS, COUNTER_APIS
from reviewbot.c.model import (ADD, CLEAR_BIT, DEC, GET, INC, PUT, SET_BIT, SUB, TEST_AND_CLEAR_BIT,
                               TEST_AND_SET_BIT, FileFacts, FunctionFacts)
from reviewbot.knowledge.config import Config, source_label

# (acquire verb, release verb): the first word takes, the second gives back
VERB_PAIRS = (
    ("start", "end"), ("begin", "end"), ("open", "release"), ("open", "close"), ("get", "put"),
    ("acquire", "release"), ("lock", "unlock"), ("set", "clear"), ("inc", "dec"), ("enter", "exit"),
    ("attach", "detach"), ("alloc", "free"), ("init", "destroy"), ("create", "destroy"), ("add", "del"),
    ("add", "remove"), ("register", "unregister"), ("map", "unmap"), ("request", "release"),
    ("start", "stop"), ("pin", "unpin"), ("hold", "unhold"), ("ref", "unref"), ("grab", "drop"),
    ("link", "unlink"),
)
_GIVES: dict[str, list[str]] = {}
for _take, _give in VERB_PAIRS:
    _GIVES.setdefault(_take, []).append(_give)
BIT_AMOUNT = "bit"  # the amount a set_bit / clear_bit moves a flag bit by

_UP = {INC: 1, GET: 1, ADD: 1, SET_BIT: 1, TEST_AND_SET_BIT: 1}
_DOWN = {DEC: -1, PUT: -1, SUB: -1, CLEAR_BIT: -1, TEST_AND_CLEAR_BIT: -1}


@dataclass(frozen=True)
class Pair:
    acquire_fn: str
    release_fn: str
    key: str | None  # the field whose effects cancel; None for a pair by names or API only
    why: str  # evidence, e.g. "names differ in start/end; `...` moves `fuse_inode.iocachectr` by -1, ..."


class PairFinder:
    """The pairs among the functions of the files added one at a time (build_knowledge reads
    each once)."""

    def __init__(self):
        self.defined: set[str] = set()
        self.called: set[str] = set()
        self.moves: dict[tuple[str, str], dict[int, list[str]]] = {}  # (key, amount) -> direction -> functions

    def add(self, facts: FileFacts) -> None:
        for function in facts.functions:
            self.defined.add(function.name)
            self.called.update(call.name for call in function.calls)
            for key, moved in function_effects(function).items():
                for amount, net in moved.items():
                    self.moves.setdefault((key, amount), {1: [], -1: []})[net].append(function.name)

    def merge(self, other: PairFinder) -> None:
        """Take in what another finder found (in files added after this one's)."""
        self.defined |= other.defined
        self.called |= other.called
        for move, functions in other.moves.items():
            found = self.moves.setdefault(move, {1: [], -1: []})
            for net, names in functions.items():
                found[net].extend(names)

    def result(self, config: Config) -> list[Pair]:
        apis = set(config.lock_apis) | set(BIT_OPS) | set(COUNTER_APIS)
        used = self.defined | self.called
        by_names = name_pairs(used - apis)
        pairs = [Pair(acquire, release, None, f"listed in [pairs] ({source_label(config.origin('pairs', acquire))})")
                 for acquire, release in config.pairs.items()]
        pairs += _effect_pairs(self.moves, by_names)
        found = {(p.acquire_fn, p.release_fn) for p in pairs}
        pairs += [Pair(acquire, release, None, f"names differ in {verbs}")
                  for (acquire, release), verbs in sorted(by_names.items()) if (acquire, release) not in found]
        pairs += [Pair(acquire, release, None, _reference_why(config.origin("references", acquire, default=None)))
                  for acquire, release in sorted(config.reference_pairs.items())
                  if acquire in used or release in used]
        return _unique(pairs)


def name_pairs(names) -> dict[tuple[str, str], str]:
    """(acquire, release) -> "start/end" for the names that differ in one verb of a verb pair."""
    names = set(names)
    found = {}
    for name in sorted(names):
        words = name.split("_")
        for i, word in enumerate(words):
            for give in _GIVES.get(word, ()):
                other = "_".join(words[:i] + [give] + words[i + 1:])
                if other in names:
                    found.setdefault((name, other), f"{word}/{give}")
    return found


def function_effects(function: FunctionFacts) -> dict[str, dict[str, int]]:
    """Field key -> {amount: net direction}: {"1": -1} for one `x--`, {"2": 1} for `x++; x++`,
    {"len": 1} for `x += len`, {"bit": 1} for set_bit. Moves that cancel inside the function
    drop out."""
    numeric: Counter = Counter()  # key -> net amount
    named: dict[str, Counter] = {}  # key -> amount as written (or "bit") -> net count
    for access in function.accesses:
        sign = _UP.get(access.op) or _DOWN.get(access.op)
        if sign is None:
            continue
        amount = BIT_AMOUNT if ":" in access.key else _amount(access)
        if isinstance(amount, int):
            numeric[access.key] += sign * amount
        else:
            named.setdefault(access.key, Counter())[amount] += sign
    effects: dict[str, dict[str, int]] = {}
    for key, total in numeric.items():
        if total:
            effects.setdefault(key, {})[str(abs(total))] = 1 if total > 0 else -1
    for key, counts in named.items():
        for amount, count in counts.items():
            if count:
                effects.setdefault(key, {})[amount] = 1 if count > 0 else -1
    return effects


def _amount(access) -> int | str:
    """1 for ++/--/get/put and the atomic inc/dec calls; for += / -= the amount as written, a
    number where it is one. An atomic_add() whose amount the facts don't give is "K"."""
    if access.op not in (ADD, SUB):
        return 1
    value = access.value or ""
    if value.isdigit():
        return int(value)
    return "K" if not value or value in COUNTER_APIS else value


def _effect_pairs(moves: dict, by_names: dict[tuple[str, str], str]) -> list[Pair]:
    """Pairs from `moves`: (key, amount) -> direction (1, -1) -> the functions moving it so."""
    pairs = []
    for (key, amount), sides in sorted(moves.items()):
        ups, downs = sorted(set(sides[1])), sorted(set(sides[-1]))
        unmatched_up, unmatched_down = set(ups), set(downs)
        for up in ups:
            for down in downs:
                named = (up, down) if (up, down) in by_names else (down, up) if (down, up) in by_names else None
                if named:
                    pairs.append(_effect_pair(named, key, amount, up, by_names[named]))
                    unmatched_up.discard(up)
                    unmatched_down.discard(down)
        if len(unmatched_up) == 1 and len(unmatched_down) == 1:
            # the only two functions moving this field: the one that adds or sets takes
            up, down = unmatched_up.pop(), unmatched_down.pop()
            pairs.append(_effect_pair((up, down), key, amount, up, None))
    return pairs


def _effect_pair(pair: tuple[str, str], key: str, amount: str, up: str, verbs: str | None) -> Pair:
    acquire, release = pair
    if amount == BIT_AMOUNT:
        moves = (f"`{acquire}` {'sets' if acquire == up else 'clears'} `{key}`, "
                 f"`{release}` {'sets' if release == up else 'clears'} it")
    else:
        step = amount if amount.isdigit() else f"`{amount}`"
        moves = (f"`{acquire}` moves `{key}` by {'+' if acquire == up else '-'}{step}, "
                 f"`{release}` by {'+' if release == up else '-'}{step}")
    return Pair(acquire, release, key, f"names differ in {verbs}; {moves}" if verbs else moves)


def _reference_why(origin: str | None) -> str:
    if origin is None:
        return "kernel reference API pair"
    return f"reference API pair listed in [references] ({source_label(origin)})"


def _unique(pairs: list[Pair]) -> list[Pair]:
    seen, out = set(), []
    for pair in pairs:
        ident = (pair.acquire_fn, pair.release_fn, pair.key)
        if ident not in seen:
            seen.add(ident)
            out.append(pair)
    return out
