"""The SOURCE argument and its options, shared by the commands that read a series."""

from __future__ import annotations

import argparse

from reviewbot.service import SourceSpec
from reviewbot.limits import Limits


MAX_TIMEOUT = 24 * 3600.0  # seconds: more than any archive needs (inf would overflow the socket)


def seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= MAX_TIMEOUT:  # nan fails the test too
        raise argparse.ArgumentTypeError(
            f"not a number of seconds above 0 and at most {MAX_TIMEOUT:g}: {text}")
    return value


def add_source_arguments(parser: argparse.ArgumentParser, optional: bool = False) -> None:
    """`optional`: SOURCE may be left out (the command then reads stdin)."""
    parser.add_argument(
        "source", nargs="*" if optional else "+", metavar="SOURCE",
        help="the series: a lore message-id or URL, an mbox, a directory of patch files, "
             "patch files, or a git range A..B" + ("; `-` or none: one patch mail on stdin"
                                                   if optional else ""))
    parser.add_argument(
        "--tree", metavar="DIR",
        help="the kernel git tree: analyse whole files (default for A..B: the current "
             "directory; other sources are hunk-only without it)")
    parser.add_argument("--base", metavar="REV",
                        help="apply the series on REV in --tree (default: its base-commit, "
                             "else a guess; not for a git range A..B, which starts at A)")
    parser.add_argument("--hunks-only", action="store_true",
                        help="use only what the hunks show, even with a tree")
    parser.add_argument("--lore-url", metavar="URL",
                        help="the public-inbox archive to fetch from "
                             "(default: $REVIEWBOT_LORE_URL, the config, lore.kernel.org/all)")
    parser.add_argument("--lore-timeout", type=seconds, metavar="SECONDS",
                        help="seconds for the whole fetch from the archive (default: [limits] "
                             f"fetch_seconds in the config, else {Limits().fetch_seconds:g})")
    parser.add_argument("-v", "--revision", type=int, metavar="N",
                        help="review vN of the thread (default: the newest)")
    parser.add_argument("--msgid", metavar="ID",
                        help="the thread to review when an mbox holds several")


def spec_from_args(args: argparse.Namespace) -> SourceSpec:
    """The SOURCE arguments and options as the service layer takes them."""
    return SourceSpec(tuple(args.source), tree=args.tree, base=args.base,
                      hunks_only=args.hunks_only, revision=args.revision, msgid=args.msgid,
                      lore_url=args.lore_url, lore_timeout=args.lore_timeout)
