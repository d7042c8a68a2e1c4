"""b4-review: the JSON list b4's `b4.review-perpatch-check-cmd` and
`b4.review-series-check-cmd` read, one entry for reviewbot:
`{"tool", "status": "pass|warn|fail", "summary", "url", "details"}`.

`status` is fail with a new high or critical finding, warn with any other new finding, else
pass; `details` holds the findings as b4 shows checkpatch's (a JSON string of
`{"status", "description"}` items, the description a b4-prep line).
"""

from __future__ import annotations

import json

from reviewbot.report import RenderOptions, at_or_above, visible_findings
from reviewbot.report.b4_prep import ERROR_FROM, level, line
from reviewbot.review import Review

TOOL = "reviewbot"


def render(review: Review, options: RenderOptions) -> str:
    return json.dumps([entry(review)], ensure_ascii=False) + "\n"


def entry(review: Review) -> dict[str, str]:
    findings = visible_findings(review)
    errors = sum(at_or_above(f.severity, ERROR_FROM) for f in findings)
    warnings = len(findings) - errors
    status = "fail" if errors else "warn" if warnings else "pass"
    if findings:
        summary = ", ".join(part for part in (_count(errors, "error"), _count(warnings, "warning"))
                            if part)
    else:
        summary = "no new findings"
    details = [{"status": "fail" if level(f.severity) == "ERROR" else "warn",
                "description": line(f)}
               for f in findings]
    return {"tool": TOOL, "status": status, "summary": summary, "url": "",
            "details": json.dumps(details, ensure_ascii=False) if details else ""}


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number != 1 else ''}" if number else ""
