"""Guard inference: which lock protects which field, and the sites that show it.

For each field, every access outside exclusive contexts is a site. For each lock seen at a site,
count the sites where it is held and the sites where it is known not to be held; a site whose
lock state is unknown (hunk-only mode, UNKNOWN_LOCKS in its lock set) counts neither way. The
lock with the best share is the guard when it is held at `guard_min_sites` sites or more and
its share is at least `guard_min_share`. An assertion (lockdep_assert_held, __must_hold) in a
function that accesses the field is strong evidence: then one held site is enough.

Not sites, because they need no lock or are annotated as lockless on purpose:
- atomic operations: atomic_*, refcount_*, kref_*, reference get/put calls, and the bit
  operations except the non-atomic `__set_bit` family;
- taking a field's address (`&fi->lock` passed to spin_lock);
- marked accesses (READ_ONCE, WRITE_ONCE, data_race) made without the lock: the mark says the
  lockless access is intended. Made under the lock they count as held sites.

A profile or the config names a guard outright; the sites found for that lock are added to it
as evidence. No guard is ever made up without a site, a profile or a config entry behind it.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

from reviewbot.c.apis import COUNTER_APIS, NOT_FIELD_LOCKS
from reviewbot.c.model import (ADDR, ASSERT, CLEAR_BIT, GET, PUT, SET_BIT, TEST_AND_CLEAR_BIT, TEST_AND_SET_BIT,
                               TEST_BIT, UNKNOWN_LOCKS, FileFacts, FunctionFacts)
from reviewbot.knowledge.config import Config, source_label
from reviewbot.knowledge.exclusive import ExclusiveContexts

INFERRED, ASSERTED = "inferred", "assert"
SITES_SHOWN = 3  # evidence lists the first few sites, then "and N more"

NOT_SITE_OPS = frozenset({ADDR, GET, PUT})
BIT_ACCESS_OPS = frozenset({SET_BIT, CLEAR_BIT, TEST_BIT, TEST_AND_SET_BIT, TEST_AND_CLEAR_BIT})


class Site(NamedTuple):
    file: str
    line: int
    function: str
    locked: bool


class Assertion(NamedTuple):
    """Where a function declares a lock held: lockdep_assert_held(...) or __must_hold(...)."""

    file: str
    line: int
    function: str


@dataclass
class Guard:
    key: str
    lock: str
    held_sites: int
    total_sites: int  # held + known not held; unknown sites are in neither
    sites: list[Site]  # the known sites, by file and line
    source: str  # "inferred", "assert", "profile:NAME" or "config"
    assertions: list[Assertion] = field(default_factory=list)

    @property
    def share(self) -> float:
        return self.held_sites / self.total_sites if self.total_sites else 0.0

    def describe(self) -> str:
        """The evidence a finding quotes, e.g. "`fuse_file.iomode` is accessed under
        `fuse_inode.lock` at 5 of 6 sites: iomode.c:63, iomode.c:75, iomode.c:98 and 2 more"."""
        counted = (f"at {self.held_sites} of {self.total_sites} site{'s' if self.total_sites != 1 else ''}: "
                   f"{_site_list([s for s in self.sites if s.locked])}")
        if self.source in (INFERRED, ASSERTED):
            text = f"`{self.key}` is accessed under `{self.lock}` {counted}"
        else:
            text = f"`{self.key}` is guarded by `{self.lock}` ({source_label(self.source)})"
            if self.held_sites:
                text += f"; the code shows it under that lock {counted}"
        if self.assertions:
            text += f"; asserted held in {_site_list(self.assertions, with_function=True)}"
        return text


class GuardFinder:
    """Field key -> Guard, for every field with enough evidence and every configured guard; the
    files are added one at a time (build_knowledge reads each once)."""

    def __init__(self, exclusive: ExclusiveContexts):
        self.exclusive = exclusive
        self.sites: dict[str, dict[tuple[str, int, str], _SiteLocks]] = {}  # key -> (file, line, function) -> locks
        self.assertions: dict[tuple[str, str], list[Assertion]] = {}  # (key, lock) -> assertions

    def add(self, facts: FileFacts) -> None:
        for function in facts.functions:
            asserted = _asserted_locks(function)
            for access in function.accesses:
                if not _is_site(function, access, self.exclusive):
                    continue
                site = (function.file, access.line, function.name)
                seen = self.sites.setdefault(access.key, {}).setdefault(site, _SiteLocks())
                seen.held |= access.locks - {UNKNOWN_LOCKS}
                # a marked access is lockless on purpose: evidence only for the locks it holds
                seen.counts_unlocked |= not access.marks and UNKNOWN_LOCKS not in access.locks
                for lock, assertion in asserted.items():
                    found = self.assertions.setdefault((access.key, lock), [])
                    if assertion not in found:
                        found.append(assertion)

    def merge(self, other: GuardFinder) -> None:
        """Take in what another finder found (in files added after this one's)."""
        for key, by_site in other.sites.items():
            sites = self.sites.setdefault(key, {})
            for site, seen in by_site.items():
                if site in sites:
                    sites[site].held |= seen.held
                    sites[site].counts_unlocked |= seen.counts_unlocked
                else:
                    sites[site] = seen
        for held, assertions in other.assertions.items():
            found = self.assertions.setdefault(held, [])
            found.extend(assertion for assertion in assertions if assertion not in found)

    def __getstate__(self) -> dict:
        # a finder sent or stored (an index's part of one file) leaves the name patterns
        # behind: they are the builder's, and merging needs none
        return {"sites": self.sites, "assertions": self.assertions}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, exclusive=None)

    def result(self, config: Config) -> dict[str, Guard]:
        guards = {}
        for key, by_site in self.sites.items():
            guard = _best_guard(key, by_site, self.assertions, config)
            if guard is not None:
                guards[key] = guard
        for key, (lock, source) in _configured(config, self.sites).items():
            guard = _count(key, lock, self.sites.get(key, {}), source)
            guard.assertions = self.assertions.get((key, lock), [])
            guards[key] = guard
        return guards


