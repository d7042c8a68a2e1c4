"""Golden test on the seed thread (FUSE passthrough fixes), hunk-only, with the built-in fuse
profile: the findings a reviewer on the list made, and nothing else."""

from __future__ import annotations

import pytest
from conftest import SEED_MBOX

from reviewbot.findings import NEW
from reviewbot.knowledge.config import Config
from reviewbot.review import review_series
from reviewbot.sources import load_series
from reviewbot.workspace import HUNK_ONLY, build_workspace

CHECK_THEN_ACT = ("check-then-act", "fs/fuse/file.c", "fuse_file_mmap", 1, "high")
BACKING_BIT = ("state-imbalance", "fs/fuse/iomode.c", "fuse_inode_uncached_io_start", 3, "medium")


def review_seed(profiles: list[str]):
    series = load_series([str(SEED_MBOX)])
    workspace = build_workspace(series, hunks_only=True)
    return review_series(series, workspace, Config(profiles=profiles))


@pytest.fixture(scope="module")
def review():
    return review_seed(["fuse"])


def by_rule(review, rule):
    return next(f for f in review.findings if f.rule == rule)


def test_exact_findings(review):
    assert {(f.rule, f.file, f.function, f.patch, f.severity) for f in review.findings} == {
        CHECK_THEN_ACT, BACKING_BIT}
    assert [f.status for f in review.findings] == [NEW, NEW]
    assert review.mode == HUNK_ONLY
    assert review.suppressed == 0


def test_mmap_check_then_act(review):
    finding = by_rule(review, "check-then-act")
    assert finding.line == 2580  # `if (READ_ONCE(ff->iomode) != IOM_CACHED) {` after patch 1
    assert finding.subject == "fuse_file.iomode"
    evidence = "\n".join(finding.evidence)
    assert "fuse_file_cached_io_open() (called at line 2581) changes `fuse_file.iomode`" in evidence
    assert "`fuse_file.iomode` is guarded by `fuse_inode.lock` (profile fuse)" in evidence
    # the read sits where the hunk does not show the lock state: the finding says what it rests on
    assert any(line.startswith("hunk-only:") and "READ_ONCE" in line and "profile fuse" in line
               for line in finding.evidence)
    # `ff` is not declared in the hunk: its type is a guess, and the evidence says so
    assert finding.evidence[-1].startswith("the type of `ff->iomode` is a guess")


def test_backing_bit_cleared_nowhere(review):
    finding = by_rule(review, "state-imbalance")
    assert finding.subject == "fuse_inode.state:FUSE_I_BACKING"
    assert finding.line == 113  # set_bit(FUSE_I_BACKING, &fi->state) after patch 3
    assert "before the series nothing set `fuse_inode.state:FUSE_I_BACKING`" in finding.evidence
    assert any(line.startswith("no clear_bit()") for line in finding.evidence)


def test_open_release_and_dio_wrappers_are_not_findings(review):
    quiet = {"fuse_file_uncached_io_open", "fuse_file_uncached_io_release", "fuse_dio_lock",
             "fuse_dio_unlock"}
    assert not [f for f in review.findings if f.function in quiet]


def test_hunk_only_caveat(review):
    assert len(review.notes) == 1
    assert review.notes[0].startswith("hunk-only mode:")


def test_without_the_profile_the_unlocked_check_has_no_evidence():
    # the guard of ff->iomode comes from the profile: the hunks never show fi->lock around a
    # change of it, so without the profile the check-then-act finding is not made
    findings = review_seed([]).findings
    assert {(f.rule, f.file, f.function, f.patch, f.severity) for f in findings} == {BACKING_BIT}


def test_mutation_table_of_mmap(review):
    table = next(t for t in review.tables if t.function == "fuse_file_mmap")
    assert table.patch == 1
    assert [(row.key, row.op, row.line, row.marks, row.change) for row in table.rows] == [
        ("fuse_file.iomode", "read", 2580, ("READ_ONCE",), "added")]


def test_iomode_transitions(review):
    changed = {(t.from_value, t.to_value, t.function, t.change) for t in review.transitions
               if t.key == "fuse_file.iomode" and t.change != "same"}
    assert ("IOM_NONE", "IOM_UNCACHED", "fuse_file_uncached_io_open", "added") in changed
    assert ("IOM_UNCACHED", "IOM_NONE", "fuse_file_uncached_io_release", "added") in changed
