"""Exclusive contexts: code that runs while an object is not shared with anyone else.

An object being set up (`*_open`, `*_init`, `*_alloc`, `*_fill_super*`) or torn down (`*_release`, `*_evict*`,
`*_free`, `*_destroy`) has one user, so its fields need no lock there; and an access through a
variable that holds a freshly allocated object (Access.fresh) is the same. Such accesses are
neither violations nor evidence of a guard. The name patterns are fnmatch globs from the config.
"""

from __future__ import annotations

import fnmatch
import re

from reviewbot.c.model import Access


NOTHING = "(?!)"  # the expression no name matches


class ExclusiveContexts:
    def __init__(self, patterns):
        self.patterns = tuple(patterns)
        # one expression for all the globs: a name is matched once, not once per pattern
        self._expression = re.compile("|".join(fnmatch.translate(p) for p in self.patterns) or NOTHING)
        self._by_name: dict[str, bool] = {}

    def function(self, name: str) -> bool:
        """Whether a function with this name runs while its objects are unshared."""
        known = self._by_name.get(name)
        if known is None:
            known = self._by_name[name] = self._expression.match(name) is not None
        return known

    def access(self, function_name: str, access: Access) -> bool:
        return access.fresh or self.function(function_name)
