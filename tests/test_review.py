"""review_series: statuses across a series (new / fixed / preexisting), identity that survives
moved lines, silencing, the mutation tables and the state transitions."""

from __future__ import annotations

import pytest
from fixture_repo import IDENTITY, MINIFS, git, make_minifs_repo

from reviewbot.c import analyze_text
from reviewbot.checks.base import CheckContext
from reviewbot.findings import FIXED, NEW, PREEXISTING
from reviewbot.knowledge import build_knowledge
from reviewbot.knowledge.config import Config
from reviewbot.review import ADDED, REMOVED, SAME, review_series, run_checks
from reviewbot.sources import load_series
from reviewbot.workspace import TREE, build_workspace

PLANTED = MINIFS / "planted"
CLEAN = MINIFS / "clean"


def review_range(repo, start: str, config: Config | None = None):
    series = load_series([f"{start}..HEAD"], tree=str(repo))
    workspace = build_workspace(series, tree=str(repo))
    return review_series(series, workspace, config or Config(profiles=[]))


@pytest.fixture
def buggy(tmp_path):
    """A repository whose `topic` already has two planted bugs: the base of the series."""
    patches = tmp_path / "patches"
    patches.mkdir()
    for name in ("lock-imbalance-count-writers", "refcount-leak-uncached-open"):
        (patches / f"{name}.patch").write_bytes((PLANTED / f"{name}.patch").read_bytes())
    repo = make_minifs_repo(tmp_path / "minifs", patches_dir=patches).path
    git(repo, "tag", "buggy")
    return repo


def test_new_fixed_and_preexisting(buggy):
    git(buggy, "am", "-q", str(PLANTED / "unlocked-read-drop-inode.patch"), env=IDENTITY)
    git(buggy, "revert", "--no-edit", "HEAD~2", env=IDENTITY)  # fixes the dio writer count
    git(buggy, "am", "-q", str(CLEAN / "comment-edits.patch"), env=IDENTITY)  # moves lines
    result = review_range(buggy, "buggy")
    assert [(f.status, f.patch, f.rule, f.file, f.function) for f in result.findings] == [
        (PREEXISTING, None, "refcount-leak", "iomode.c", "minifs_file_uncached_io_open"),
        (NEW, 1, "unlocked-read", "inode.c", "minifs_drop_inode"),
        (FIXED, 2, "lock-imbalance", "file.c", "minifs_count_dio_writers"),
    ]
    preexisting = result.findings[0]
    # the comment edit moved it down a line: same identity, reported where it is at the end
    assert preexisting.line == 143
    assert result.notes == []


def test_a_finding_the_series_adds_and_removes_again(tmp_path):
    repo = make_minifs_repo(tmp_path / "minifs", patches_dir=tmp_path).path
    git(repo, "am", "-q", str(PLANTED / "lock-imbalance-uncached-start.patch"), env=IDENTITY)
    git(repo, "revert", "--no-edit", "HEAD", env=IDENTITY)
    result = review_range(repo, "base")
    assert [(f.status, f.patch, f.rule) for f in result.findings] == [(NEW, 1, "lock-imbalance")]
    assert result.findings[0].evidence[-1] == "patch 2 removes it again"


def test_inline_comment_and_config_entry_silence_and_are_counted(tmp_path):
    repo = make_minifs_repo(tmp_path / "minifs", patches_dir=tmp_path).path
    git(repo, "am", "-q", str(PLANTED / "unlocked-read-drop-inode.patch"), env=IDENTITY)
    assert len(review_range(repo, "base").findings) == 1
    silenced = Config(profiles=[], suppress=[{"rule": "unlocked-read", "function": "minifs_drop_*"}])
    result = review_range(repo, "base", silenced)
    assert (result.findings, result.suppressed) == ([], 1)

    inode_c = repo / "inode.c"
    text = inode_c.read_text()
    inode_c.write_text(text.replace(
        "\tif (fi->iocachectr == 0 && list_empty(&fi->write_files))\n",
        "\t/* a stale answer only delays the drop: reviewbot: ignore[unlocked-read] */\n"
        "\tif (fi->iocachectr == 0 && list_empty(&fi->write_files))\n"))
    git(repo, "commit", "-q", "-a", "--amend", "--no-edit", env=IDENTITY)
    result = review_range(repo, "base")
    assert (result.findings, result.suppressed) == ([], 1)


def test_tables_and_transitions_of_the_topic_series(tmp_path):
    repo = make_minifs_repo(tmp_path / "minifs")
    result = review_range(repo.path, "base")
    assert result.findings == []
    tables = {(t.patch, t.file, t.function): t for t in result.tables}
    # patch 1 renames minifs_file_cached_io_end: one table, the rows unchanged
    renamed = tables[(1, "iomode.c", "minifs_file_cached_io_release")]
    assert {row.change for row in renamed.rows} == {SAME}
    assert ("minifs_file.iomode", "assign", "IOM_NONE", ("minifs_inode.lock",)) in {
        (row.key, row.op, row.value, row.locks) for row in renamed.rows}
    # patch 3 sets MINIFS_I_BACKING in uncached_io_start and clears it in uncached_io_end
    start = tables[(3, "iomode.c", "minifs_inode_uncached_io_start")]
    assert [(row.op, row.change) for row in start.rows if row.key.endswith("MINIFS_I_BACKING")] == [
        ("set_bit", ADDED)]
    end = tables[(3, "iomode.c", "minifs_inode_uncached_io_end")]
    assert [(row.op, row.change) for row in end.rows if row.key.endswith("MINIFS_I_BACKING")] == [
        ("clear_bit", ADDED)]
    transitions = {(t.from_value, t.to_value, t.function, t.change) for t in result.transitions}
    assert ("IOM_NONE", "IOM_CACHED", "minifs_file_cached_io_open", ADDED) in transitions
    assert ("IOM_NONE", "IOM_CACHED", "minifs_file_cached_io_start", REMOVED) in transitions
    assert ("IOM_NONE", "IOM_UNCACHED", "minifs_file_uncached_io_open", SAME) in transitions
    assert ("IOM_UNCACHED", "IOM_NONE", "minifs_file_uncached_io_release", SAME) in transitions


