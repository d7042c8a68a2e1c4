"""`reviewbot show`: the series as a reviewer first sees it, from every kind of source."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from conftest import ROOT, SEED_COVER, SEED_MBOX
from fakelore import FakeLore
from fixture_repo import SERIES, make_minifs_repo

from reviewbot.cli import main

SEED_SHOW = """\
FUSE passthrough fixes
  revision: v1, 3 patches
  from: Amir Goldstein <amir73il@gmail.com>, 2024-04-07 18:57:55 +0300
  mode: hunk-only
  base: unknown (give --tree for whole files)
  cover letter: <20240407155758.575216-1-amir73il@gmail.com>

[1/3] fuse: fix wrong ff->iomode state changes from parallel dio write
  from: Amir Goldstein <amir73il@gmail.com>, 2024-04-07 18:57:56 +0300
  message-id: <20240407155758.575216-2-amir73il@gmail.com>
  M fs/fuse/file.c    +11 -7
  M fs/fuse/fuse_i.h  +4 -3
  M fs/fuse/inode.c   +1 -0
  M fs/fuse/iomode.c  +40 -19
  6 replies:
    Miklos Szeredi <miklos@szeredi.hu>, 2024-04-09 15:33:21 +0200
      Okay.
    Amir Goldstein <amir73il@gmail.com>, 2024-04-09 18:10:09 +0300
      No.
    Miklos Szeredi <miklos@szeredi.hu>, 2024-04-09 17:32:41 +0200
      Only on current->mm, which doesn't serialize mmaps of the same file in
    Amir Goldstein <amir73il@gmail.com>, 2024-04-09 19:18:42 +0300
      As I wrote, I just did it to emphasize the open-once
    Amir Goldstein <amir73il@gmail.com>, 2024-04-13 09:50:43 +0300
      I see that you removed the unlocked check in the fix staged for-next.
    Miklos Szeredi <miklos@szeredi.hu>, 2024-04-15 10:14:57 +0200
      Done.

[2/3] fuse: fix parallel dio write on file open in passthrough mode
  from: Amir Goldstein <amir73il@gmail.com>, 2024-04-07 18:57:57 +0300
  message-id: <20240407155758.575216-3-amir73il@gmail.com>
  M fs/fuse/iomode.c  +2 -2

[3/3] fuse: prepare for long lived reference on backing file
  from: Amir Goldstein <amir73il@gmail.com>, 2024-04-07 18:57:58 +0300
  message-id: <20240407155758.575216-4-amir73il@gmail.com>
  M fs/fuse/file.c    +1 -1
  M fs/fuse/fuse_i.h  +4 -1
  M fs/fuse/inode.c   +6 -0
  M fs/fuse/iomode.c  +11 -3
"""

MINIFS_FILES = """\
[1/3] minifs: rename cached io start/end to open/release
  from: reviewbot fixtures <fixtures@reviewbot.invalid>, 2026-01-06 10:01:00 +0000
  {id1}
  M file.c    +1 -1
  M iomode.c  +6 -6
  M minifs.h  +1 -1

[2/3] minifs: show inode io modes in debugfs
  from: reviewbot fixtures <fixtures@reviewbot.invalid>, 2026-01-06 10:02:00 +0000
  {id2}
  M Makefile   +1 -0
  A debugfs.c  +35 -0
  M minifs.h   +3 -0

[3/3] minifs: keep a long lived backing file reference
  from: reviewbot fixtures <fixtures@reviewbot.invalid>, 2026-01-06 10:03:00 +0000
  {id3}
  M file.c    +1 -1
  M inode.c   +5 -0
  M iomode.c  +9 -2
  M minifs.h  +2 -1
