"""The workspace: every touched file at the base and after each patch, from a git tree (the
minifs fixture repository) or from the hunks alone (the seed thread, the minifs series)."""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import SEED_MBOX
from fixture_repo import SERIES, git, make_minifs_repo
from reviewbot.errors import DoesNotApply, InputError
from reviewbot.sources import load_series
from reviewbot.workspace import (HUNK_ONLY, TREE, FileChange, FileVersion, KnownRange,
                                 build_workspace)

FIXTURE_PATHS = ["file.c", "iomode.c", "minifs.h", "Makefile", "inode.c"]


@pytest.fixture
def repo(tmp_path):
    return make_minifs_repo(tmp_path / "minifs")


@pytest.fixture
def series():
    return load_series([str(SERIES)])


@pytest.fixture
def seed():
    return load_series([str(SEED_MBOX)])


@pytest.fixture
def temp_dir(tmp_path, monkeypatch):
    """The directory where tempfile makes its directories, empty at the start."""
    path = tmp_path / "temp"
    path.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    return path


def show(repo_path: Path, rev: str, path: str) -> str | None:
    """`git show REV:path`, None when the file is not there."""
    result = subprocess.run(["git", "-C", str(repo_path), "show", f"{rev}:{path}"],
                            capture_output=True)
    return result.stdout.decode(errors="replace") if result.returncode == 0 else None


def topic_revs(fixture) -> list[str]:
    """The base and each commit of the topic branch: the git side of versions 0..N."""
    return [fixture.base] + git(fixture.path, "rev-list", "--reverse", "base..topic").split()


def assert_matches_git(workspace, fixture, revs: list[str]) -> None:
    for k, rev in enumerate(revs):
        for path in workspace.versions[k]:
            assert workspace.version(path, k).text == show(fixture.path, rev, path), (k, path)
            assert workspace.version(path, k).known is None


def repo_state(repo_path: Path) -> dict[str, str]:
    """What reviewbot must leave as it found it in the user's repository."""
    index = repo_path / ".git" / "index"
    return {
        "status": git(repo_path, "status", "--porcelain", "--untracked-files=all"),
        "refs": git(repo_path, "for-each-ref"),
        "head": git(repo_path, "symbolic-ref", "HEAD"),
        "worktrees": git(repo_path, "worktree", "list", "--porcelain"),
        "index": hashlib.sha1(index.read_bytes()).hexdigest(),
        "objects": git(repo_path, "count-objects", "-v"),
    }


