"""Where a finding sits in a patch's diff: the one mapping from (file, line in the patched
file) to a line of the diff as sent, shared by the mail replies, the web page and the forge
comments."""

from __future__ import annotations

from dataclasses import dataclass

from reviewbot.diffs import path_of
from reviewbot.series import Patch

SHORT_GAP = 4  # a gap between quoted stretches this short is quoted rather than trimmed
# b4 reads a reply's comments back onto diff lines by counting through each hunk from its @@
# line, so a trim inside a hunk shifts every line after it: worth it for a long stretch only
# (b4's own replies draw the line at 10 too).
LONG_GAP_IN_HUNK = 10


HEADER, HUNK, ADDED, REMOVED, CONTEXT = "header", "hunk", "added", "removed", "context"


@dataclass(frozen=True)
class DiffLine:
    """One line of a diff as sent, and where it sits in the files on either side."""

    kind: str  # HEADER (diff --git, index, ---, +++), HUNK (@@), ADDED, REMOVED or CONTEXT
    path: str  # the file it belongs to (its name after the patch, else before)
    old_line: int | None  # its line in the file before the patch (REMOVED, CONTEXT)
    new_line: int | None  # its line in the file after the patch (ADDED, CONTEXT)


@dataclass
class DiffLines:
    """The patch's diff as flat lines; for each added or context line, where it sits in the
    patched file and which file header and hunk it belongs to."""

    text: list[str]
    lines: list[DiffLine]  # what each line of `text` is
    target: dict[tuple[str, int], int]  # (path, line in the patched file) -> index in text
    anchors: dict[int, tuple[range, int]]  # index -> (its file header's lines, its @@ line)

    @classmethod
    def of(cls, patch: Patch) -> DiffLines:
        text, lines, target, anchors = [], [], {}, {}
        for patched in patch.patchset:
            path = path_of(patched)
            header = str(patched).split("\n@@ ", 1)[0].splitlines()
            header_lines = range(len(text), len(text) + len(header))
            text.extend(header)
            lines.extend(DiffLine(HEADER, path, None, None) for _ in header)
            for hunk in patched:
                hunk_line = len(text)
                text.append(str(hunk).splitlines()[0])
                lines.append(DiffLine(HUNK, path, None, None))
                for line in hunk:
                    if line.target_line_no is not None:
                        target[(path, line.target_line_no)] = len(text)
                        anchors[len(text)] = (header_lines, hunk_line)
                    kind = ADDED if line.is_added else REMOVED if line.is_removed else CONTEXT
                    text.append(str(line).rstrip("\n"))
                    lines.append(DiffLine(kind, path, line.source_line_no,
                                          line.target_line_no))
        return cls(text, lines, target, anchors)

    def index_of(self, path: str, line: int) -> int | None:
        """The index in `text` of line `line` of `path` after the patch, if the diff shows it."""
        return self.target.get((path, line))

    def quoted(self, comments, context_lines: int) -> list[int]:
        """The lines to quote for comments below lines `comments`: each one's file header, its
        hunk's @@ line and up to `context_lines` lines just above it, in order."""
        quoted: set[int] = set()
        for index in sorted(comments):
            header_lines, hunk_line = self.anchors[index]
            quoted.update([*header_lines, hunk_line])
            # count from the last line already quoted in this hunk (its @@ line at least)
            done = max(i for i in quoted if hunk_line <= i < index)
            start = max(done + 1, index - context_lines)
            if start - (done + 1) < LONG_GAP_IN_HUNK:
                start = done + 1
            quoted.update(range(start, index + 1))
        return _fill_short_gaps(sorted(quoted))


def _fill_short_gaps(indexes: list[int]) -> list[int]:
    """Quote a gap of a few lines rather than trim it: `[ ... ]` for one line reads worse."""
    filled = []
    for index in indexes:
        if filled and index - filled[-1] - 1 < SHORT_GAP:
            filled.extend(range(filled[-1] + 1, index))
        filled.append(index)
    return filled


