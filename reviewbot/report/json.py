"""JSON: the whole review as a document of schema version 1 (docs/json-schema.md).

A consumer checks `schema` first: a change that removes or renames a key, or changes a value's
meaning, bumps it; adding a key does not.
"""

from __future__ import annotations

import json

from reviewbot.report import RenderOptions, status_counts, visible_findings
from reviewbot.review import Review

SCHEMA_VERSION = 1


def render(review: Review, options: RenderOptions) -> str:
    return json.dumps(document(review, options.show_all), indent=2, ensure_ascii=False) + "\n"


def document(review: Review, show_all: bool = False) -> dict:
    series = review.series
    return {
        "schema": SCHEMA_VERSION,
        "mode": review.mode,
        "base": review.base,
        "series": {
            "source": series.source,
            "subject": series.subject,
            "revision": series.revision,
            "cover_msgid": series.cover_msgid,
            "base_commit": series.base_commit,
            "change_id": series.change_id,
            "patches": [{"number": p.number, "subject": p.subject, "author": p.author,
                         "msgid": p.msgid, "commit": p.commit, "files": p.files}
                        for p in series.patches],
        },
        "summary": status_counts(review),
        "notes": list(review.notes),
        "findings": [{"rule": f.rule, "severity": f.severity, "file": f.file, "line": f.line,
                      "function": f.function, "message": f.message, "status": f.status,
                      "patch": f.patch, "fingerprint": f.fingerprint,
                      "evidence": list(f.evidence)}
                     for f in visible_findings(review, show_all)],
        "functions": [{"file": t.file, "function": t.function, "patch": t.patch,
                       "rows": [{"key": r.key, "op": r.op, "value": r.value, "line": r.line,
                                 "locks": list(r.locks), "marks": list(r.marks),
                                 "change": r.change} for r in t.rows]}
                      for t in review.tables],
        "transitions": [{"key": t.key, "from": t.from_value, "to": t.to_value,
                         "function": t.function, "file": t.file, "line": t.line,
                         "change": t.change} for t in review.transitions],
    }
