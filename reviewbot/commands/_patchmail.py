"""One patch mail on stdin, as b4's check hooks and git's sendemail-validate hook hand it over:
where it sits in the git tree of the current directory, and what to review so that the patches
before it are its context.

In this order:
1. the patch is a commit of the current branch (`b4 prep --check`, a send-email of the branch):
   the same `git patch-id` as a recent commit. Its `[PATCH n/m]` counter says how many patches
   of the series end with that commit, so the review is the git range of those n commits.
2. the patch's pre-image is a recent commit (a series under review that is not applied): the
   commit whose files have the blobs of the diff's `index` lines. The patch is reviewed applied
   there.
3. neither, or no git tree here: the patch on its own, hunk-only.

A mail without a diff but with a Message-ID (the cover letter b4 review hands to a series
check) names its thread: the review is of that thread.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import tempfile
from dataclasses import dataclass
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import b4

from reviewbot import service
from reviewbot.errors import InputError
from reviewbot.review import Review
from reviewbot.service import SourceSpec
from reviewbot.sources.mail import setup_b4

STDIN = "-"
SOURCE_NAME = "stdin"
# how far back in the current branch a patch is looked for: a series under work is near the tip
SEARCH_DEPTH = 500


@dataclass(frozen=True)
class StdinReview:
    """What to review for the patch on stdin, and whether only the last patch's findings are
    the patch's own (the others belong to the patches before it, which are only context)."""

    spec: SourceSpec
    last_patch_only: bool


def review_patch_mail(raw: bytes, workdir: Path, options: SourceSpec = SourceSpec(())) -> Review:
    """The review of the patch mail `raw` (the findings of that patch only) in the git tree
    `options.tree`, else the one `workdir` is in; the other options (the archive to fetch a
    thread from, ...) as the user gave them."""
    with tempfile.TemporaryDirectory(prefix="reviewbot-stdin-") as spill:
        stdin = review_of_stdin(raw, workdir, options, Path(spill))
        review = service.review(stdin.spec)
    if stdin.last_patch_only:
        last = len(review.series.patches)
        review = dataclasses.replace(review, findings=[f for f in review.findings
                                                       if f.patch == last])
    return review


def has_diff(raw: bytes) -> bool:
    setup_b4()
    return bool(b4.DIFF_RE.search(b4.LoreMessage.get_payload(_parse(raw))[0]))


def _parse(raw: bytes):
    return message_from_bytes(raw, policy=default_policy)


def review_of_stdin(raw: bytes, workdir: Path, options: SourceSpec, spill: Path) -> StdinReview:
    """The review of the patch mail `raw`; `spill` is a directory where the mail may be written
    as a patch file for the review to read."""
    if not raw.strip():
        raise InputError(SOURCE_NAME, "no patch mail on stdin")
    msg = _parse(raw)
    setup_b4()
    body = b4.LoreMessage.get_payload(msg)[0]
    top = _git_top(options.tree or str(workdir))
    if not b4.DIFF_RE.search(body):
        msgid = b4.LoreMessage.get_clean_msgid(msg)
        if not msgid:
            raise InputError(SOURCE_NAME, "neither a patch (no diff) nor a mail with a Message-ID")
        return StdinReview(dataclasses.replace(options, inputs=(msgid,), tree=top),
                           last_patch_only=False)
    patch_file = spill / "stdin.patch"
    patch_file.write_bytes(raw)
    if top is None:
        return StdinReview(dataclasses.replace(options, inputs=(str(patch_file),)),
                           last_patch_only=True)
    commit = _commit_with_patch_id(top, b4.LoreMessage.get_patch_id(body))
    if commit is not None:
        count = max(b4.LoreSubject(msg.get("Subject", "")).counter, 1)
        start = _ancestor(top, commit, count)
        if start is not None:
            return StdinReview(dataclasses.replace(options, inputs=(f"{start}..{commit}",),
                                                   tree=top, base=None), last_patch_only=True)
    base = _commit_with_pre_image(top, b4.LoreMessage.get_indexes(body))
    return StdinReview(dataclasses.replace(options, inputs=(str(patch_file),),
                                           tree=top if base else None, base=base),
                       last_patch_only=True)


def _git(top: str, *args: str, stdin: bytes | None = None) -> str | None:
    done = subprocess.run(["git", "-C", top, *args], input=stdin, capture_output=True)
    return done.stdout.decode(errors="replace") if done.returncode == 0 else None


def _git_top(path: str) -> str | None:
    if not os.path.isdir(path):
        raise InputError(path, "no such directory")
    out = _git(path, "rev-parse", "--show-toplevel")
    return out.strip() if out else None


def _commit_with_patch_id(top: str, patch_id: str | None) -> str | None:
    """The newest of the recent commits of HEAD whose change is the patch's."""
    if patch_id is None:
        return None
    log = subprocess.run(["git", "-C", top, "log", "-p", "--no-merges", "--no-color",
                          f"-n{SEARCH_DEPTH}", "HEAD"], capture_output=True)
    if log.returncode != 0:  # no commits yet
        return None
    ids = _git(top, "patch-id", "--stable", stdin=log.stdout) or ""
    for line in ids.splitlines():
        found, commit = line.split()
        if found == patch_id:
            return commit
    return None


def _ancestor(top: str, commit: str, generations: int) -> str | None:
    out = _git(top, "rev-parse", "--verify", "-q", f"{commit}~{generations}^{{commit}}")
    return out.strip() if out else None


def _commit_with_pre_image(top: str, indexes) -> str | None:
    """The newest recent commit of HEAD holding every file the patch changes with the blob its
    `index` line names (and none of the files it creates)."""
    wanted = [(path, blob) for path, blob, _new_path, _mode in sorted(indexes)]
    if not wanted:
        return None
    commits = (_git(top, "rev-list", f"-n{SEARCH_DEPTH}", "HEAD") or "").split()
    if not commits:
        return None
    queries = "".join(f"{commit}:{path}\n" for commit in commits for path, _blob in wanted)
    answers = (_git(top, "cat-file", "--batch-check=%(objectname)", stdin=queries.encode())
               or "").splitlines()
    for i, commit in enumerate(commits):
        found = answers[i * len(wanted):(i + 1) * len(wanted)]
        if all(_blob_matches(answer, blob) for answer, (_path, blob) in zip(found, wanted)):
            return commit
    return None


def _blob_matches(answer: str, blob: str) -> bool:
    if set(blob) == {"0"}:  # a new file: it must not be there yet
        return answer.endswith(" missing")
    return answer.startswith(blob)
