"""Install git's sendemail-validate hook: `git send-email` then refuses to send a patch with a
new high or critical finding (`git send-email --no-verify`, in git 2.40 and later, or
`--no-validate` sends anyway).

`reviewbot hook install` writes the hook into the repository of the current directory (where
`git rev-parse --git-path hooks` says hooks live); `reviewbot hook remove` takes it away again.
The hook runs `reviewbot hook run FILE` on each outgoing mail: the patch is found in the current
branch (or applied at its pre-image) and reviewed with the patches before it as context, as
`reviewbot check -` does; mails without a diff (a cover letter) pass.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from reviewbot.commands._patchmail import has_diff, review_patch_mail
from reviewbot.commands.check import failing
from reviewbot.errors import InputError
from reviewbot.report import RenderOptions, render

HOOK = "sendemail-validate"
MARK = "# written by `reviewbot hook install`"
FAIL_ON = "high"


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    install = sub.add_parser("install", help="write the sendemail-validate hook")
    install.add_argument("--force", action="store_true",
                         help="replace a sendemail-validate hook that reviewbot did not write")
    sub.add_parser("remove", help="remove the hook `install` wrote")
    check = sub.add_parser("run", help="what the hook runs: check one outgoing mail")
    check.add_argument("mail", metavar="FILE", help="the mail git send-email is about to send")


def run(args) -> int:
    if args.action == "run":
        return check_mail(Path(args.mail))
    path = hook_path()
    ours = path.is_file() and MARK in path.read_text(errors="replace")
    if args.action == "remove":
        if not ours:
            raise InputError(str(path), "no sendemail-validate hook of reviewbot's here")
        path.unlink()
        print(f"reviewbot: removed {path}")
        return 0
    if path.exists() and not ours and not args.force:
        raise InputError(str(path), "a sendemail-validate hook is already there "
                                    "(--force replaces it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(script())
    path.chmod(0o755)
    print(f"reviewbot: installed {path}; `git send-email --no-verify` (or --no-validate) skips it")
    return 0


def script() -> str:
    """The hook: this Python running reviewbot, so that it works outside the venv too."""
    command = shlex.join([sys.executable, "-m", "reviewbot", "hook", "run"])
    return (f"#!/bin/sh\n{MARK}\n"
            "# Refuses to send a patch with a new high or critical finding of reviewbot's.\n"
            "# `git send-email --no-verify` (or --no-validate) sends anyway;\n"
            "# `reviewbot hook remove` removes it.\n"
            f'exec {command} "$1"\n')


def hook_path() -> Path:
    done = subprocess.run(["git", "rev-parse", "--git-path", "hooks"], capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise InputError(os.getcwd(), "not in a git repository")
    return Path(done.stdout.strip()).resolve() / HOOK


def check_mail(path: Path) -> int:
    """0 when the mail may go; 1 (with the findings on stderr) when it has to wait."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InputError(str(path), err.strerror or str(err)) from None
    if not has_diff(raw):
        return 0
    review = review_patch_mail(raw, Path.cwd())
    blocking = failing(review, FAIL_ON)
    if not blocking:
        return 0
    sys.stderr.write(render("b4-prep", review, RenderOptions()))
    sys.stderr.write(f"reviewbot: {path.name}: {len(blocking)} new finding(s) of severity "
                     f"{FAIL_ON} or above; not sending (git send-email --no-verify or --no-validate "
                     "sends anyway)\n")
    return 1
