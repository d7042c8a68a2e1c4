"""Golden test on the minifs fixture: every planted patch gives exactly its finding, every
clean patch gives nothing new, and the base itself is clean. Each patch is applied alone to
the base in a git repository (tree mode), then read again without the tree (hunk-only)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixture_repo import MINIFS, make_minifs_repo

from reviewbot.findings import NEW
from reviewbot.knowledge import load_config
from reviewbot.review import review_series
from reviewbot.sources import load_series
from reviewbot.workspace import build_workspace

PLANTED = MINIFS / "planted"
CLEAN = MINIFS / "clean"

# patch -> the one new finding it must give: (rule, file, function, patch number)
EXPECTED = {
    "check-then-act-mmap": ("check-then-act", "file.c", "minifs_file_mmap", 1),
    "check-then-act-cached-end": ("check-then-act", "iomode.c", "minifs_file_cached_io_end", 1),
    "unlocked-write-uncached-end": ("unlocked-write", "iomode.c", "minifs_inode_uncached_io_end", 1),
    "unlocked-write-cached-start": ("unlocked-write", "iomode.c", "minifs_file_cached_io_start", 1),
    "unlocked-read-drop-inode": ("unlocked-read", "inode.c", "minifs_drop_inode", 1),
    "unlocked-read-exclusive-lock": ("unlocked-read", "file.c", "minifs_dio_wr_exclusive_lock", 1),
    "lock-imbalance-uncached-start": ("lock-imbalance", "iomode.c", "minifs_inode_uncached_io_start", 1),
    "lock-imbalance-count-writers": ("lock-imbalance", "file.c", "minifs_count_dio_writers", 1),
    "lock-imbalance-new-helper": ("lock-imbalance", "file.c", "minifs_wake_writer_waiters", 1),
    "refcount-leak-uncached-open": ("refcount-leak", "iomode.c", "minifs_file_uncached_io_open", 1),
    "refcount-leak-open": ("refcount-leak", "file.c", "minifs_open", 1),
    "state-imbalance-backing-bit": ("state-imbalance", "iomode.c", "minifs_inode_uncached_io_start", 1),
    "state-imbalance-uncached-release": ("state-imbalance", "iomode.c", "minifs_file_uncached_io_release", 1),
    "state-imbalance-cached-end": ("state-imbalance", "iomode.c", "minifs_file_cached_io_end", 1),
}

# Hunk-only mode knows each function only as far as the hunks show it. Without a profile it
# learns which lock guards a field only from the sites in view, which are too few here: the
# flag bit that nothing clears and the imbalance in a function the patch adds whole are still
# found. With the guards named in the config (as a `.reviewbot.toml` or a profile would), a
# test that READ_ONCE marks lockless, and accesses whose lock state the hunk shows from the
# function's opening brace, are found too. Nothing else is reported in either case.
FOUND_HUNK_ONLY = {"state-imbalance-backing-bit", "lock-imbalance-new-helper"}
MINIFS_GUARDS = {"minifs_inode.iocachectr": "minifs_inode.lock", "minifs_file.iomode": "minifs_inode.lock",
                 "minifs_inode.state": "minifs_inode.lock"}
FOUND_HUNK_ONLY_WITH_GUARDS = FOUND_HUNK_ONLY | {"check-then-act-mmap", "unlocked-read-drop-inode",
                                                 "unlocked-write-uncached-end"}

CLEAN_PATCHES = ["rename-function", "comment-edits", "locked-helper", "assert-held-helper",
                 "helper-under-callers-lock", "read-once-stats", "balanced-error-path",
                 "reorder-locked-stores"]


@pytest.fixture
def repo(tmp_path):
    empty = tmp_path / "no-patches"
    empty.mkdir()
    return make_minifs_repo(tmp_path / "minifs", patches_dir=empty)


def review(patch: Path, repo, hunks_only: bool = False, guards: dict | None = None):
    series = load_series([str(patch)], tree=str(repo.path))
    workspace = build_workspace(series, tree=None if hunks_only else str(repo.path),
                                base=None if hunks_only else repo.base, hunks_only=hunks_only)
    config = load_config(None)
    config.guards.update(guards or {})
    return review_series(series, workspace, config)


def new_findings(result) -> set[tuple]:
    return {(f.rule, f.file, f.function, f.patch) for f in result.findings if f.status == NEW}


def test_fixture_has_the_patches_the_table_names():
    assert {p.stem for p in PLANTED.glob("*.patch")} == set(EXPECTED)
    assert {p.stem for p in CLEAN.glob("*.patch")} == set(CLEAN_PATCHES)
    assert {rule for rule, *_ in EXPECTED.values()} == {
        "check-then-act", "unlocked-write", "unlocked-read", "lock-imbalance", "refcount-leak",
        "state-imbalance"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_planted_patch_gives_exactly_its_finding(name, repo):
    result = review(PLANTED / f"{name}.patch", repo)
    assert new_findings(result) == {EXPECTED[name]}
    # the base is clean, so nothing is pre-existing or fixed either
    assert [f.status for f in result.findings] == [NEW]
    assert result.findings[0].evidence


@pytest.mark.parametrize("name", CLEAN_PATCHES)
def test_clean_patch_gives_nothing(name, repo):
    result = review(CLEAN / f"{name}.patch", repo)
    assert result.findings == []


def test_base_gives_no_findings(repo):
    # tree mode analyses every C file of the directories a patch touches: a patch that
    # changes only comments shows what the base itself gives
    result = review(CLEAN / "comment-edits.patch", repo)
    assert result.findings == []
    assert result.suppressed == 0


@pytest.mark.parametrize("guards", [None, MINIFS_GUARDS], ids=["inferred", "configured"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_planted_patch_hunk_only(name, guards, repo):
    result = review(PLANTED / f"{name}.patch", repo, hunks_only=True, guards=guards)
    found = FOUND_HUNK_ONLY_WITH_GUARDS if guards else FOUND_HUNK_ONLY
    assert new_findings(result) == ({EXPECTED[name]} if name in found else set())
    assert result.notes and result.notes[0].startswith("hunk-only mode:")


@pytest.mark.parametrize("guards", [None, MINIFS_GUARDS], ids=["inferred", "configured"])
@pytest.mark.parametrize("name", CLEAN_PATCHES)
def test_clean_patch_hunk_only_gives_nothing(name, guards, repo):
    result = review(CLEAN / f"{name}.patch", repo, hunks_only=True, guards=guards)
    assert result.findings == []


@pytest.mark.parametrize("hunks_only", [False, True], ids=["tree", "hunk-only"])
def test_the_clean_topic_series_gives_nothing(hunks_only, repo):
    result = review(MINIFS / "series", repo, hunks_only=hunks_only)
    assert len(result.series.patches) == 3
    assert result.findings == []
