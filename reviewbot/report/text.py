"""Text for a terminal: one compiler-style line per finding with its evidence indented below, then
a summary line; optionally the mutation tables and state transitions."""

from __future__ import annotations

from itertools import groupby

from reviewbot.findings import FIXED, NEW, Finding
from reviewbot.report import RenderOptions, patch_label, status_counts, visible_findings
from reviewbot.review import ADDED, REMOVED, Review, TableRow, Transition
from reviewbot.workspace import HUNK_ONLY

CHANGE_MARKS = {ADDED: "+", REMOVED: "-"}


def render(review: Review, options: RenderOptions) -> str:
    lines = []
    for finding in visible_findings(review, options.show_all):
        lines.append(f"{finding.file}:{finding.line}: {finding.severity}: {finding.message} "
                     f"[{finding.rule}] {_where(review, finding)}")
        lines.extend(f"    {item}" for item in finding.evidence)
    if options.tables:
        lines.extend(_tables(review))
        lines.extend(_transitions(review.transitions))
    lines.append(summary(review))
    lines.extend(f"note: {note}" for note in review.notes)  # the hunk-only caveat among them
    return "\n".join(lines) + "\n"


def summary(review: Review) -> str:
    """`1 new, 0 pre-existing, 2 fixed, 1 suppressed; hunk-only mode`: what the review
    found and how much it could see (the notes that follow say what that means)."""
    counts = status_counts(review)
    text = (f"{counts['new']} new, {counts['preexisting']} pre-existing, {counts['fixed']} fixed, "
            f"{counts['suppressed']} suppressed; ")
    if review.mode == HUNK_ONLY:
        return text + "hunk-only mode"
    return text + (f"tree mode, base {review.base}" if review.base else "tree mode")


def _where(review: Review, finding: Finding) -> str:
    if finding.status == NEW:
        return f"(patch {patch_label(review, finding.patch)})"
    if finding.status == FIXED:
        return f"(fixed by patch {patch_label(review, finding.patch)})"
    return "(pre-existing)"


def _tables(review: Review) -> list[str]:
    lines = ["", "Mutation tables (+ added by the patch, - removed by it; locks ? = not knowable "
             "in hunk-only mode):"]
    if not review.tables:
        lines.append("  no function a patch touches uses a tracked field")
    for table in review.tables:
        lines.append(f"{table.file}: {table.function} (patch {patch_label(review, table.patch)})")
        lines.extend(_columns([[" ", "line", "field", "op", "locks"]]
                              + [_table_cells(row) for row in table.rows]))
    lines.append("")
    return lines


def _table_cells(row: TableRow) -> list[str]:
    op = f"{row.op} {row.value}" if row.value and row.value != row.op else row.op
    if row.marks:
        op += f" [{', '.join(row.marks)}]"
    return [CHANGE_MARKS.get(row.change, " "), "?" if row.line is None else str(row.line),
            row.key, op, ", ".join(row.locks) or "none"]


def _transitions(transitions: list[Transition]) -> list[str]:
    lines = ["Transitions (+ added by the series, - removed by it; * = from any value):"]
    if not transitions:
        lines.append("  no enum-like tracked field changes state")
    ordered = sorted(transitions, key=lambda t: t.key)  # stable: keeps the review's order per key
    for key, group in groupby(ordered, key=lambda t: t.key):
        lines.append(key)
        lines.extend(_columns([[CHANGE_MARKS.get(t.change, " "), t.from_value, "->", t.to_value,
                                t.function, f"{t.file}:{t.line}"] for t in group]))
    lines.append("")
    return lines


def _columns(rows: list[list[str]]) -> list[str]:
    """Rows of cells as aligned text lines, indented by two spaces."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
            for row in rows]