@dataclass
class _SiteLocks:
    """What the accesses at one site say: the locks held there, and whether one of them is a
    plain access with known lock state (so the site counts as unlocked for any lock not held)."""

    held: frozenset[str] = frozenset()
    counts_unlocked: bool = False


def _is_site(function: FunctionFacts, access, exclusive: ExclusiveContexts) -> bool:
    if access.op in NOT_SITE_OPS or exclusive.access(function.name, access):
        return False
    if access.op in BIT_ACCESS_OPS:
        return (access.value or "").startswith("__")  # __set_bit and friends are not atomic
    return access.value not in COUNTER_APIS


def _asserted_locks(function: FunctionFacts) -> dict[str, Assertion]:
    asserted = {op.lock: Assertion(function.file, op.line, function.name)
                for op in function.lock_ops if op.op == ASSERT}
    for lock in function.annotations.get("must_hold", ()):
        asserted.setdefault(lock, Assertion(function.file, function.start_line, function.name))
    return asserted


def _count(key: str, lock: str, by_site: dict, source: str) -> Guard:
    known = _sites(lock, by_site)
    held = sum(1 for site in known if site.locked)
    return Guard(key, lock, held, len(known), known, source)


def _sites(lock: str, by_site: dict) -> list[Site]:
    """The sites that say something about `lock`: held there, or a plain access without it."""
    return [Site(file, line, function, lock in seen.held) for (file, line, function), seen in sorted(by_site.items())
            if lock in seen.held or seen.counts_unlocked]


def _best_guard(key: str, by_site: dict, assertions: dict, config: Config) -> Guard | None:
    # the counts of every lock in one pass over the sites; the sites of the best one only
    held: Counter = Counter()  # lock -> sites where it is held
    held_and_plain: Counter = Counter()  # lock -> of those, sites with a plain access too
    plain = 0  # sites with a plain access (that count as unlocked for any lock not held there)
    for seen in by_site.values():
        plain += seen.counts_unlocked
        for lock in seen.held:
            held[lock] += 1
            held_and_plain[lock] += seen.counts_unlocked
    best = None
    for lock in sorted(held):  # by name, so that on a tie the first name stays
        if lock in NOT_FIELD_LOCKS:
            continue
        asserted = assertions.get((key, lock), [])
        total = held[lock] + plain - held_and_plain[lock]
        guard = Guard(key, lock, held[lock], total, [], ASSERTED if asserted else INFERRED, asserted)
        needed = 1 if asserted else config.guard_min_sites
        if guard.held_sites < needed or guard.share < config.guard_min_share:
            continue
        if best is None or _rank(guard) > _rank(best):
            best = guard
    if best is not None:
        best.sites = _sites(best.lock, by_site)
    return best


def _rank(guard: Guard) -> tuple:
    """Higher is better: share, held sites, asserted, a lock in the field's own struct
    (fuse_inode.lock for fuse_inode.state)."""
    same_struct = guard.lock.partition(".")[0] == guard.key.partition(".")[0]
    return (guard.share, guard.held_sites, bool(guard.assertions), same_struct)


def _configured(config: Config, keys) -> dict[str, tuple[str, str]]:
    """Field key -> (lock, source) named by a profile or the config; the bits of a configured
    flag word inherit its guard."""
    named = {key: (lock, config.origin("guards", key)) for key, lock in config.guards.items()}
    for key in keys:
        word = key.partition(":")[0]
        if word != key and key not in named and word in named:
            named[key] = named[word]
    return named


def _site_list(sites, with_function: bool = False) -> str:
    """iomode.c:63, iomode.c:75, iomode.c:98 and 2 more: base names, unless two files share one."""
    paths = {site.file for site in sites}
    short = len({os.path.basename(p) for p in paths}) == len(paths)
    shown = []
    for site in sites[:SITES_SHOWN]:
        where = f"{os.path.basename(site.file) if short else site.file}:{site.line}"
        shown.append(f"{site.function} ({where})" if with_function else where)
    more = len(sites) - SITES_SHOWN
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")
