"""List the rules: name, default severity and what each finds.

`reviewbot explain RULE` shows a rule's whole description.
"""

from __future__ import annotations

from reviewbot.checks import RULES


def add_arguments(parser) -> None:
    pass  # no options: the list is short


def run(args) -> int:
    rows = [("rule", "severity", "finds")]
    rows += [(rule.name, rule.severity, rule.summary) for _, rule in sorted(RULES.items())]
    name_width = max(len(row[0]) for row in rows)
    severity_width = max(len(row[1]) for row in rows)
    for name, severity, summary in rows:
        print(f"{name:<{name_width}}  {severity:<{severity_width}}  {summary}")
    return 0
