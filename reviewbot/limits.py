"""What hostile input may cost: the bounds on time, bytes and lines, each a key of the config's
`[limits]` table (docs/limits.md). A input past a bound is bad input (exit 2), never a hang, a
gigabyte of memory or a traceback. One more bound is the machine's, not the input's: the size of
the on-disk cache, whose oldest entries make room for new ones."""

from __future__ import annotations

from dataclasses import dataclass, fields

MiB = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True)
class Limits:
    fetch_seconds: float = 60.0  # one whole fetch from the archive: every request, redirect and byte
    fetch_bytes: int = 64 * MiB  # what the archive may send for one fetch
    mail_bytes: int = 256 * MiB  # a thread once unpacked, an mbox or a patch file given as input
    redirects: int = 5  # redirects followed in one request
    file_bytes: int = 32 * MiB  # one C file given to `facts` or `index`; a bigger one is skipped
    file_lines: int = 2_000_000  # the highest line number a hunk header may name
    cache_bytes: int = 2 * GiB  # the on-disk cache (reviewbot.c.cache); set in the user config only


def limit_keys() -> dict[str, type]:
    """Key -> the type its value must have (a float key takes a whole number too)."""
    return {f.name: float if f.type == "float" else int for f in fields(Limits)}
