"""Patch files as a series source: a directory of `git format-patch` files, or files named
one by one on the command line."""

from __future__ import annotations

import os

from reviewbot.errors import InputError
from reviewbot.limits import Limits
from reviewbot.series import Series
from reviewbot.sources.mail import PatchMail, read_mbox, series_from_patch_mails, setup_b4

PATCH_SUFFIXES = (".patch", ".diff")


def load_directory(path: str, limits: Limits) -> Series:
    """The series of the patch files in `path`, in name order (0000-cover-letter.patch,
    0001-..., as git format-patch names them)."""
    names = sorted(name for name in os.listdir(path) if name.endswith(PATCH_SUFFIXES))
    if not names:
        raise InputError(path, f"no patch files ({', '.join(PATCH_SUFFIXES)}) in this directory")
    return load_files([os.path.join(path, name) for name in names], source=path, limits=limits)


def load_files(paths: list[str], source: str | None = None, limits: Limits = Limits()) -> Series:
    setup_b4()
    mails = [PatchMail(msg, path) for path in paths for msg in read_mbox(path, limits)]
    return series_from_patch_mails(mails, source or " ".join(paths))