"""


@pytest.fixture
def repo(tmp_path):
    return make_minifs_repo(tmp_path / "repo")


def show(capsys, *argv: str) -> str:
    assert main(["show", *argv]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def test_show_seed_mbox(capsys):
    assert show(capsys, str(SEED_MBOX)) == SEED_SHOW


def test_show_from_lore_by_message_id_and_by_pasted_url(capsys):
    with FakeLore([SEED_MBOX]) as lore:
        assert show(capsys, SEED_COVER, "--lore-url", lore.url) == SEED_SHOW
        url = f"https://lore.kernel.org/linux-fsdevel/{SEED_COVER}/T/#u"
        assert show(capsys, url, "--lore-url", lore.url) == SEED_SHOW
        assert len(lore.requests) == 2


def message_id(n: int) -> str:
    """The Message-Id header of patch n (0: the cover letter) of the minifs series."""
    text = next(SERIES.glob(f"000{n}-*.patch")).read_text()
    return text.split("Message-Id: ", 1)[1].split("\n", 1)[0]


def minifs_head(mode: str, base: str) -> str:
    return ("minifs: io mode cleanups and a long lived backing file\n"
            "  revision: v1, 3 patches\n"
            "  from: reviewbot fixtures <fixtures@reviewbot.invalid>, 2026-01-06 10:03:00 +0000\n"
            f"  mode: {mode}\n"
            f"  base: {base}\n"
            f"  cover letter: {message_id(0)}\n\n")


MESSAGE_ID_LINES = {f"id{n}": f"message-id: {message_id(n)}" for n in (1, 2, 3)}


def test_show_patch_directory_is_hunk_only_without_tree(capsys, repo, monkeypatch):
    monkeypatch.chdir(repo.path)  # a git tree here is not taken for the kernel tree
    expected = minifs_head(
        "hunk-only", f"{repo.base} named by the series, not used (give --tree for whole files)"
    ) + MINIFS_FILES.format(**MESSAGE_ID_LINES)
    assert show(capsys, str(SERIES)) == expected


def test_show_patch_directory_in_tree_mode(capsys, repo):
    expected = minifs_head("tree", repo.base) + MINIFS_FILES.format(**MESSAGE_ID_LINES)
    assert show(capsys, "--tree", str(repo.path), str(SERIES)) == expected
    hunks = show(capsys, "--tree", str(repo.path), "--hunks-only", str(SERIES))
    assert "  mode: hunk-only\n" in hunks


def test_show_patch_files(capsys, repo):
    files = sorted(str(p) for p in SERIES.glob("000[123]-*.patch"))
    out = show(capsys, "--tree", str(repo.path), *files)
    assert out == ("minifs: rename cached io start/end to open/release\n"
                   "  revision: v1, 3 patches\n"
                   "  from: reviewbot fixtures <fixtures@reviewbot.invalid>, "
                   "2026-01-06 10:01:00 +0000\n"
                   "  mode: tree\n"
                   f"  base: {repo.base}\n\n" + MINIFS_FILES.format(**MESSAGE_ID_LINES))


def test_show_git_range_from_the_current_directory(capsys, repo, monkeypatch):
    monkeypatch.chdir(repo.path)
    commits = subprocess.run(["git", "rev-list", "--reverse", "base..topic"], check=True,
                             capture_output=True, text=True).stdout.split()
    out = show(capsys, "base..topic")
    assert out == ("minifs: rename cached io start/end to open/release\n"
                   "  revision: v1, 3 patches\n"
                   "  from: reviewbot fixtures <fixtures@reviewbot.invalid>, "
                   "2026-01-06 10:01:00 +0000\n"
                   "  mode: tree\n"
                   f"  base: {repo.base}\n\n"
                   + MINIFS_FILES.format(**{f"id{n}": f"commit: {c}"
                                            for n, c in enumerate(commits, start=1)}))


def test_show_marks_renamed_deleted_and_added_files(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_AUTHOR_DATE", "2026-01-02T03:04:05+00:00")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-01-02T03:04:05+00:00")

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(tmp_path), *args], check=True,
                              capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    (tmp_path / "a.c").write_text("int a(void)\n{\n\treturn 1;\n}\n")
    (tmp_path / "notes.txt").write_text("one\ntwo\n")
    git("add", "-A")
    git("commit", "-q", "-m", "base")
    git("mv", "a.c", "b.c")
    git("commit", "-q", "-m", "rename a.c")
    git("rm", "-q", "notes.txt")
    (tmp_path / "b.h").write_text("int a(void);\n")
    git("add", "b.h")
    git("commit", "-q", "-m", "drop the notes, declare a()")
    base, first, second = git("rev-list", "--reverse", "HEAD").split()
    assert show(capsys, "--tree", str(tmp_path), "HEAD~2..HEAD") == f"""\
rename a.c
  revision: v1, 2 patches
  from: reviewbot tests <tests@reviewbot.invalid>, 2026-01-02 03:04:05 +0000
  mode: tree
  base: {base}

[1/2] rename a.c
  from: reviewbot tests <tests@reviewbot.invalid>, 2026-01-02 03:04:05 +0000
  commit: {first}
  R a.c -> b.c  +0 -0

