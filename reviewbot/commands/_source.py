"""The SOURCE argument and its options, shared by the commands that read a series."""

from __future__ import annotations

import argparse

from reviewbot.series import Series
from reviewbot.sources import load_series
from reviewbot.sources.lore import DEFAULT_TIMEOUT
from reviewbot.workspace import Workspace, build_workspace


MAX_TIMEOUT = 24 * 3600.0  # seconds: more than any archive needs (inf would overflow the socket)


def seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= MAX_TIMEOUT:  # nan fails the test too
        raise argparse.ArgumentTypeError(
            f"not a number of seconds above 0 and at most {MAX_TIMEOUT:g}: {text}")
    return value


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source", nargs="+", metavar="SOURCE",
        help="the series: a lore message-id or URL, an mbox, a directory of patch files, "
             "patch files, or a git range A..B")
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
                        help=f"how long to wait for the archive (default: {DEFAULT_TIMEOUT:g})")
    parser.add_argument("-v", "--revision", type=int, metavar="N",
                        help="review vN of the thread (default: the newest)")
    parser.add_argument("--msgid", metavar="ID",
                        help="the thread to review when an mbox holds several")


def load_from_args(args: argparse.Namespace) -> tuple[Series, Workspace]:
    series = load_series(args.source, tree=args.tree, lore_url=args.lore_url,
                         revision=args.revision, msgid=args.msgid,
                         lore_timeout=args.lore_timeout)
    # Only a git range brings its own tree; reviewbot never takes the cwd for a kernel tree.
    tree = args.tree or series.tree
    workspace = build_workspace(series, tree=tree, base=args.base, hunks_only=args.hunks_only)
    return series, workspace
