"""Parse coverage: how much of a tree tree-sitter parses cleanly behind the kernel pre-pass.

A function counts as clean when its definition holds no ERROR and no MISSING node: the facts
of a damaged function may lack what the damaged part held. A file counts as clean when none
of it is damaged.
"""

from __future__ import annotations

from dataclasses import dataclass

from reviewbot.c.walk import function_nodes
from reviewbot.c.parse import parse_c


@dataclass
class Coverage:
    files: int = 0
    clean_files: int = 0
    functions: int = 0
    clean_functions: int = 0

    def add(self, other: Coverage) -> None:
        self.files += other.files
        self.clean_files += other.clean_files
        self.functions += other.functions
        self.clean_functions += other.clean_functions


def file_coverage(data: bytes) -> Coverage:
    """The coverage of one file's text."""
    parsed = parse_c(data)
    functions = function_nodes(parsed.tree.root_node)
    return Coverage(files=1, clean_files=int(not parsed.has_errors), functions=len(functions),
                    clean_functions=sum(1 for fn in functions if not fn.has_error))
