"""Series sources: whatever the user names (a message-id or lore URL, an mbox, a patch
directory, patch files, a git range) becomes one Series."""

from __future__ import annotations

import os
import threading

import b4

from reviewbot.errors import InputError, NotFound
from reviewbot.limits import Limits
from reviewbot.series import Series
from reviewbot.sources import gitrange, lore, mbox, patches


def load_series(inputs: list[str], *, tree: str | None = None, lore_url: str | None = None,
                revision: int | None = None, msgid: str | None = None,
                lore_timeout: float | None = None, limits: Limits = Limits(),
                cancel: threading.Event | None = None) -> Series:
    """The series `inputs` name.

    Several inputs are patch files. One input is, in this order: an existing directory
    (a maildir, else a directory of patch files) or file (a .patch or .diff file, else an
    mbox), a lore URL or message-id, or a git range `A..B` in `tree` (default: the current
    directory).
    """
    if not inputs:
        raise InputError("reviewbot", "no series given")
    if len(inputs) > 1:
        for path in inputs:
            if not os.path.isfile(path):
                raise InputError(path, "not a file: several inputs must all be patch files")
        return patches.load_files(inputs, limits=limits)
    source = inputs[0]
    if os.path.isdir(source) and not b4.is_maildir(source):
        return patches.load_directory(source, limits)
    if os.path.isfile(source) and source.endswith(patches.PATCH_SUFFIXES):
        return patches.load_files([source], limits=limits)
    if os.path.lexists(source):
        return mbox.load(source, msgid=msgid, revision=revision, limits=limits)
    if lore.is_lore_input(source):
        return lore.load(source, lore_url=lore_url, tree=tree, revision=revision,
                         timeout=lore_timeout, limits=limits, cancel=cancel)
    if gitrange.is_range(source):
        return gitrange.load(source, tree)
    raise NotFound(source, "no such file or directory")
