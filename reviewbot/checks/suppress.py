"""Silencing findings: an inline `reviewbot: ignore[rule]` comment, or a [[suppress]] entry.

An inline comment applies to the line it is on and to the line below it, so it can sit at the
end of the reported line or on a line of its own above it. `reviewbot: ignore` without a rule
list silences every rule there; `reviewbot: ignore[rule-a, rule-b]` only those.
"""

from __future__ import annotations

import re

from reviewbot.findings import Finding

INLINE = re.compile(r"reviewbot:\s*ignore(?:\[([^\]]*)\])?")


def inline_ignored(finding: Finding, lines: list[str]) -> bool:
    """Whether a comment on the finding's line or the line above silences it."""
    for number in (finding.line, finding.line - 1):
        if 1 <= number <= len(lines):
            for match in INLINE.finditer(lines[number - 1]):
                rules = match.group(1)
                if rules is None or finding.rule in {r.strip() for r in rules.split(",")}:
                    return True
    return False


def suppressed(finding: Finding, lines: list[str], config) -> bool:
    """Inline comment in the file version the finding comes from, or a config entry whose
    subject matches the finding's subject or the field it concerns."""
    subjects = [finding.subject, finding.field_key] if finding.field_key else [finding.subject]
    return inline_ignored(finding, lines) or any(
        config.suppresses(finding.rule, finding.file, finding.function, subject) for subject in subjects)
