"""Series -> Review: findings at the base and after each patch, with new / fixed / preexisting
status, plus the mutation tables and state transitions reviewers read.

INTERFACE: the dataclasses are settled; review_series is being implemented.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reviewbot.findings import Finding
from reviewbot.series import Series
from reviewbot.workspace import Workspace

SAME, ADDED, REMOVED = "same", "added", "removed"


@dataclass(frozen=True)
class TableRow:
    """One tracked-field operation in a function: what, where, under which locks."""

    key: str  # "fuse_file.iomode", "fuse_inode.state:FUSE_I_BACKING"
    op: str  # read, inc, dec, assign, set_bit, ... (reviewbot.c.model op constants)
    value: str | None  # the constant assigned, the amount, the API
    line: int | None  # line in the version the row comes from (after the patch unless REMOVED)
    locks: tuple[str, ...]  # lock keys held; "?" means not knowable (hunk-only)
    marks: tuple[str, ...] = ()  # READ_ONCE, WRITE_ONCE, data_race
    change: str = SAME  # SAME, ADDED (only after the patch), REMOVED (only before)


@dataclass
class FunctionTable:
    """The tracked-field table of one function a patch touches, base and after merged."""

    file: str
    function: str
    patch: int  # 1-based
    rows: list[TableRow] = field(default_factory=list)


@dataclass(frozen=True)
class Transition:
    """A state change of an enum-like field: from -> to, by which function."""

    key: str
    from_value: str  # a constant, or "*" when no guard constrains it
    to_value: str
    function: str
    file: str
    line: int
    change: str = SAME  # SAME: before and after the series; ADDED / REMOVED by the series


@dataclass
class Review:
    series: Series
    mode: str  # "tree" or "hunk-only"
    base: str | None
    findings: list[Finding] = field(default_factory=list)  # every status; reporters filter
    suppressed: int = 0
    tables: list[FunctionTable] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # caveats a reader must see (hunk-only, ...)


def review_series(series: Series, workspace: Workspace, config=None) -> Review:
    raise NotImplementedError
