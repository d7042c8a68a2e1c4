"""Show where the on-disk cache is, its bound and what it holds; or clear it.

    reviewbot cache
    reviewbot cache --clear

The cache keeps what analyses cost (each file's facts, the programs, knowledge and reviews made
of them) in $XDG_CACHE_HOME/reviewbot, else ~/.cache/reviewbot. It is bounded by `[limits]
cache_bytes` of the user config, or $REVIEWBOT_CACHE_BYTES (2 GiB by default): the least
recently used entries make room for new ones, and entries of other versions of reviewbot's
analysis (which this version never reads) go first. Clearing it is always safe: what is gone
is analysed again when needed.
"""

from __future__ import annotations

import argparse

from reviewbot.c import cache


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clear", action="store_true",
                        help="remove every entry, of every version of the analysis")


def run(args: argparse.Namespace) -> int:
    found = [entry for entry in cache.entries() if not entry.temporary]
    if args.clear:
        cache.clear()
        print(f"removed {_count(found)} from {cache.cache_root()}")
        return 0
    current = cache.code_version()
    this = [entry for entry in found if entry.version == current]
    other = [entry for entry in found if entry.version != current]
    rows = [("location", str(cache.cache_root())),
            ("bound", f"{_size(cache.max_bytes())} ([limits] cache_bytes, or ${cache.BOUND_ENV})"),
            ("size", _count(found)),
            ("this version", _count(this)),
            ("other versions", f"{_count(other)}: never read by this version, evicted first")]
    for label, value in rows:
        print(f"{label:<16} {value}")
    return 0


def _count(entries: list[cache.Entry]) -> str:
    return f"{_size(sum(e.size for e in entries))} in {len(entries)} {'entry' if len(entries) == 1 else 'entries'}"


def _size(count: int) -> str:
    """1536 -> '1.5 KiB': bytes in the unit that shows them best."""
    for unit in ("bytes", "KiB", "MiB"):
        if count < 1024:
            return f"{count} bytes" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"
