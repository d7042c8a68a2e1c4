"""Describe one rule: what it finds, why it matters, an example, how to silence it."""

from __future__ import annotations

from reviewbot.checks import RULES
from reviewbot.errors import InputError


def add_arguments(parser) -> None:
    parser.add_argument("rule", metavar="RULE", help="a rule name, as `reviewbot rules` lists them")


def run(args) -> int:
    rule = RULES.get(args.rule)
    if rule is None:
        raise InputError(args.rule, f"no such rule; known rules: {', '.join(sorted(RULES))}")
    print(rule.doc.strip())
    print(f"\nDefault severity: {rule.severity}.")
    return 0
