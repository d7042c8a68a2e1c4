"""A patch series as reviewbot sees it, whatever it came from (lore, mbox, patch files, git range)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import unidiff

from reviewbot import diffs


@dataclass
class Reply:
    """A human reply in the thread, attached to the patch (or cover) it answers."""

    msgid: str
    author: str
    date: str
    subject: str
    body: str
    in_reply_to: str | None = None

    @property
    def first_line(self) -> str:
        """The first line a reader would look at: not quoted, not an attribution, not a
        greeting ("Hi Amir,"), not blank."""
        for line in self.body.splitlines():
            text = line.strip()
            if not text or text.startswith(">"):
                continue
            if text.endswith("wrote:") or text.startswith("On ") and "wrote" in text:
                continue
            if text.endswith(",") and len(text.split()) <= 3:
                continue
            return text
        return ""


@dataclass
class Patch:
    """One patch of the series: the commit message and the diff, as sent."""

    number: int
    total: int
    subject: str
    author: str
    date: str
    msgid: str | None
    message: str  # commit message without the diff
    diff: str  # unified diff text, as git format-patch writes it
    trailers: list[tuple[str, str]] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    commit: str | None = None  # the commit this patch is, when the series came from a git range
    recipients: list[str] = field(default_factory=list)  # To and Cc of the patch mail, as sent

    @property
    def label(self) -> str:
        """Names the patch in errors: `patch 2/3 "fuse: ..."`."""
        return f'patch {self.number}/{self.total} "{self.subject}"'

    @cached_property
    def patchset(self) -> unidiff.PatchSet:
        """The diff, parsed; an InputError naming the file and line when it is malformed."""
        return diffs.parse(self.diff, self.label)

    @property
    def files(self) -> list[str]:
        return [pf.path for pf in self.patchset]


@dataclass
class Series:
    """Cover letter (optional), patches in order, replies attached where they belong."""

    source: str  # what the user gave: message-id, file, directory or range
    subject: str
    revision: int = 1
    patches: list[Patch] = field(default_factory=list)
    cover_msgid: str | None = None
    cover_author: str = ""
    cover_date: str = ""
    cover_body: str = ""
    cover_replies: list[Reply] = field(default_factory=list)
    base_commit: str | None = None
    change_id: str | None = None
    tree: str | None = None  # the git tree the series came from (a git range), else None

    @property
    def author(self) -> str:
        """Who sent the series: the cover letter's author, else the first patch's."""
        if self.cover_author or not self.patches:
            return self.cover_author
        return self.patches[0].author

    @property
    def date(self) -> str:
        """When the series was sent: the cover letter's date, else the first patch's."""
        if self.cover_date or not self.patches:
            return self.cover_date
        return self.patches[0].date
