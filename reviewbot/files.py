"""Input files are regular files of a bounded size: a FIFO would block the read forever, a
device never ends, a symlink may point at either or at nothing, and a huge file costs memory
for nothing. Checked before a file is opened."""

from __future__ import annotations

import os
import stat

from reviewbot.errors import InputError, NotFound

KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
         (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))


def check_file(path: str, max_bytes: int, limit_key: str) -> None:
    """InputError (NotFound) unless `path` is a regular file of at most `max_bytes` bytes;
    `limit_key` is the config key that sets the bound, for the message."""
    problem = file_problem(path, max_bytes, limit_key)
    if problem is not None:
        raise (NotFound if "no such" in problem or "missing" in problem else InputError)(path, problem)


def file_problem(path: str, max_bytes: int, limit_key: str) -> str | None:
    """Why `path` is not a file reviewbot reads, or None when it is one."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "a symbolic link to a missing file" if os.path.islink(path) else "no such file or directory"
    except OSError as err:
        return f"cannot read: {err.strerror}"
    via = " (through a symbolic link)" if os.path.islink(path) else ""
    for test, kind in KINDS:
        if test(info.st_mode):
            return f"{kind}{via}, not a regular file"
    if not stat.S_ISREG(info.st_mode):
        return f"not a regular file{via}"
    if info.st_size > max_bytes:
        return (f"{info.st_size} bytes, more than the limit of {max_bytes} "
                f"([limits] {limit_key} in the config)")
    return None


def read_file(path: str, max_bytes: int, limit_key: str) -> bytes:
    """The bytes of a regular file of at most `max_bytes` (a file that grows meanwhile is cut
    there, and rejected)."""
    check_file(path, max_bytes, limit_key)
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as err:
        raise InputError(path, f"cannot read: {err.strerror}") from None
    if len(data) > max_bytes:
        raise InputError(path, f"more than the limit of {max_bytes} bytes ([limits] {limit_key} "
                               "in the config)")
    return data
