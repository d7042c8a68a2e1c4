"""Review a patch series: findings per patch, as text, JSON, SARIF or list-style reply mails.

SOURCE `-` (or none, with a patch mail piped in) reads one patch mail from stdin, the way b4's
check hooks and git's sendemail-validate hook give it: reviewbot finds the patch in the git
tree of the current directory and reports the findings of that patch, with the patches before
it as context. As b4's `b4.prep-perpatch-check-cmd`:

    reviewbot check --format b4-prep

Exit status: 0 when no new finding is at or above --fail-on (default high), 1 when one is,
2 on a usage or input error.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

from reviewbot import service
from reviewbot.commands._patchmail import STDIN, review_patch_mail
from reviewbot.cli import write_stdout
from reviewbot.commands._source import add_source_arguments, spec_from_args
from reviewbot.errors import InputError
from reviewbot.findings import NEW, Finding
from reviewbot.report import RenderOptions, at_or_above, mail, render, renderers
from reviewbot.review import Review

NEVER = "never"
FAIL_ON = ("critical", "high", "medium", "low", NEVER)


def add_arguments(parser) -> None:
    add_source_arguments(parser, optional=True)
    parser.add_argument("--format", choices=list(renderers()), default="text",
                        help="output format (default: text)")
    parser.add_argument("--fail-on", choices=FAIL_ON, default="high",
                        help="exit 1 when a new finding is this severe or more (default: high)")
    parser.add_argument("--all", action="store_true", dest="show_all",
                        help="also show the findings the series fixes and the pre-existing ones")
    parser.add_argument("--tables", action="store_true",
                        help="text: also show the mutation tables and state transitions")
    parser.add_argument("-o", "--output", metavar="PATH",
                        help="write here instead of to stdout, whole or not at all; for "
                             "--format mail a directory that gets one .eml file per reply")


def run(args) -> int:
    review = reviewed(args)
    # the replies come from whoever git would sign a commit as in the tree
    sender = git_identity(review.tree) if args.format == "mail" else None
    options = RenderOptions(show_all=args.show_all, tables=args.tables, sender=sender)
    if args.format == "mail" and args.output:  # a directory of .eml files, new findings only
        _write_eml_directory(Path(args.output), mail.replies(review, sender))
    else:
        output = render(args.format, review, options)
        if args.output:
            write_file(Path(args.output), output)
        else:
            write_stdout(output)  # a closed stdout loses the report, not the exit status
    return 1 if failing(review, args.fail_on) else 0


def reviewed(args) -> Review:
    """The review SOURCE names; of the patch mail on stdin, only that patch's findings."""
    if args.source not in ([], [STDIN]):
        return service.review(spec_from_args(args))
    if not args.source and sys.stdin.isatty():
        raise InputError("reviewbot check", "no SOURCE given and no patch mail piped to stdin")
    return review_patch_mail(sys.stdin.buffer.read(), Path.cwd(), spec_from_args(args))


def failing(review: Review, fail_on: str) -> list[Finding]:
    """The new findings at or above `fail_on`: the ones that make the exit status 1."""
    if fail_on == NEVER:
        return []
    return [f for f in review.findings if f.status == NEW and at_or_above(f.severity, fail_on)]


def git_identity(tree: str | None) -> str | None:
    """`Name <address>` as git would sign a commit here, for the replies' From; None if unset."""
    done = subprocess.run(["git", "var", "GIT_AUTHOR_IDENT"], cwd=tree, capture_output=True,
                          text=True)
    if done.returncode != 0:
        return None
    return done.stdout.strip().rsplit(" ", 2)[0]  # drop the timestamp and time zone


def write_file(path: Path, content: str) -> None:
    """Write a file through a temporary file renamed into place, so a reader never sees half
    of it. A device or a pipe (/dev/stdout, a fifo) is written to as it is: renaming over it
    would put a plain file in its place."""
    if path.is_dir():  # `.` and `/` among them, which have no name to put a temporary beside
        raise InputError(str(path), "Is a directory")
    try:
        if path.exists() and not path.is_file():
            with path.open("w", encoding="utf-8") as out:
                out.write(content)
            return
        target = path.resolve() if path.is_symlink() else path  # keep the link, replace its file
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(content, encoding="utf-8")
            os.replace(tmp, target)
        except BaseException:  # an OSError, or Ctrl-C or SIGTERM half-way
            with contextlib.suppress(OSError):  # never made, when its directory is not one
                tmp.unlink(missing_ok=True)
            raise
    except OSError as err:
        raise InputError(str(path), err.strerror or str(err)) from None


def _write_eml_directory(path: Path, messages) -> None:
    """One .eml file per reply, all or none: every file is written in a staging directory
    first; a new directory is then renamed into place, into an existing one the files are
    moved one by one, and taken back out if one cannot be."""
    texts = {mail.eml_name(i, msg): msg.as_string() for i, msg in enumerate(messages, start=1)}
    existing = path.is_dir()
    staging = (path / f".reviewbot.{os.getpid()}.tmp" if existing
               else path.with_name(f".{path.name}.{os.getpid()}.tmp"))
    added: list[Path] = []
    try:
        staging.mkdir()
        for name, content in texts.items():
            (staging / name).write_text(content, encoding="utf-8")
        if not existing:
            staging.rename(path)
            return
        for name in texts:
            if (path / name).is_dir():
                raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path / name))
        for name in texts:
            fresh = not (path / name).exists()
            (staging / name).replace(path / name)
            if fresh:
                added.append(path / name)
    except BaseException as err:  # an OSError, or Ctrl-C or SIGTERM half-way
        for done in added:  # back out (a file replaced in place had its new text whole)
            done.unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise InputError(err.filename or str(path), err.strerror or str(err)) from None
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
