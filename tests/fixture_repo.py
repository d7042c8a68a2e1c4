"""Turn the minifs fixture into a git repository: `base/` as one commit, a series on top.

The base commit is made with a fixed identity and date, so its hash is the same on every
machine and matches the `base-commit:` line of fixtures/minifs/series/0000-cover-letter.patch.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

MINIFS = Path(__file__).resolve().parent.parent / "fixtures" / "minifs"
BASE_DIR = MINIFS / "base"
SERIES = MINIFS / "series"

IDENTITY = {
    "GIT_AUTHOR_NAME": "reviewbot fixtures",
    "GIT_AUTHOR_EMAIL": "fixtures@reviewbot.invalid",
    "GIT_COMMITTER_NAME": "reviewbot fixtures",
    "GIT_COMMITTER_EMAIL": "fixtures@reviewbot.invalid",
}
BASE_DATE = "2026-01-05T10:00:00+00:00"


@dataclass(frozen=True)
class FixtureRepo:
    path: Path
    base: str  # commit hash of the base commit (also the branch `base`)
    topic: str  # commit hash of the last patch applied (branch `topic`)


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], check=True, text=True,
                            capture_output=True, env={**os.environ, **(env or {})})
    return result.stdout.strip()


def make_minifs_repo(path: Path, patches_dir: Path = SERIES) -> FixtureRepo:
    """A git repository at `path` holding `base/` as commit `base`, and on branch `topic`
    every `*.patch` of `patches_dir` (cover letters skipped), or the one patch file
    `patches_dir` names, applied with `git am`. The checkout is left on `topic`."""
    path = Path(path)
    shutil.copytree(BASE_DIR, path)
    git(path, "init", "-q", "-b", "base")
    git(path, "add", "-A")
    dated = {**IDENTITY, "GIT_AUTHOR_DATE": BASE_DATE, "GIT_COMMITTER_DATE": BASE_DATE}
    git(path, "commit", "-q", "-m", "minifs: base", env=dated)
    git(path, "checkout", "-q", "-b", "topic")
    patches_dir = Path(patches_dir)
    patches = [patches_dir] if patches_dir.is_file() else sorted(
        p for p in patches_dir.glob("*.patch") if not p.name.startswith("0000-"))
    if patches:
        # git am keeps each patch's author and date; the committer date is pinned too, so
        # the topic commits get the same hashes on every run
        git(path, "am", "-q", "--committer-date-is-author-date", *map(str, patches), env=IDENTITY)
    return FixtureRepo(path, git(path, "rev-parse", "base"), git(path, "rev-parse", "topic"))
