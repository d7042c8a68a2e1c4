"""File versions per patch: the text of every touched file at the base and after each patch.

INTERFACE STUB: being implemented. Tree mode (a git repository) gives whole files; hunk-only
mode knows each file only as far as the hunks show it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reviewbot.series import Series

TREE, HUNK_ONLY = "tree", "hunk-only"


@dataclass(frozen=True)
class KnownRange:
    """Lines start..end (1-based, inclusive) are known; `context` is the hunk's @@ section text."""

    start: int
    end: int
    context: str = ""


@dataclass
class FileVersion:
    path: str
    text: str | None  # None: the file does not exist at this point
    # None: the whole file is known (tree mode). Otherwise the known line ranges; every other
    # line of `text` is an empty placeholder so that line numbers stay those of the real file.
    known: list[KnownRange] | None = None


@dataclass(frozen=True)
class FileChange:
    patch: int  # 1-based
    old_path: str | None  # None when added
    new_path: str | None  # None when deleted
    status: str  # "modified", "added", "deleted", "renamed", "binary"
    is_c: bool  # .c or .h
    added: int = 0
    removed: int = 0


@dataclass
class Workspace:
    mode: str  # TREE or HUNK_ONLY
    base: str | None  # base commit (tree mode), else None
    patch_count: int
    changes: list[list[FileChange]] = field(default_factory=list)  # per patch, in order

    def before(self, path: str, patch: int) -> FileVersion:
        """`path` just before patch `patch` (1-based) is applied."""
        raise NotImplementedError

    def after(self, path: str, patch: int) -> FileVersion:
        """`path` just after patch `patch` (1-based) is applied."""
        raise NotImplementedError


def build_workspace(series: Series, tree: str | None = None, base: str | None = None,
                    hunks_only: bool = False) -> Workspace:
    raise NotImplementedError
