"""Renderers: one Review in, one output format out.

Each renderer is a module of this package with `render(review, options) -> str` and a
docstring whose first line describes the format; the module's name is the format's name
(`--format NAME`). A new format is just a new module: `renderers()` finds it.

What every renderer shares lives here: which findings are shown, in which order, how a patch
is named, and how severities compare.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache

from reviewbot.findings import FIXED, NEW, PREEXISTING, SEVERITIES, Finding
from reviewbot.review import Review

STATUS_ORDER = (NEW, FIXED, PREEXISTING)


@dataclass(frozen=True)
class RenderOptions:
    """What a caller may ask of any renderer; each reads the options that concern it."""

    show_all: bool = False  # also the fixed and pre-existing findings
    tables: bool = False  # the mutation tables and transitions too (text)
    sender: str | None = None  # `Name <address>` the replies come from (mail)


@cache
def renderers() -> dict[str, object]:
    """Format name -> renderer module: the modules of this package that define `render`."""
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if callable(getattr(module, "render", None)):
            found[info.name.replace("_", "-")] = module
    return found


def render(format_name: str, review: Review, options: RenderOptions = RenderOptions()) -> str:
    """`review` in the format `format_name` (a key of renderers())."""
    return renderers()[format_name].render(review, options)


def visible_findings(review: Review, show_all: bool = False) -> list[Finding]:
    """The new findings (every finding with show_all), new first, then by patch and place."""
    shown = [f for f in review.findings if show_all or f.status == NEW]
    return sorted(shown, key=lambda f: (STATUS_ORDER.index(f.status), f.patch or 0,
                                        f.file, f.line, f.rule, f.fingerprint))


def status_counts(review: Review) -> dict[str, int]:
    """How many findings of each status, and how many were silenced."""
    counts = {status: 0 for status in STATUS_ORDER}
    for finding in review.findings:
        counts[finding.status] += 1
    counts["suppressed"] = review.suppressed
    return counts


def patch_label(review: Review, number: int) -> str:
    """`2/3`: how the series' own subjects number the patch."""
    return f"{number}/{len(review.series.patches)}"


def at_or_above(severity: str, threshold: str) -> bool:
    """True when `severity` is as serious as `threshold` or more (critical is the most)."""
    return SEVERITIES.index(severity) <= SEVERITIES.index(threshold)
