"""Show what each function does to struct fields, bits and locks: the mutation table.

    reviewbot facts fs/fuse/file.c:fuse_file_mmap fs/fuse/iomode.c fs/fuse/fuse_i.h

Every FILE is analysed together (so a struct or helper defined in one is known in the others);
FILE:FUNCTION prints only that function, a plain FILE prints all of its functions. A row is one
access (field, op, value, line, locks held there, marks), one lock operation, or one call into
a function of the given files; then the function's exits (line, value class, locks still held,
counters moved). A lock set `?` means the lock state is not known there (hunk-only input).
"""

from __future__ import annotations

import argparse
import os

from reviewbot.c import analyze_text_files
from reviewbot.c.model import UNKNOWN_LOCKS
from reviewbot.errors import InputError
from reviewbot.files import read_file
from reviewbot.knowledge.config import load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("targets", nargs="+", metavar="FILE[:FUNCTION]",
                        help="C files to analyse together; FILE:FUNCTION limits the output to one function")


def run(args: argparse.Namespace) -> int:
    texts: dict[str, str] = {}
    limits = load_config().limits
    wanted: dict[str, set[str] | None] = {}
    for target in args.targets:
        path, function = _split_target(target)
        if not path.endswith((".c", ".h")):
            raise InputError(path, "not a C file (.c or .h)")
        if path not in texts:
            data = read_file(path, limits.file_bytes, "file_bytes")
            texts[path] = data.decode("utf-8", errors="replace")  # as the workspace decodes
        if function is None:
            wanted[path] = None
        elif wanted.get(path, set()) is not None:
            wanted.setdefault(path, set()).add(function)
    program = analyze_text_files(texts)
    blocks = []
    for path, names in wanted.items():
        functions = program.files[path].functions if path in program.files else []
        if names is not None:
            missing = names - {f.name for f in functions}
            if missing:
                raise InputError(path, f"no function {', '.join(sorted(missing))} defined here")
            functions = [f for f in functions if f.name in names]
        called = set(program.summaries)
        blocks.extend(render_function(f, called) for f in functions)
        if path in program.files:
            blocks.extend(f"{path}: {name}() line {line}: nested too deep to analyse, skipped"
                          for name, line in program.files[path].skipped)
    print("\n\n".join(blocks) if blocks else "no functions")
    return 0


def _split_target(target: str) -> tuple[str, str | None]:
    if os.path.exists(target) or ":" not in target:
        return target, None
    path, function = target.rsplit(":", 1)
    return path, function or None


def locks_text(locks) -> str:
    names = sorted(lock for lock in locks if lock != UNKNOWN_LOCKS)
    if UNKNOWN_LOCKS in locks:
        names.insert(0, UNKNOWN_LOCKS)
    return ", ".join(names) if names else "-"


def render_function(facts, called: set[str]) -> str:
    """The table of one function, as text."""
    head = f"{os.path.basename(facts.file)}: {facts.name}() lines {facts.start_line}-{facts.end_line}"
    if not facts.complete:
        shown = ", ".join(f"{a}-{b}" for a, b in facts.known_lines)
        head += f" (hunk-only: lines {shown} known)"
    rows = []
    for access in facts.accesses:
        marks = sorted(access.marks)
        if access.in_condition is not None:
            marks.append("assertion" if facts.conditions[access.in_condition].assertion else "condition")
        if access.guessed_type:
            marks.append("type guessed")
        if access.fresh:
            marks.append("fresh object")
        rows.append((access.line, access.key, access.op, access.value or "", locks_text(access.locks),
                     ", ".join(marks)))
    for op in facts.lock_ops:
        rows.append((op.line, op.lock, f"lock {op.op}", op.api, "",
                     ", ".join(m for m, on in (("conditional", op.conditional), ("shared", op.shared)) if on)))
    for call in facts.calls:
        if call.name in called:
            rows.append((call.line, f"{call.name}()", "call", ", ".join(call.args), locks_text(call.locks), ""))
    rows.sort(key=lambda row: row[0])
    table = [("line", "subject", "op", "value", "locks held", "marks")]
    table += [(str(line), *rest) for line, *rest in rows]
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    lines = [head]
    for row in table:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:5])] + [row[5]]
        lines.append("  " + "  ".join(cells).rstrip())
    if len(table) == 1:
        lines[1:] = ["  (no field, bit or lock operations)"]
    exit_lines = []
    for exit_ in facts.exits:
        moved = ", ".join(f"{key} {amount:+d}" for key, amount in exit_.deltas)
        bits = ", ".join(f"{op} {key}" for key, op in exit_.bits)
        extra = "; ".join(part for part in (moved, bits) if part)
        exit_lines.append(f"  exit line {exit_.line}: returns {exit_.value}, holding {locks_text(exit_.locks)}"
                          + (f"; {extra}" if extra else ""))
    return "\n".join(lines + list(dict.fromkeys(exit_lines)))
