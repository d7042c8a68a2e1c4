"""A git range `A..B` in a tree as a series source: one patch per commit, merges left out."""

from __future__ import annotations

import os
import subprocess

import b4

from reviewbot.errors import InputError
from reviewbot.series import Series
from reviewbot.sources.mail import PatchMail, series_from_patch_mails, setup_b4


def is_range(text: str) -> bool:
    return ".." in text


def git(tree: str, *args: str) -> str | None:
    """stdout of a git command in `tree`, or None when git fails."""
    done = subprocess.run(["git", "-C", tree, *args], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def load(spec: str, tree: str | None = None) -> Series:
    """The commits of `spec` in `tree` (default: the current directory)."""
    tree = tree or os.getcwd()
    if not os.path.isdir(tree):
        raise InputError(tree, "no such directory")
    top = git(tree, "rev-parse", "--show-toplevel")
    if top is None:
        raise InputError(tree, "not a git repository")
    if "..." in spec:
        raise InputError(spec, "a symmetric range (A...B) is not a series; use A..B")
    start, end = spec.split("..", 1)
    start, end = start or "HEAD", end or "HEAD"  # as git reads `..B` and `A..`
    for rev in (start, end):
        if git(top, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}") is None:
            raise InputError(spec, f"unknown revision {rev!r} in {tree}")
    setup_b4(topdir=top)
    try:
        commits = b4.git_range_to_patches(top, start, end)
    except RuntimeError:  # b4's answer to a range without commits
        raise InputError(spec, "empty range: no commits in it") from None
    series = series_from_patch_mails([PatchMail(msg, commit, commit) for commit, msg in commits],
                                     spec)
    series.tree = top
    # The tree the first commit applies to; None when it is a root commit.
    series.base_commit = git(top, "rev-parse", "--verify", "--quiet", f"{commits[0][0]}^")
    return series
