"""Before sending: `reviewbot check` on one patch mail from stdin (b4's check hooks), the b4-prep
and b4-review formats, and the sendemail-validate hook, run through real b4 and git send-email."""

from __future__ import annotations

import json
import mailbox
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SEED_COVER, SEED_MBOX
from fakelore import FakeLore
from fixture_repo import IDENTITY, MINIFS, git, make_minifs_repo

PLANTED = MINIFS / "planted" / "unlocked-write-cached-start.patch"
CLEAN = MINIFS / "clean" / "locked-helper.patch"
FINDING = ("iomode.c:59: ERROR: `ff->iomode` writes `minifs_file.iomode` without "
           "`minifs_inode.lock` [unlocked-write]")
VENV_BIN = str(Path(sys.executable).parent)  # where the reviewbot and b4 of this venv are


def run(cwd: Path, *argv: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": VENV_BIN + os.pathsep + os.environ["PATH"]}
    return subprocess.run(argv, cwd=cwd, input=stdin, capture_output=True, env=env)


def empty_repo(tmp_path: Path) -> Path:
    """The minifs base alone, on branch `topic`."""
    (tmp_path / "none").mkdir()
    return make_minifs_repo(tmp_path / "repo", tmp_path / "none").path


def apply(repo: Path, *patches: Path) -> None:
    git(repo, "am", "-q", *map(str, patches), env=IDENTITY)


def format_patches(repo: Path, rev_range: str) -> list[bytes]:
    out = Path(repo.parent / "out")
    git(repo, "format-patch", "-q", "-o", str(out), rev_range)
    return [path.read_bytes() for path in sorted(out.glob("0*.patch"))]


# reviewbot check - (a patch mail on stdin)

def test_stdin_patch_in_the_branch_is_reviewed_with_the_patches_before_it(tmp_path):
    repo = empty_repo(tmp_path)
    apply(repo, PLANTED, CLEAN)
    first, second = format_patches(repo, "base..topic")
    done = run(repo, "reviewbot", "check", "--format", "b4-prep", stdin=first)
    assert (done.returncode, done.stdout.decode().splitlines()) == (1, [FINDING])
    # the second patch builds on the first: the first's finding is not the second's
    done = run(repo, "reviewbot", "check", "--format", "b4-prep", "-", stdin=second)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")


def test_stdin_patch_not_applied_is_found_at_its_pre_image(tmp_path):
    repo = empty_repo(tmp_path)
    apply(repo, PLANTED)
    (patch,) = format_patches(repo, "base..topic")
    git(repo, "reset", "-q", "--hard", "base")  # the patch is not in the branch any more
    (repo / "Makefile").write_text("# unrelated work since\n")
    git(repo, "commit", "-q", "-am", "unrelated", env=IDENTITY)
    done = run(repo, "reviewbot", "check", "--format", "b4-prep", stdin=patch)
    assert done.stdout.decode().splitlines() == [FINDING]
    # outside a git tree the patch is all there is: hunk-only, and no lock state to judge by
    done = run(tmp_path, "reviewbot", "check", "--format", "b4-prep", stdin=patch)
    assert (done.returncode, done.stdout) == (0, b"")


def test_b4_review_format_is_the_json_list_b4_reads(tmp_path):
    repo = empty_repo(tmp_path)
    apply(repo, PLANTED)
    (patch,) = format_patches(repo, "base..topic")
    done = run(repo, "reviewbot", "check", "--format", "b4-review", stdin=patch)
    (entry,) = json.loads(done.stdout)
    assert entry["tool"] == "reviewbot" and entry["status"] == "fail"
    assert entry["summary"] == "1 error"
    assert json.loads(entry["details"]) == [{"status": "fail", "description": FINDING}]


def test_b4_review_of_a_clean_patch_passes(tmp_path):
    repo = empty_repo(tmp_path)
    apply(repo, CLEAN)
    (patch,) = format_patches(repo, "base..topic")
    done = run(repo, "reviewbot", "check", "--format", "b4-review", stdin=patch)
    assert json.loads(done.stdout)[0]["status"] == "pass"


def test_b4_review_series_check_reviews_the_thread_of_the_cover_letter(tmp_path):
    # b4 review-series-check-cmd hands over the cover letter: no diff, but its Message-ID
    cover = next(m for m in mailbox.mbox(str(SEED_MBOX)) if m["Message-ID"] == f"<{SEED_COVER}>")
    with FakeLore([SEED_MBOX]) as lore:
        done = run(tmp_path, "reviewbot", "check", "--format", "b4-review", "--lore-url",
                   lore.url, stdin=cover.as_bytes())
    (entry,) = json.loads(done.stdout)
    assert (entry["status"], entry["summary"]) == ("fail", "1 error, 1 warning")
    assert [d["description"].split(":")[0] for d in json.loads(entry["details"])] == [
        "fs/fuse/file.c", "fs/fuse/iomode.c"]


def test_stdin_without_a_patch_is_a_one_line_error(tmp_path):
    done = run(tmp_path, "reviewbot", "check", "-", stdin=b"Subject: hello\n\nno diff here\n")
    assert done.returncode == 2
    assert done.stderr.decode().splitlines() == [
        "reviewbot: stdin: neither a patch (no diff) nor a mail with a Message-ID"]


# b4 prep --check

def test_b4_prep_check_shows_the_finding_of_the_planted_patch(tmp_path):
    repo = empty_repo(tmp_path)
    assert run(repo, "b4", "prep", "-n", "planted", "-f", "base").returncode == 0
    apply(repo, PLANTED, CLEAN)
    done = run(repo, "b4", "-c", "b4.prep-perpatch-check-cmd=reviewbot check --format b4-prep",
               "prep", "--check")
    out = done.stdout.decode() + done.stderr.decode()
    assert f"reviewbot: {FINDING}" in out
    assert out.count("reviewbot: ") == 1  # the clean second patch has nothing
    assert "Success: 1, Warning: 0, Error: 1" in out


# the sendemail-validate hook

def needs_send_email() -> None:
    """Skip without git send-email, except in CI (env CI set), where .ci/run installs it and a
    skip would hide a test that never ran."""
    exec_path = subprocess.run(["git", "--exec-path"], capture_output=True, text=True).stdout
    if not (Path(exec_path.strip()) / "git-send-email").exists():
        if os.environ.get("CI"):
            pytest.fail("git send-email is not installed (Debian: git-email)")
        pytest.skip("git send-email is not installed (Debian: git-email)")


def send_dry_run(repo: Path, *extra: str) -> subprocess.CompletedProcess:
    """git send-email --dry-run of the branch's patches and a cover letter with its
    placeholders filled in (send-email refuses to send them)."""
    outgoing = repo.parent / "outgoing"
    git(repo, "format-patch", "-q", "--cover-letter", "-o", str(outgoing), "base..topic")
    cover = outgoing / "0000-cover-letter.patch"
    cover.write_text(cover.read_text().replace("*** SUBJECT HERE ***", "minifs: a series")
                     .replace("*** BLURB HERE ***", "What it does."))
    return run(repo, "git", "send-email", "--dry-run", "--confirm=never", *extra,
               "--to", "list@example.invalid", "--from", "author@example.invalid",
               *map(str, sorted(outgoing.iterdir())))


def test_hook_stops_sending_a_planted_bug_and_no_validate_overrides(tmp_path):
    needs_send_email()
    repo = empty_repo(tmp_path)
    apply(repo, PLANTED)
    assert run(repo, "reviewbot", "hook", "install").returncode == 0
    done = send_dry_run(repo)
    assert done.returncode != 0
    assert FINDING in done.stderr.decode()
    assert b"Result: OK" not in done.stdout
    assert send_dry_run(repo, "--no-validate").stdout.count(b"Result: OK") == 2


def test_hook_lets_a_clean_patch_and_its_cover_letter_go(tmp_path):
    needs_send_email()
    repo = empty_repo(tmp_path)
    apply(repo, CLEAN)
    assert run(repo, "reviewbot", "hook", "install").returncode == 0
    done = send_dry_run(repo)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.count(b"Result: OK") == 2


def test_hook_install_keeps_a_foreign_hook_and_remove_takes_ours(tmp_path):
    repo = empty_repo(tmp_path)
    hook = repo / ".git" / "hooks" / "sendemail-validate"
    hook.write_text("#!/bin/sh\nexit 0\n")
    done = run(repo, "reviewbot", "hook", "install")
    assert done.returncode == 2 and b"already there (--force replaces it)" in done.stderr
    assert hook.read_text() == "#!/bin/sh\nexit 0\n"
    assert run(repo, "reviewbot", "hook", "install", "--force").returncode == 0
    assert os.access(hook, os.X_OK) and "reviewbot" in hook.read_text()
    assert run(repo, "reviewbot", "hook", "remove").returncode == 0
    assert not hook.exists()