def test_a_file_that_does_not_parse_is_named_in_the_notes(tmp_path):
    repo = make_minifs_repo(tmp_path / "minifs", patches_dir=tmp_path).path
    inode_c = repo / "inode.c"
    inode_c.write_text(inode_c.read_text() + "\nstatic int minifs_broken(void)\n{\n\tif (\n}\n")
    git(repo, "commit", "-q", "-a", "-m", "minifs: half a function", env=IDENTITY)
    result = review_range(repo, "base")
    assert result.notes == ["parts of these files did not parse, so findings there may be missing: "
                            "inode.c"]


def test_ordinals_tell_apart_findings_and_fingerprints_ignore_lines():
    code = """
struct foo_inode { spinlock_t lock; int users; };

void foo_get(struct foo_inode *fi)
{
	spin_lock(&fi->lock);
	fi->users++;
	spin_unlock(&fi->lock);
}

void foo_put(struct foo_inode *fi)
{
	spin_lock(&fi->lock);
	fi->users--;
	spin_unlock(&fi->lock);
}

void foo_reset(struct foo_inode *fi)
{
	spin_lock(&fi->lock);
	fi->users = 0;
	spin_unlock(&fi->lock);
}

void foo_twice(struct foo_inode *fi)
{
	fi->users++;
	fi->users++;
}
"""

    def findings(text):
        program = analyze_text("foo.c", text)
        config = Config(profiles=[], guards={"foo_inode.users": "foo_inode.lock"})
        return run_checks(CheckContext(program, build_knowledge(program, config), TREE))

    found = findings(code)
    assert [(f.rule, f.function, f.ordinal) for f in found] == [
        ("unlocked-write", "foo_twice", 0), ("unlocked-write", "foo_twice", 1)]
    moved = findings("/* a comment that moves every line */\n\n" + code)
    assert [f.line for f in moved] == [f.line + 2 for f in found]
    assert [f.fingerprint for f in moved] == [f.fingerprint for f in found]


def touch_function(repo, path: str, head: str) -> None:
    """Commit a comment added to the first line of the body of the function starting `head`."""
    file = repo / path
    lines = file.read_text().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.startswith(head)) + 2
    lines[first] = lines[first].rstrip("\n") + " /* touched */\n"
    file.write_text("".join(lines))
    git(repo, "commit", "-qam", f"touch {head}", env=IDENTITY)


@pytest.mark.parametrize("path, head, judged", [
    # the two pre-existing bugs are in functions the change does not reach
    ("file.c", "void minifs_conn_show_stats(", []),
    # the bug is in the function the series touches
    ("file.c", "static unsigned int minifs_count_dio_writers(", ["minifs_count_dio_writers"]),
    # ... in a function the touched one calls
    ("file.c", "static int minifs_file_mmap(", ["minifs_count_dio_writers"]),
    ("iomode.c", "static int minifs_file_passthrough_open(", ["minifs_file_uncached_io_open"]),
])
def test_a_tree_review_judges_the_touched_functions_and_their_neighbours(buggy, path, head, judged):
    touch_function(buggy, path, head)
    result = review_range(buggy, "buggy")
    assert [(f.status, f.function) for f in result.findings] == [(PREEXISTING, name) for name in judged]


def test_a_review_again_reads_its_result_and_a_new_config_is_a_new_review(buggy):
    touch_function(buggy, "file.c", "static unsigned int minifs_count_dio_writers(")
    first = review_range(buggy, "buggy")
    again = review_range(buggy, "buggy")
    assert again.findings == first.findings and again.tables == first.tables
    assert [f.function for f in first.findings] == ["minifs_count_dio_writers"]
    silenced = review_range(buggy, "buggy", Config(profiles=[], suppress=[{"rule": "lock-imbalance"}]))
    assert silenced.findings == [] and silenced.suppressed == 1


def test_series_on_one_base_in_one_directory_start_from_one_program(buggy, monkeypatch):
    """The next series to another file of the directory finds its base analysed already: the
    files are taken in one order whatever a series touches, so the base is one program."""
    import reviewbot.c.summaries as summaries
    import reviewbot.review as review_module

    programs, summarized = [], []
    analyze, summarize = review_module.analyze, summaries.summarize

    def analyze_spy(files, *args, **kwargs):
        programs.append((list(files), analyze(files, *args, **kwargs)))
        return programs[-1][1]

    def summarize_spy(walked, *args, **kwargs):
        summarized.append(walked)
        return summarize(walked, *args, **kwargs)

    monkeypatch.setattr(review_module, "analyze", analyze_spy)
    monkeypatch.setattr(summaries, "summarize", summarize_spy)
    git(buggy, "checkout", "-q", "-b", "first", "buggy")
    touch_function(buggy, "iomode.c", "static int minifs_file_passthrough_open(")
    review_range(buggy, "buggy")
    (first_files, first_base), _ = programs
    git(buggy, "checkout", "-q", "-b", "second", "buggy")
    touch_function(buggy, "file.c", "static unsigned int minifs_count_dio_writers(")
    del programs[:], summarized[:]
    result = review_range(buggy, "buggy")
    (second_files, second_base), _ = programs
    assert second_files == first_files and second_base.key == first_base.key
    assert len(summarized) == 1  # the version after the patch; the base came from the cache
    assert [f.function for f in result.findings] == ["minifs_count_dio_writers"]