def commit_all(repo_path: Path, message: str, date: str) -> str:
    git(repo_path, "add", "-A")
    git(repo_path, "commit", "-q", "-m", message,
        env={"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date})
    return git(repo_path, "rev-parse", "HEAD")


# --- tree mode ---------------------------------------------------------------------------

def test_tree_versions_equal_git_show_at_every_step(repo, series):
    workspace = build_workspace(series, tree=str(repo.path))
    assert (workspace.mode, workspace.base, workspace.patch_count) == (TREE, repo.base, 3)
    assert_matches_git(workspace, repo, topic_revs(repo))
    assert workspace.paths(0) == FIXTURE_PATHS
    assert workspace.paths(2) == ["file.c", "iomode.c", "minifs.h", "Makefile", "debugfs.c",
                                  "inode.c"]
    assert workspace.c_paths(3) == ["file.c", "iomode.c", "minifs.h", "debugfs.c", "inode.c"]
    assert workspace.version("debugfs.c", 1).text is None
    assert workspace.before("iomode.c", 3) == workspace.version("iomode.c", 2)
    assert workspace.after("iomode.c", 3) == workspace.version("iomode.c", 3)


def test_tree_changes_are_marked(repo, series):
    workspace = build_workspace(series, tree=str(repo.path))
    assert workspace.changes[1] == [
        FileChange(2, "Makefile", "Makefile", "modified", False, added=1, removed=0),
        FileChange(2, None, "debugfs.c", "added", True, added=35, removed=0),
        FileChange(2, "minifs.h", "minifs.h", "modified", True, added=3, removed=0),
    ]


def test_git_range_versions_are_the_commits(repo):
    series = load_series(["base..topic"], tree=str(repo.path))
    workspace = build_workspace(series, tree=str(repo.path))
    assert workspace.base == repo.base
    assert_matches_git(workspace, repo, topic_revs(repo))


def test_base_option_against_a_git_range(repo):
    series = load_series(["base..topic"], tree=str(repo.path))
    assert build_workspace(series, tree=str(repo.path), base="base").base == repo.base
    for base, problem in [("topic", f"--base does not apply to a git range: it starts at "
                                    f"{repo.base[:12]}"),
                          ("nosuch", f"not a commit in {repo.path}")]:
        with pytest.raises(InputError) as raised:
            build_workspace(series, tree=str(repo.path), base=base)
        assert (raised.value.source, raised.value.problem) == (base, problem)


def test_base_option_needs_a_tree(series):
    with pytest.raises(InputError) as raised:
        build_workspace(series, base="base")
    assert (raised.value.source, raised.value.problem) == (
        "base", "--base needs --tree: without a tree there is nothing to apply the series on")
    assert build_workspace(series, base="base", hunks_only=True).mode == HUNK_ONLY


def test_base_option_wins_over_base_commit(repo, series):
    series.base_commit = "0" * 40
    workspace = build_workspace(series, tree=str(repo.path), base="base")
    assert workspace.base == repo.base
    assert_matches_git(workspace, repo, topic_revs(repo))


def test_base_guessed_from_index_lines(repo, series):
    # on top of base: a commit that leaves the patched files alone (a valid base, and the
    # newest one), then one that changes inode.c (no longer a base of the series)
    git(repo.path, "checkout", "-q", "-b", "later", "base")
    (repo.path / "NOTES").write_text("notes\n")
    unrelated = commit_all(repo.path, "notes", "2026-02-01T10:00:00+00:00")
    with open(repo.path / "inode.c", "a") as f:
        f.write("/* later */\n")
    commit_all(repo.path, "inode.c later", "2026-02-02T10:00:00+00:00")
    series.base_commit = None
    workspace = build_workspace(series, tree=str(repo.path))
    assert workspace.base == unrelated
    assert_matches_git(workspace, repo, [unrelated] + topic_revs(repo)[1:])


def test_base_commit_not_in_tree_falls_back_to_the_guess(repo, series):
    series.base_commit = "1234567890" * 4
    assert build_workspace(series, tree=str(repo.path)).base == repo.base


def test_no_base_found(tmp_path, series):
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    (other / "file.c").write_text("int x;\n")
    commit_all(other, "unrelated", "2026-01-01T00:00:00+00:00")
    series.base_commit = None
    with pytest.raises(InputError) as raised:
        build_workspace(series, tree=str(other))
    assert raised.value.source == str(other)
    assert "cannot tell which commit the series applies to" in raised.value.problem


def test_bad_tree_and_bad_base(tmp_path, repo, series):
    with pytest.raises(InputError) as raised:
        build_workspace(series, tree=str(tmp_path))
    assert (raised.value.source, raised.value.problem) == (str(tmp_path), "not a git repository")
    for tree, problem in [(tmp_path / "missing", "no such directory"),
                          (repo.path / "file.c", "not a directory")]:
        with pytest.raises(InputError) as raised:
            build_workspace(series, tree=str(tree))
        assert (raised.value.source, raised.value.problem) == (str(tree), problem)
    with pytest.raises(InputError) as raised:
        build_workspace(series, tree=str(repo.path), base="no-such-rev")
    assert raised.value.source == "no-such-rev"
    assert raised.value.problem == f"not a commit in {repo.path}"


def test_patch_that_does_not_apply_names_patch_and_file(repo, series, temp_dir):
    git(repo.path, "checkout", "-q", "-b", "moved", "base")
    text = (repo.path / "file.c").read_text()
    (repo.path / "file.c").write_text(text.replace("minifs_file_cached_io_start(inode, ff)",
                                                   "minifs_file_cached_io_begin(inode, ff)"))
    moved = commit_all(repo.path, "rename the call", "2026-02-01T10:00:00+00:00")
    before = repo_state(repo.path)
    with pytest.raises(DoesNotApply) as raised:
        build_workspace(series, tree=str(repo.path), base=moved)
    assert raised.value.source == 'patch 1/3 "minifs: rename cached io start/end to open/release"'
    assert raised.value.path == "file.c"
    assert raised.value.problem.startswith(f"does not apply to file.c at base {moved[:12]}")
    assert "--hunks-only" in raised.value.problem
    assert repo_state(repo.path) == before
    assert list(temp_dir.iterdir()) == []
    # the way on: the hunks alone (the tree still named, for its configuration)
    hunks = build_workspace(series, tree=str(repo.path), base=moved, hunks_only=True)
    assert (hunks.mode, hunks.base, hunks.tree) == (HUNK_ONLY, None, str(repo.path))


def test_tree_mode_leaves_the_repository_as_it_was(repo, series, temp_dir):
    (repo.path / "iomode.c").write_text("uncommitted work\n")
    git(repo.path, "add", "iomode.c")
    (repo.path / "inode.c").write_text("unstaged work\n")
    before = repo_state(repo.path)
    build_workspace(series, tree=str(repo.path), base="base")
    assert repo_state(repo.path) == before
    assert (repo.path / "inode.c").read_text() == "unstaged work\n"
    assert list(temp_dir.iterdir()) == []


def test_subdirectory_of_the_tree_works(repo, series):
    (repo.path / "sub").mkdir()
    (repo.path / "sub" / "x").write_text("x\n")
    workspace = build_workspace(series, tree=str(repo.path / "sub"))
    assert workspace.version("iomode.c", 3).text == show(repo.path, "topic", "iomode.c")


# --- renamed, deleted, binary and non-C files ---------------------------------------------

PNG = bytes(range(256)) * 4


@pytest.fixture
def mixed(tmp_path, repo):
    """One patch that renames inode.c (with a change), deletes the Makefile, adds a binary
    file and a text file; as format-patch files plus the repository they came from."""
    git(repo.path, "checkout", "-q", "-b", "mixed", "base")
    inode = (repo.path / "inode.c").read_text()
    (repo.path / "inode.c").unlink()
    (repo.path / "minifs_inode.c").write_text(inode.replace("minifs: base", "x").replace(
        "static struct kmem_cache *minifs_inode_cachep;",
        "static struct kmem_cache *minifs_inode_cachep __read_mostly;"))
    (repo.path / "Makefile").unlink()
    (repo.path / "logo.png").write_bytes(PNG)
    (repo.path / "Kconfig").write_text("config MINIFS_FS\n\ttristate \"minifs\"\n")
    commit_all(repo.path, "minifs: reorganise", "2026-03-01T10:00:00+00:00")
    out = repo.path.parent / "mixed-patches"
    git(repo.path, "format-patch", "-q", "-M", "-o", str(out), "base..mixed")
    return repo, load_series([str(out)])


def test_renamed_deleted_binary_and_non_c_files_are_marked(mixed):
    repo, series = mixed
    workspace = build_workspace(series, tree=str(repo.path), base=repo.base)
    assert sorted(workspace.changes[0], key=lambda c: c.new_path or c.old_path) == [
        FileChange(1, None, "Kconfig", "added", False, added=2, removed=0),
        FileChange(1, "Makefile", None, "deleted", False, added=0, removed=5),
        FileChange(1, None, "logo.png", "binary", False),
        FileChange(1, "inode.c", "minifs_inode.c", "renamed", True, added=1, removed=1),
    ]
    assert_matches_git(workspace, repo, [repo.base, git(repo.path, "rev-parse", "mixed")])
    assert workspace.paths(0) == ["Makefile", "inode.c"]
    assert sorted(workspace.paths(1)) == ["Kconfig", "logo.png", "minifs_inode.c"]
    assert workspace.c_paths(1) == ["minifs_inode.c"]
    # untouched files are read from the base
    assert workspace.version("iomode.c", 1).text == show(repo.path, "base", "iomode.c")
    # ... once: every version gives the same file without asking git again
    assert workspace.version("iomode.c", 0) is workspace.version("iomode.c", 1)
    assert workspace.version("no-such-file.c", 0).text is None


def test_renamed_deleted_binary_and_non_c_files_in_hunk_only_mode(mixed):
    repo, series = mixed
    workspace = build_workspace(series)
    assert workspace.paths(0) == ["Makefile", "inode.c"]
    assert sorted(workspace.paths(1)) == ["Kconfig", "logo.png", "minifs_inode.c"]
    renamed = workspace.version("minifs_inode.c", 1)
    assert renamed.known == [KnownRange(8, 14, "")]
    assert renamed.text.splitlines()[10] == \
        "static struct kmem_cache *minifs_inode_cachep __read_mostly;"
    assert workspace.version("inode.c", 1).text is None
    assert workspace.version("minifs_inode.c", 0).text is None
    # a deleted file's diff shows all of it, an added one's too
    assert workspace.version("Makefile", 0) == FileVersion(
        "Makefile", show(repo.path, "base", "Makefile"), known=None)
    assert workspace.version("Makefile", 1).text is None
    assert workspace.version("Kconfig", 1).known is None
    assert workspace.version("Kconfig", 1).text == show(repo.path, "mixed", "Kconfig")
    # nothing of a binary file is known
    assert (workspace.version("logo.png", 1).text, workspace.version("logo.png", 1).known) \
        == ("", [])
    # nor of a file the series does not touch
    assert workspace.version("iomode.c", 0).known == []


# --- hunk-only mode ------------------------------------------------------------------------

def test_hunk_only_seed_after_patch_1(seed):
    workspace = build_workspace(seed)
    assert (workspace.mode, workspace.base, workspace.patch_count) == (HUNK_ONLY, None, 3)
    file_c = workspace.version("fs/fuse/file.c", 1)
    lines = file_c.text.splitlines()
    assert lines[2580 - 1] == "\t\tif (READ_ONCE(ff->iomode) != IOM_CACHED) {"
    dio_lock = "static void fuse_dio_lock(struct kiocb *iocb, struct iov_iter *from,"
    assert file_c.known == [
        KnownRange(1362, 1368, dio_lock),
        KnownRange(1377, 1383, dio_lock),
        KnownRange(1388, 1400, dio_lock),
        KnownRange(2574, 2587, "static int fuse_file_mmap(struct file *file, "
                               "struct vm_area_struct *vma)"),
    ]
    assert len(lines) == 2587
    # a line outside every hunk is unknown: an empty placeholder, in no range
    assert lines[1370 - 1] == ""
    assert not any(r.start <= 1370 <= r.end for r in file_c.known)
    # the base has the pre-image there
    base = workspace.version("fs/fuse/file.c", 0).text.splitlines()
    assert base[2578 - 1] == "\t\trc = fuse_file_cached_io_start(inode, ff);"
    assert workspace.version("fs/fuse/file.c", 0).known[-1] == KnownRange(
        2574, 2583, "static int fuse_file_mmap(struct file *file, struct vm_area_struct *vma)")


def test_hunk_only_carries_lines_to_other_versions(seed):
    workspace = build_workspace(seed)
    # patch 3 does not touch fuse_file_mmap: what patch 1 showed is still known after it
    after_3 = workspace.version("fs/fuse/file.c", 3)
    assert after_3.text.splitlines()[2580 - 1] == "\t\tif (READ_ONCE(ff->iomode) != IOM_CACHED) {"
    assert KnownRange(2574, 2587, "static int fuse_file_mmap(struct file *file, "
                                  "struct vm_area_struct *vma)") in after_3.known
    # patch 3 shows line 80 of iomode.c as it is after patch 2; patch 1 removed a line above
    # it, so at the base it is line 81
    assert workspace.version("fs/fuse/iomode.c", 2).text.splitlines()[80 - 1] == \
        "\tspin_unlock(&fi->lock);"
    assert workspace.version("fs/fuse/iomode.c", 0).text.splitlines()[81 - 1] == \
        "\tspin_unlock(&fi->lock);"
    assert workspace.version("fs/fuse/fuse_i.h", 0).known == [
        KnownRange(209, 214, "enum {"),
        KnownRange(1394, 1402, "int fuse_fileattr_set(struct mnt_idmap *idmap,"),
    ]


def test_hunk_only_context_follows_a_renamed_function(seed):
    workspace = build_workspace(seed)
    # git names the pre-image's function in the @@ line; after patch 1 it has a new name
    assert KnownRange(99, 112, "int fuse_file_uncached_io_start(struct inode *inode, "
                               "struct fuse_file *ff, struc") \
        in workspace.version("fs/fuse/iomode.c", 0).known
    assert KnownRange(97, 108, "int fuse_inode_uncached_io_start(struct fuse_inode *fi, "
                               "struct fuse_backing *fb)") \
        in workspace.version("fs/fuse/iomode.c", 1).known
    # the hunk before this one replaces fuse_file_uncached_io_end's head with a new function
    # and then the renamed fuse_inode_uncached_io_end's: the rest of the body is the latter's
    assert KnownRange(134, 139, "void fuse_file_uncached_io_end(struct inode *inode, struct fuse_file *ff)") \
        in workspace.version("fs/fuse/iomode.c", 0).known
    assert KnownRange(144, 158, "void fuse_inode_uncached_io_end(struct fuse_inode *fi)") \
        in workspace.version("fs/fuse/iomode.c", 1).known


def test_hunk_only_lines_agree_with_the_tree(repo, series):
    """Every line hunk-only mode claims to know is the line git has there."""
    hunks = build_workspace(series)
    tree = build_workspace(series, tree=str(repo.path))
    known_lines = 0
    for k in range(4):
        assert hunks.paths(k) == tree.paths(k)
        for path in hunks.paths(k):
            version = hunks.version(path, k)
            real = tree.version(path, k).text.splitlines()
            ranges = version.known if version.known is not None else [KnownRange(1, len(real))]
            lines = version.text.splitlines()
            for r in ranges:
                assert lines[r.start - 1:r.end] == real[r.start - 1:r.end], (k, path, r)
                known_lines += r.end - r.start + 1
    assert known_lines == 463


def test_fixture_repo_from_one_patch_file(tmp_path):
    one = sorted(SERIES.glob("0002-*.patch"))[0]
    fixture = make_minifs_repo(tmp_path / "one", one)
    assert git(fixture.path, "log", "--format=%s", "base..topic") == \
        "minifs: show inode io modes in debugfs"
    assert (fixture.path / "debugfs.c").exists()
