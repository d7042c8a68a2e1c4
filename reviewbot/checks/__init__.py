"""The rules: one module each. A check reads the facts of one function version (and what the
knowledge layer knows) and yields Findings. This registry is what `reviewbot rules` lists.

INTERFACE: Rule is settled; the rule modules are being written.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    name: str  # "check-then-act"
    severity: str  # default severity
    summary: str  # one line
    doc: str  # markdown: what it finds, why it matters, an example, how to silence it


RULES: dict[str, Rule] = {}
