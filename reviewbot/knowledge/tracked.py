"""Tracked fields: the counters, enum-like state fields and flag bits whose changes a reviewer
follows. Found in the code, then overridden by profiles and the config.

- counter: a field moved by ++ / -- / += / -=, or through atomic_*, refcount_*, kref_* calls;
- state: a field assigned at least two different named constants (`ff->iomode = IOM_CACHED`
  here, `= IOM_NONE` there), an enum-like state machine;
- bit: a flag bit that something sets or clears (`set_bit(FUSE_I_BACKING, &fi->state)`).
"""

from __future__ import annotations

from dataclasses import dataclass

from reviewbot.c.model import (ADD, ASSIGN, CLEAR_BIT, DEC, GET, INC, PUT, SET_BIT, SUB, TEST_AND_CLEAR_BIT,
                               TEST_AND_SET_BIT, FileFacts)
from reviewbot.knowledge.config import BIT, COUNTER, IGNORE, STATE, Config

AUTO_SOURCE = "auto"

COUNTER_OPS = frozenset({INC, DEC, ADD, SUB, GET, PUT})
BIT_MOVES = frozenset({SET_BIT, CLEAR_BIT, TEST_AND_SET_BIT, TEST_AND_CLEAR_BIT})
NOT_STATES = frozenset({"NULL", "TRUE", "FALSE"})  # upper case, but not a state name
MIN_STATE_VALUES = 2  # one constant assigned once is an initialisation, not a state machine


@dataclass(frozen=True)
class TrackedField:
    key: str  # "fuse_file.iomode", "fuse_inode.state:FUSE_I_BACKING"
    kind: str  # COUNTER, STATE or BIT
    source: str  # "auto", "profile:NAME" or "config"


class TrackedFinder:
    """The tracked fields of the files added one at a time (build_knowledge reads each once)."""

    def __init__(self):
        self.enum_constants: set[str] = set()
        self.counters: set[str] = set()
        self.bits: set[str] = set()
        # field -> constants assigned; which are named is known once every file's enums are in
        self.assigned: dict[str, set[str]] = {}

    def add(self, facts: FileFacts) -> None:
        self.enum_constants.update(c for constants in facts.enums.values() for c in constants)
        for function in facts.functions:
            for access in function.accesses:
                if access.op in COUNTER_OPS:
                    self.counters.add(access.key)
                elif access.op in BIT_MOVES:
                    self.bits.add(access.key)
                elif access.op == ASSIGN and access.value:
                    self.assigned.setdefault(access.key, set()).add(access.value)

    def merge(self, other: TrackedFinder) -> None:
        """Take in what another finder found (in other files)."""
        self.enum_constants |= other.enum_constants
        self.counters |= other.counters
        self.bits |= other.bits
        for key, values in other.assigned.items():
            self.assigned.setdefault(key, set()).update(values)

    def result(self, config: Config) -> dict[str, TrackedField]:
        found = {key: COUNTER for key in self.counters}
        found.update((key, BIT) for key in self.bits)
        for key, values in self.assigned.items():
            named = {value for value in values if _is_named_constant(value, self.enum_constants)}
            if len(named) >= MIN_STATE_VALUES and key not in self.counters:
                found[key] = STATE
        tracked = {key: TrackedField(key, kind, AUTO_SOURCE) for key, kind in found.items()}
        for key, kind in config.tracked.items():
            if kind == IGNORE:
                tracked.pop(key, None)
            else:
                tracked[key] = TrackedField(key, kind, config.origin("tracked", key))
        return dict(sorted(tracked.items()))


def _is_named_constant(value: str, enum_constants: set[str]) -> bool:
    """IOM_CACHED yes (an enum constant, or a name in capitals: a macro); NULL, 0, x no."""
    if value in enum_constants:
        return True
    return value.isidentifier() and value.isupper() and value not in NOT_STATES