[2/2] drop the notes, declare a()
  from: reviewbot tests <tests@reviewbot.invalid>, 2026-01-02 03:04:05 +0000
  commit: {second}
  A b.h        +1 -0
  D notes.txt  +0 -2
"""


# ---- every bad input: one line on stderr naming it, exit 2, nothing on stdout ----

def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fails(capsys, *argv: str) -> str:
    assert main(["show", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    return err


def test_missing_file(capsys, tmp_path):
    path = tmp_path / "nothing.mbox"
    assert fails(capsys, str(path)) == f"reviewbot: {path}: no such file or directory\n"


def test_garbage_mbox(capsys, tmp_path):
    path = tmp_path / "garbage.mbox"
    path.write_bytes(bytes(range(256)) * 8)
    assert fails(capsys, str(path)) == (f"reviewbot: {path}: no mail messages in it "
                                        "(not an mbox or a git format-patch file)\n")


def test_mbox_without_patches(capsys, tmp_path):
    text = SEED_MBOX.read_text()
    path = tmp_path / "talk.mbox"
    path.write_text(text[text.index("From miklos@szeredi.hu"):])  # the replies only
    assert fails(capsys, str(path)) == f"reviewbot: {path}: no patches in this thread\n"


def test_patch_with_a_malformed_diff(capsys, tmp_path):
    text = next(SERIES.glob("0001-*.patch")).read_text()
    hunk = text.index("\n@@ ") + 1
    path = tmp_path / "broken.patch"
    path.write_text(text[:hunk] + "@@ -1,99 +1,99 @@\n" + text[text.index("\n", hunk) + 1:])
    assert fails(capsys, str(path)) == (
        'reviewbot: patch 1/1 "minifs: rename cached io start/end to open/release": malformed '
        "diff: file.c, line 19 of the diff: Hunk diff line expected: diff --git a/iomode.c "
        "b/iomode.c\n")


def test_unknown_message_id(capsys):
    with FakeLore([SEED_MBOX]) as lore:
        assert fails(capsys, "<nobody@example.com>", "--lore-url", lore.url) == (
            f"reviewbot: <nobody@example.com>: no such message on {lore.url} "
            "(check the message-id, or --lore-url)\n")


def test_lore_unreachable(capsys):
    url = f"http://127.0.0.1:{closed_port()}/all"
    assert fails(capsys, SEED_COVER, "--lore-url", url, "--lore-timeout", "2") == (
        f"reviewbot: {SEED_COVER}: cannot reach {url}: Connection refused (check "
        "--lore-url and the network)\n")


def test_lore_too_slow(capsys):
    with FakeLore([SEED_MBOX], delay=60) as lore:
        assert fails(capsys, SEED_COVER, "--lore-url", lore.url, "--lore-timeout", "0.2") == (
            f"reviewbot: {SEED_COVER}: {lore.url} did not send the thread within "
            "0.2s (try again later, or a longer --lore-timeout)\n")


@pytest.mark.parametrize("timeout", ["0", "-1", "nan", "inf", "1e300"])
def test_lore_timeout_out_of_range_is_a_usage_error(capsys, timeout):
    with pytest.raises(SystemExit) as exited:
        main(["show", SEED_COVER, "--lore-timeout", timeout])
    assert exited.value.code == 2
    assert capsys.readouterr().err.endswith(
        "reviewbot show: error: argument --lore-timeout: not a number of seconds above 0 and "
        f"at most 86400: {timeout}\n")


def test_not_a_git_repository(capsys, tmp_path):
    assert fails(capsys, "--tree", str(tmp_path), "base..topic") == (
        f"reviewbot: {tmp_path}: not a git repository\n")


def test_empty_range(capsys, repo):
    assert fails(capsys, "--tree", str(repo.path), "topic..topic") == (
        "reviewbot: topic..topic: empty range: no commits in it\n")


def test_command_line_as_a_user_runs_it():
    done = subprocess.run([sys.executable, "-m", "reviewbot", "show", str(SEED_MBOX)],
                          capture_output=True, text=True, cwd=ROOT)
    assert (done.returncode, done.stderr, done.stdout) == (0, "", SEED_SHOW)
    missing = subprocess.run([sys.executable, "-m", "reviewbot", "show", "nothing.mbox"],
                             capture_output=True, text=True, cwd=ROOT)
    assert (missing.returncode, missing.stdout, missing.stderr) == (
        2, "", "reviewbot: nothing.mbox: no such file or directory\n")
