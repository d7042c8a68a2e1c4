"""Findings are data; reporters in reviewbot.report turn them into text, JSON, SARIF or mail."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

SEVERITIES = ("critical", "high", "medium", "low", "info")

NEW, FIXED, PREEXISTING = "new", "fixed", "preexisting"


@dataclass
class Finding:
    rule: str
    severity: str
    file: str
    line: int
    function: str
    message: str
    evidence: list[str] = field(default_factory=list)
    subject: str = ""  # the field, bit or lock the finding is about; part of the identity
    # the field a finding whose subject is a lock concerns (a lock lost around an access of it):
    # a [[suppress]] entry's subject matches it too; not part of the identity
    field_key: str = ""
    ordinal: int = 0  # tells apart findings with the same rule, file, function and subject
    status: str = NEW
    patch: int | None = None  # 1-based patch number: where it appears (new) or goes away (fixed)

    @property
    def fingerprint(self) -> str:
        """Identity without line numbers, so it survives rebases and reruns."""
        ident = "\0".join([self.rule, self.file, self.function, self.subject, str(self.ordinal)])
        return hashlib.sha256(ident.encode()).hexdigest()[:16]
