"""A Review as plain JSON data and back: what the store keeps of a finished job, so that the
pages and the APIs render a stored review with the same renderers as a fresh one."""

from __future__ import annotations

import json
from dataclasses import asdict

from reviewbot.findings import Finding
from reviewbot.review import FunctionTable, Review, TableRow, Transition
from reviewbot.series import Patch, Reply, Series


def dumps(review: Review) -> str:
    return json.dumps(asdict(review), ensure_ascii=False, separators=(",", ":"))


def loads(text: str) -> Review:
    data = json.loads(text)
    series = data["series"]
    return Review(
        series=Series(**{**series,
                         "patches": [_patch(p) for p in series["patches"]],
                         "cover_replies": [Reply(**r) for r in series["cover_replies"]]}),
        mode=data["mode"],
        base=data["base"],
        findings=[Finding(**f) for f in data["findings"]],
        suppressed=data["suppressed"],
        tables=[FunctionTable(**{**t, "rows": [_row(r) for r in t["rows"]]})
                for t in data["tables"]],
        transitions=[Transition(**t) for t in data["transitions"]],
        notes=data["notes"],
        tree=data["tree"],
    )


def _patch(data: dict) -> Patch:
    return Patch(**{**data, "trailers": [tuple(t) for t in data["trailers"]],
                    "replies": [Reply(**r) for r in data["replies"]]})


def _row(data: dict) -> TableRow:
    return TableRow(**{**data, "locks": tuple(data["locks"]), "marks": tuple(data["marks"])})
