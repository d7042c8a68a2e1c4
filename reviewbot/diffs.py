"""Diffs as strict as `git apply`: unidiff parses them; this module names the file and line
where one is malformed, rejects what unidiff lets through but git would not take as the
patch it claims to be (lines beyond a hunk's counts, line numbers no file has), and reads
git's quoted file names (`"a/caf\\303\\251.c"`)."""

from __future__ import annotations

import codecs
import io

import unidiff

from reviewbot.errors import InputError
from reviewbot.limits import Limits

DEV_NULL = "/dev/null"
# after a hunk's counted lines: the next file's headers and the mail signature, not more hunk
NOT_HUNK_LINES = ("--- ", "+++ ", "-- \n", "--\n")


def parse(diff: str, label: str) -> unidiff.PatchSet:
    """The diff of the patch `label` names, or an InputError naming its file and line."""
    lines = io.StringIO(diff).readlines()  # split as unidiff splits, to number lines alike
    parsed = _WatchedPatchSet(lines)
    if parsed.error is not None:
        where = f"{path_of(parsed[-1])}, " if parsed else ""
        # unidiff quotes the offending line with its newline: the error stays one line
        problem = " ".join(str(parsed.error).split())[:200]
        raise InputError(label, f"malformed diff: {where}line {parsed.line_no} of the diff: "
                                f"{problem}")
    for pf in parsed:
        if not (len(pf) or pf.is_binary_file or pf.is_rename or pf.is_added_file
                or pf.is_removed_file or pf.source_mode != pf.target_mode):
            raise InputError(label, f"malformed diff: {path_of(pf)}: no hunks, and no change of "
                                    "name, mode or content (git apply: only garbage)")
        for hunk in pf:
            after = _line_after(hunk, lines)
            if after is not None and after[1][:1] in "+- " and not after[1].startswith(NOT_HUNK_LINES):
                raise InputError(label, f"malformed diff: {path_of(pf)}, line {after[0]} of the "
                                        f"diff: more lines than its hunk header counts "
                                        f"({_header(hunk)}): {after[1].strip()[:80]!r}")
    return parsed


class _WatchedPatchSet(unidiff.PatchSet):
    """unidiff's parse, watched: the diff line it reached, and the files so far when it fails
    (unidiff adds each file as it starts), to say where a diff is malformed."""

    def __init__(self, lines: list[str]):
        self.line_no = 0
        self.error: unidiff.UnidiffParseError | None = None
        try:
            super().__init__(self._counted(lines))
        except unidiff.UnidiffParseError as err:
            self.error = err
        except ValueError:  # Python's int() refuses a number of thousands of digits
            self.error = unidiff.UnidiffParseError("a hunk header number of thousands of digits")

    def _counted(self, lines: list[str]):
        for line in lines:
            self.line_no += 1
            yield line


def _line_after(hunk: unidiff.Hunk, lines: list[str]) -> tuple[int, str] | None:
    """(number, text) of the first diff line after `hunk` that is not empty or a `\\ No
    newline` marker (` ` alone is an empty line of context: more of the hunk)."""
    index = max((line.diff_line_no for line in hunk if line.diff_line_no), default=0)
    while index < len(lines) and (lines[index].startswith("\\") or lines[index] in ("\n", "\r\n")):
        index += 1
    return (index + 1, lines[index]) if 0 < index < len(lines) else None


def _header(hunk: unidiff.Hunk) -> str:
    return f"@@ -{hunk.source_start},{hunk.source_length} +{hunk.target_start},{hunk.target_length} @@"


def check_line_numbers(pfs: unidiff.PatchSet, label: str, limits: Limits) -> None:
    """Every hunk names lines a file can have: 1 .. limits.file_lines, 0 only for an empty side
    (a new or deleted file)."""
    for pf in pfs:
        for hunk in pf:
            for start, length in ((hunk.source_start, hunk.source_length),
                                  (hunk.target_start, hunk.target_length)):
                if start == 0 and length:
                    problem = f"{length} lines from line 0 (the first line is 1)"
                elif start + length - 1 > limits.file_lines:
                    problem = (f"lines past line {limits.file_lines}, the most a file may have "
                               "([limits] file_lines in the config)")
                else:
                    continue
                raise InputError(label, f"malformed diff: {path_of(pf)}, hunk {_header(hunk)}: "
                                        f"{problem}")


def unquote(name: str) -> str:
    """A file name as git writes it in a diff: C-quoted when it has a special character
    (`"a/\\303\\251t\\"e.c"`), else as it is."""
    if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
        raw, _ = codecs.escape_decode(name[1:-1].encode("utf-8", "surrogateescape"))
        return raw.decode("utf-8", "replace")
    return name


def strip_prefix(name: str, prefix: str) -> str | None:
    if name == DEV_NULL:
        return None
    name = unquote(name)
    return name[len(prefix):] if name.startswith(prefix) else name


def file_paths(pf: unidiff.PatchedFile) -> tuple[str | None, str | None]:
    """(old path, new path) of one file of a diff; None for the missing side."""
    return strip_prefix(pf.source_file, "a/"), strip_prefix(pf.target_file, "b/")


def path_of(pf: unidiff.PatchedFile) -> str:
    """The file's name after the patch, else before it."""
    old, new = file_paths(pf)
    return new or old or pf.path
