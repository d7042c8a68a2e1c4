"""What reviewbot knows about the code beyond one function: which fields are tracked, which lock
guards which field (with the sites that show it), which functions pair up, which contexts are
exclusive. Built from the facts of every scanned file plus the profiles and the config.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reviewbot.c.model import FunctionFacts
from reviewbot.knowledge.config import Config, load_config, profiles_for_paths
from reviewbot.knowledge.exclusive import ExclusiveContexts
from reviewbot.knowledge.guards import ASSERTED, INFERRED, Guard, GuardFinder, Site
from reviewbot.knowledge.pairs import Pair, PairFinder
from reviewbot.knowledge.tracked import TrackedField, TrackedFinder

__all__ = ["Config", "Guard", "Knowledge", "KnowledgeBuilder", "KnowledgePart", "Pair", "Site", "TrackedField",
           "build_knowledge", "load_config", "profiles_for_paths"]


@dataclass
class Knowledge:
    config: Config  # with the profiles applied that the scanned paths enable
    tracked: dict[str, TrackedField] = field(default_factory=dict)
    guards: dict[str, Guard] = field(default_factory=dict)
    pairs: list[Pair] = field(default_factory=list)
    exclusive: ExclusiveContexts = field(default_factory=lambda: ExclusiveContexts(()))

    def guard(self, key: str) -> Guard | None:
        """The guard of a field or bit; a bit no code touches still has its flag word's
        configured guard."""
        guard = self.guards.get(key)
        if guard is None and ":" in key:
            word = self.guards.get(key.partition(":")[0])
            if word is not None and word.source not in (INFERRED, ASSERTED):
                return word
        return guard

    def is_exclusive(self, function: FunctionFacts | str) -> bool:
        """Whether the function runs while its objects are unshared (open, release, evict, ...)."""
        return self.exclusive.function(function if isinstance(function, str) else function.name)


def build_knowledge(program, config: Config | None = None) -> Knowledge:
    """program: anything with `.files` (path -> FileFacts), e.g. reviewbot.c.analyze's Program."""
    builder = KnowledgeBuilder(config or Config(), program.files)
    for facts in program.files.values():
        builder.add(facts)
    return builder.build()


@dataclass
class KnowledgePart:
    """What one file teaches, each finder's share apart. An index makes the parts where the
    files are analysed (its worker processes) and caches them; the process that gathers the
    tree only merges them, which costs far less than reading every file's facts again."""

    functions: int  # the functions of the file
    tracked: TrackedFinder
    guards: GuardFinder
    pairs: PairFinder


class KnowledgeBuilder:
    """Knowledge from the files' facts added one at a time, so that a caller with a whole tree
    (the index) need not keep every file's facts. `paths`: every file that will be added, for
    the profiles they enable. Files added in another order give the same tracked fields, guards
    and pairs; only the order of the guards and of a guard's assertions follows the files'."""

    def __init__(self, config: Config, paths):
        self.config = config.for_paths(paths)
        self.exclusive = ExclusiveContexts(self.config.exclusive_patterns)
        self.tracked, self.guards, self.pairs = TrackedFinder(), GuardFinder(self.exclusive), PairFinder()

    def add(self, facts) -> None:
        for finder in (self.tracked, self.guards, self.pairs):
            finder.add(facts)

    def part(self, facts) -> KnowledgePart:
        """What one file's facts add, apart from what the builder holds: to be merged (in
        file order) by this builder, or by another one with the same config."""
        part = KnowledgePart(len(facts.functions), TrackedFinder(), GuardFinder(self.exclusive), PairFinder())
        for finder in (part.tracked, part.guards, part.pairs):
            finder.add(facts)
        return part

    def merge(self, part: KnowledgePart) -> None:
        """What `add` of the part's file would have done."""
        self.tracked.merge(part.tracked)
        self.guards.merge(part.guards)
        self.pairs.merge(part.pairs)

    def build(self) -> Knowledge:
        return Knowledge(config=self.config, tracked=self.tracked.result(self.config),
                         guards=self.guards.result(self.config), pairs=self.pairs.result(self.config),
                         exclusive=self.exclusive)
