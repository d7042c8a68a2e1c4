"""Renderers: one Review in, one output format out (text, json, sarif, mail).

What every renderer shares lives here: which findings are shown, in which order, how a patch
is named, and how severities compare.
"""

from __future__ import annotations

from reviewbot.findings import FIXED, NEW, PREEXISTING, SEVERITIES, Finding
from reviewbot.review import Review

STATUS_ORDER = (NEW, FIXED, PREEXISTING)


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
