"""The rules: one module each (a module of this package with `RULE` and `check(ctx)`), found
here, so that a new rule is just a new module. A check reads the facts of the analysed
functions at one version of the series (and what the knowledge layer knows about them) and
yields Findings. This registry is what `reviewbot rules` lists.

What rules share lives in `base` (Rule, CheckContext, evidence wording) and `gating` (what a
branch condition decides); rules never import each other.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable

from reviewbot.checks.base import CheckContext, Rule
from reviewbot.findings import Finding


def _rule_modules() -> list:
    modules = (importlib.import_module(f"{__name__}.{info.name}")
               for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name))
    return [module for module in modules
            if isinstance(getattr(module, "RULE", None), Rule) and callable(getattr(module, "check", None))]


_MODULES = _rule_modules()
RULES: dict[str, Rule] = {module.RULE.name: module.RULE for module in _MODULES}
CHECKS: dict[str, Callable[[CheckContext], Iterable[Finding]]] = {
    module.RULE.name: module.check for module in _MODULES}
