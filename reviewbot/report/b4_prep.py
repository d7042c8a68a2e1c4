"""b4-prep: checkpatch's terse lines (`file:line: ERROR: message [rule]`), for b4's
`b4.prep-perpatch-check-cmd` and git's sendemail-validate hook.

b4 takes every line printed as one finding, a failure when it holds `ERROR:`: so high and
critical findings are ERRORs, the others WARNINGs, and nothing else is printed (no summary,
no notes). A clean patch prints nothing.
"""

from __future__ import annotations

from reviewbot.findings import Finding
from reviewbot.report import RenderOptions, at_or_above, visible_findings
from reviewbot.review import Review

ERROR_FROM = "high"  # this severity and above is an ERROR


def render(review: Review, options: RenderOptions) -> str:
    return "".join(line(f) + "\n" for f in visible_findings(review))


def line(finding: Finding) -> str:
    return (f"{finding.file}:{finding.line}: {level(finding.severity)}: {finding.message} "
            f"[{finding.rule}]")


def level(severity: str) -> str:
    return "ERROR" if at_or_above(severity, ERROR_FROM) else "WARNING"
