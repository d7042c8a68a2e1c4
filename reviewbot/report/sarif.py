"""SARIF 2.1.0, for code-scanning dashboards.

Each rule of the registry is a reportingDescriptor with its doc as help; each finding a result
whose `partialFingerprints` carry the finding's line-free fingerprint, so a dashboard tracks it
across rebases; `baselineState` says whether the series adds it, removes it or leaves it.
"""

from __future__ import annotations

import json

from reviewbot import __version__
from reviewbot.checks import RULES
from reviewbot.checks.base import Rule
from reviewbot.findings import FIXED, NEW, PREEXISTING, Finding
from reviewbot.report import RenderOptions, visible_findings
from reviewbot.review import Review

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
BASELINE_STATES = {NEW: "new", FIXED: "absent", PREEXISTING: "unchanged"}
FINGERPRINT_KEY = "reviewbot/v1"


def render(review: Review, options: RenderOptions) -> str:
    return json.dumps(document(review, options.show_all), indent=2, ensure_ascii=False) + "\n"


def document(review: Review, show_all: bool = False, rules: dict[str, Rule] | None = None) -> dict:
    rules = RULES if rules is None else rules
    names = sorted(rules)
    run = {
        "tool": {"driver": {
            "name": "reviewbot",
            "version": __version__,
            "rules": [_descriptor(rules[name]) for name in names],
        }},
        "columnKind": "unicodeCodePoints",
        "results": [_result(finding, names.index(finding.rule))
                    for finding in visible_findings(review, show_all)],
        "properties": {"mode": review.mode, "base": review.base, "notes": list(review.notes),
                       "suppressed": review.suppressed, "series": review.series.subject},
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def _descriptor(rule: Rule) -> dict:
    return {
        "id": rule.name,
        "shortDescription": {"text": rule.summary},
        "help": {"text": rule.doc, "markdown": rule.doc},
        "defaultConfiguration": {"level": LEVELS[rule.severity]},
        "properties": {"severity": rule.severity},
    }


def _result(finding: Finding, rule_index: int) -> dict:
    text = "\n".join([finding.message, *finding.evidence])
    return {
        "ruleId": finding.rule,
        "ruleIndex": rule_index,
        "level": LEVELS[finding.severity],
        "message": {"text": text},
        "locations": [{
            "physicalLocation": {
                "artifactLocation": {"uri": finding.file},
                "region": {"startLine": finding.line},
            },
            "logicalLocations": [{"name": finding.function, "kind": "function"}],
        }],
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
        "baselineState": BASELINE_STATES[finding.status],
        "properties": {"severity": finding.severity, "status": finding.status,
                       "patch": finding.patch, "evidence": list(finding.evidence)},
    }
