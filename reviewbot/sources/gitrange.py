"""A git range `A..B` in a tree as a series source: one patch per commit, merges left out."""

from __future__ import annotations

import os

import b4

from reviewbot.errors import InputError
from reviewbot.series import Series
from reviewbot.sources.mail import PatchMail, series_from_patch_mails, setup_b4
from reviewbot.workspace import Git


def is_range(text: str) -> bool:
    return ".." in text


def load(spec: str, tree: str | None = None) -> Series:
    """The commits of `spec` in `tree` (default: the current directory)."""
    git = Git(tree or os.getcwd())
    if "..." in spec:
        raise InputError(spec, "a symmetric range (A...B) is not a series; use A..B")
    start, end = spec.split("..", 1)
    start, end = start or "HEAD", end or "HEAD"  # as git reads `..B` and `A..`
    for rev in (start, end):
        if git.commit(rev) is None:
            raise InputError(spec, f"unknown revision {rev!r} in {git.tree}")
    setup_b4()
    try:
        commits = b4.git_range_to_patches(git.top, start, end)
    except RuntimeError:  # b4's answer to a range without commits
        raise InputError(spec, "empty range: no commits in it") from None
    # As git format-patch does, leave out commits that change nothing (b4 prep keeps its
    # cover letter in one at the start of the branch).
    commits = [(commit, msg) for commit, msg in commits
               if b4.DIFF_RE.search(b4.LoreMessage.get_payload(msg)[0])]
    if not commits:
        raise InputError(spec, "no commit in this range changes anything")
    series = series_from_patch_mails([PatchMail(msg, commit, commit) for commit, msg in commits],
                                     spec)
    series.tree = git.top
    # The tree the first commit applies to; None when it is a root commit.
    series.base_commit = git.commit(f"{commits[0][0]}^")
    return series
