"""What reviewbot knows about the code beyond one function: which fields are tracked, which lock
guards which field (with the sites that show it), which functions pair up, which contexts are
exclusive. Built from the facts of every scanned file plus the profiles and the config.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reviewbot.c.model import FunctionFacts
from reviewbot.knowledge.config import Config, load_config, profiles_for_paths
from reviewbot.knowledge.exclusive import ExclusiveContexts
from reviewbot.knowledge.guards import ASSERTED, INFERRED, Guard, Site, infer_guards
from reviewbot.knowledge.pairs import Pair, find_pairs
from reviewbot.knowledge.tracked import TrackedField, find_tracked

__all__ = ["Config", "Guard", "Knowledge", "Pair", "Site", "TrackedField", "build_knowledge", "load_config",
           "profiles_for_paths"]


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
    config = (config or Config()).for_paths(program.files)
    files = list(program.files.values())
    exclusive = ExclusiveContexts(config.exclusive_patterns)
    return Knowledge(config=config, tracked=find_tracked(files, config),
                     guards=infer_guards(files, exclusive, config), pairs=find_pairs(files, config),
                     exclusive=exclusive)
