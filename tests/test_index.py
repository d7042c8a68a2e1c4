"""`reviewbot index` and the on-disk facts cache: a tree is indexed once, an unchanged file is
never analysed again, a corrupt cache entry is ignored and rewritten."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import FIXTURES
from reviewbot.c import cache
from reviewbot.c.model import ASSERT, FileFacts
from reviewbot.c.parse import digest_of, parse_c
from reviewbot.cli import main
from reviewbot.commands import index
from reviewbot.knowledge import Config, KnowledgeBuilder, load_config
from reviewbot.knowledge.guards import INFERRED

MINIFS = FIXTURES / "minifs" / "base"
SOURCES = ("file.c", "inode.c", "iomode.c", "minifs.h")


def rows_of(out: str) -> dict[str, str]:
    rows = {}
    for line in out.splitlines():
        label, _, value = line.rpartition(" ")
        rows[label.strip()] = value
    return rows


def run_index(capsys, *args) -> dict[str, str]:
    assert main(["index", *args]) == 0
    return rows_of(capsys.readouterr().out)


def definitions(path) -> int:
    parsed = parse_c(path.read_bytes())
    count, stack = 0, [parsed.tree.root_node]
    while stack:
        node = stack.pop()
        count += node.type == "function_definition"
        stack.extend(node.children)
    return count


@pytest.fixture
def tree(tmp_path):
    """A copy of the minifs fixture, free to change."""
    return shutil.copytree(MINIFS, tmp_path / "minifs")


def test_cache_roundtrip_lives_in_the_user_cache_dir():
    value = FileFacts(path="a.c", has_errors=True)
    assert cache.get("ab" * 20, "test") is None
    cache.put("ab" * 20, "test", value)
    assert cache.get("ab" * 20, "test") == value
    assert cache.get("ab" * 20, "other") is None
    path = cache.entry_path("ab" * 20, "test")
    assert str(path).startswith(os.path.join(os.environ["XDG_CACHE_HOME"], "reviewbot"))
    assert os.listdir(path.parent) == [path.name]  # no temporary file left behind


@pytest.mark.parametrize("module", ["c/paths.py", "knowledge/guards.py", "checks/state_imbalance.py",
                                    "review.py", "sources/mail.py", "profiles/fuse.toml",
                                    "limits.py"])
def test_the_cache_version_changes_with_any_module_of_the_package(tmp_path, module):
    """Cached facts and stored reviews are redone after any change to the code, with no list
    of the modules that matter to keep up to date."""
    package = tmp_path / "reviewbot"
    shutil.copytree(Path(cache.__file__).resolve().parent.parent, package,
                    ignore=shutil.ignore_patterns("__pycache__"))
    before = cache.source_digest(package)
    with open(package / module, "a") as f:
        f.write("# changed\n")
    assert cache.source_digest(package) != before
    assert cache.code_version() == cache.source_digest(Path(cache.__file__).resolve().parent.parent)


def test_a_new_module_changes_the_cache_version(tmp_path):
    package = tmp_path / "reviewbot"
    shutil.copytree(Path(cache.__file__).resolve().parent.parent, package,
                    ignore=shutil.ignore_patterns("__pycache__"))
    before = cache.source_digest(package)
    (package / "c" / "newpass.py").write_text("WEIGHT = 1\n")
    assert cache.source_digest(package) != before


def test_corrupt_cache_entry_is_a_miss_and_is_rewritten():
    cache.put("cd" * 20, "test", {"functions": 3})
    path = cache.entry_path("cd" * 20, "test")
    path.write_bytes(b"\x80\x05not a pickle")
    assert cache.get("cd" * 20, "test") is None
    cache.put("cd" * 20, "test", {"functions": 4})
    assert cache.get("cd" * 20, "test") == {"functions": 4}


def test_index_the_fixture_subsystem(capsys, tree):
    rows = run_index(capsys, str(tree), "--jobs", "2")
    assert rows["files"] == "4"
    assert rows["from cache"] == "0" and rows["failed"] == "0"
    assert int(rows["functions"]) == sum(definitions(tree / name) for name in SOURCES)
    assert int(rows["tracked fields"]) > 0
    assert float(rows["seconds"]) >= 0


def test_warm_index_reads_every_file_from_the_cache(capsys, tree, monkeypatch):
    cold = run_index(capsys, str(tree), "--jobs", "2")

    def no_analysis(*args, **kwargs):
        raise AssertionError("an unchanged file was analysed again")

    monkeypatch.setattr(index, "analyze", no_analysis)
    warm = run_index(capsys, str(tree), "--jobs", "1")
    assert warm["from cache"] == "4"
    assert {k: v for k, v in warm.items() if k not in ("from cache", "seconds")} == \
        {k: v for k, v in cold.items() if k not in ("from cache", "seconds")}


def test_show_prints_what_the_index_learnt_cold_and_warm(capsys, tree):
    assert main(["index", str(tree), "--jobs", "2", "--show"]) == 0
    cold = capsys.readouterr().out
    table = cold[cold.index("\nfield "):].strip().splitlines()
    assert table[0].split() == ["field", "kind", "guard", "evidence"]
    rows = {line.split()[0]: line.split(None, 3)[1:] for line in table[1:]}
    assert rows["minifs_file.iomode"] == ["state", "minifs_inode.lock", "inferred: held at 5 of 5 sites"]
    assert rows["minifs_conn.dio_writes"] == ["counter", "-"]  # moved, and no lock guards it
    assert main(["index", str(tree), "--jobs", "1", "--show"]) == 0
    warm = capsys.readouterr().out
    assert warm[warm.index("\nfield "):] == cold[cold.index("\nfield "):]  # the last result, kept whole
    assert main(["index", str(tree), "--jobs", "1"]) == 0
    assert "evidence" not in capsys.readouterr().out  # without --show, the counts only


def test_files_are_analysed_with_the_profiles_their_paths_enable(tmp_path):
    """fs/fuse/ enables the fuse profile, whose type hints name what `fi` is where no
    declaration says: a review analyses the files so, and so does the index."""
    source = tmp_path / "fs" / "fuse" / "hinted.c"
    source.parent.mkdir(parents=True)
    source.write_text("void bump(void)\n{\n\tspin_lock(&fi->lock);\n\tfi->iocachectr++;\n"
                      "\tspin_unlock(&fi->lock);\n}\n")
    paths = [str(source)]
    knowledge = index.index_files(paths, {str(source): digest_of(source.read_bytes())},
                                  load_config(str(tmp_path)), 1).knowledge
    guard = knowledge.guards["fuse_inode.iocachectr"]
    assert (guard.lock, guard.held_sites, guard.total_sites) == ("fuse_inode.lock", 1, 1)


def test_only_a_changed_file_is_analysed_again(capsys, tree, monkeypatch):
    run_index(capsys, str(tree), "--jobs", "1")
    inode = tree / "inode.c"
    inode.write_text(inode.read_text() + "\nint minifs_extra(void)\n{\n\treturn 0;\n}\n")
    analysed = []
    real = index.analyze

    def recording(files, config=None):
        analysed.extend(files)
        return real(files, config)

    monkeypatch.setattr(index, "analyze", recording)
    rows = run_index(capsys, str(tree), "--jobs", "1")
    assert analysed == [str(inode)]
    assert rows["from cache"] == "3"
    assert int(rows["functions"]) == sum(definitions(tree / name) for name in SOURCES)


def test_same_content_at_another_path_keeps_its_own_path(tmp_path):
    text = "struct s { int n; };\nvoid s_inc(struct s *s)\n{\n\ts->n++;\n}\n"
    paths = [str(tmp_path / "a.c"), str(tmp_path / "b.c")]
    for path in paths:
        Path(path).write_text(text)
    builder = KnowledgeBuilder(Config(), paths)
    for path in paths:
        index.index_file(path, builder)  # the first puts its part in the cache
        part = index.index_file(path, builder)  # read from the cache
        assert [site[0] for site in part.guards.sites["s.n"]] == [path]
        assert part.pairs.defined == {"s_inc"} and part.functions == 1


def test_the_index_knowledge_is_what_the_files_facts_teach(tree):
    """Parts made by two workers, cached, and merged teach what the facts of the same files
    teach one at a time."""
    from reviewbot.c import index_facts
    from reviewbot.workspace import FileVersion

    paths = index.find_sources([str(tree)])
    digests = {path: digest_of(Path(path).read_bytes()) for path in paths}
    config = load_config(str(tree))
    expected = KnowledgeBuilder(config, paths)
    for path in sorted(paths, key=os.path.getsize, reverse=True):  # the order the index takes them
        expected.add(index_facts({path: FileVersion(path, Path(path).read_text())}, expected.config)[path])
    expected = expected.build()
    for jobs in (2, 1):  # cold, then from the cache
        found = index.index_files(paths, digests, config, jobs).knowledge
        assert found.tracked == expected.tracked and found.pairs == expected.pairs
        assert found.guards.keys() == expected.guards.keys()
        assert {key: (g.lock, g.held_sites, g.total_sites, g.sites, g.source) for key, g in found.guards.items()} == \
            {key: (g.lock, g.held_sites, g.total_sites, g.sites, g.source) for key, g in expected.guards.items()}
    assert any(guard.source == INFERRED for guard in expected.guards.values())


def test_find_sources_in_order_without_hidden_directories(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / ".git").mkdir()
    for name in ("b.c", "a.h", "sub/c.c", ".git/x.c", "notes.txt"):
        (tmp_path / name).write_text("int x;\n")
    assert index.find_sources([str(tmp_path), str(tmp_path / "a.h")]) == [
        str(tmp_path / "a.h"), str(tmp_path / "b.c"), str(tmp_path / "sub" / "c.c")]


@pytest.mark.parametrize("name, problem", [("missing", "no such file or directory"),
                                           ("notes.txt", "not a .c or .h file"),
                                           ("empty", "no .c or .h files in this directory")])
def test_bad_paths_are_input_errors(capsys, tmp_path, name, problem):
    (tmp_path / "notes.txt").write_text("x\n")
    (tmp_path / "empty").mkdir()
    assert main(["index", str(tmp_path / name)]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"reviewbot: {tmp_path / name}: {problem}\n"
    assert captured.out == ""


def test_jobs_must_be_positive(capsys, tree):
    assert main(["index", str(tree), "--jobs", "0"]) == 2
    assert capsys.readouterr().err == "reviewbot: --jobs: must be at least 1, not 0\n"


def test_a_file_whose_analysis_fails_is_reported_and_the_rest_indexed(capsys, tree, monkeypatch):
    real = index.analyze

    def fail_on_inode(files, config=None):
        if any(path.endswith("inode.c") for path in files):
            raise ValueError("odd file")
        return real(files, config)

    monkeypatch.setattr(index, "analyze", fail_on_inode)
    assert main(["index", str(tree), "--jobs", "1"]) == 0
    captured = capsys.readouterr()
    assert captured.err == f"reviewbot: {tree / 'inode.c'}: not indexed: ValueError: odd file\n"
    rows = rows_of(captured.out)
    assert rows["files"] == "3" and rows["failed"] == "1"


def test_stats_prints_parse_coverage_per_directory(capsys, tmp_path):
    clean = "int minifs_one(void)\n{\n\treturn 1;\n}\n"
    broken = "int minifs_bad(void)\n{\n\treturn 1 +;\n}\n"
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "top.c").write_text(clean)
    (tmp_path / "sub" / "a.c").write_text(clean + broken)
    (tmp_path / "sub" / "deeper" / "b.h").write_text(clean.replace("one", "two"))
    assert main(["index", "--stats", "--jobs", "1", str(tmp_path)]) == 0
    rows = {}
    for line in capsys.readouterr().out.splitlines():
        label, _, functions, _, _, files, _ = line.split()
        rows[label] = (functions, files)
    assert rows == {str(tmp_path): ("1/1", "1/1"), str(tmp_path / "sub"): ("2/3", "1/2"),
                    "total": ("3/4", "2/3")}


LOCK_CHAINS = """\
struct obj { int lock; int count; int state; struct obj *next; };

static void obj_lock(struct obj *o)
{
	mutex_lock(&o->lock);
}

static void obj_lock_both(struct obj *a, struct obj *b)
{
	obj_lock(a);
	obj_lock(b);
}

static int obj_trylock(struct obj *o)
{
	return mutex_trylock(&o->lock);
}

static void obj_bump(struct obj *o)
{
	o->count++;
}

static void obj_balanced(struct obj *o)
{
	mutex_lock(&o->lock);
	o->state = 1;
	mutex_unlock(&o->lock);
}

int obj_update(struct obj *a, struct obj *b)
{
	obj_lock_both(a, b);
	obj_bump(a);
	a->next = b;
	if (!obj_trylock(b->next))
		return -EBUSY;
	b->next->count--;
	obj_balanced(b);
	b->state = 2;
	return 0;
}

int obj_plain(struct obj *o)
{
	obj_balanced(o);
	return o->count;
}
"""


# A lock wrapper that fails as a helper that only counts fails (its failure leaves the lock
# free), a trylock, a lock dropped and taken again on a correlated condition, and static
# helpers every caller of which holds the lock: one that moves a counter, one that moves nothing.
LOCK_OUTCOMES = """\
struct dev { int lock; int users; int state; int count; };

static int dev_get(struct dev *d)
{
	if (d->state)
		return -EBUSY;
	atomic_inc(&d->users);
	return 0;
}

static int dev_lock_get(struct dev *d)
{
	int err;

	mutex_lock(&d->lock);
	err = dev_get(d);
	if (err) {
		mutex_unlock(&d->lock);
		return err;
	}
	return 0;
}

static void dev_count(struct dev *d)
{
	d->count++;
}

static void dev_mark(struct dev *d)
{
	d->state = 1;
}

int dev_update(struct dev *d, int flags)
{
	if (dev_lock_get(d)) {
		d->count = 0;
		return -EAGAIN;
	}
	dev_count(d);
	if (flags & 1)
		mutex_unlock(&d->lock);
	d->state = 2;
	if (flags & 1)
		mutex_lock(&d->lock);
	d->state = 3;
	dev_mark(d);
	mutex_unlock(&d->lock);
	return 0;
}

int dev_poll(struct dev *d)
{
	if (!mutex_trylock(&d->lock))
		return -EBUSY;
	dev_count(d);
	dev_mark(d);
	mutex_unlock(&d->lock);
	return 0;
}
"""


@pytest.mark.parametrize("name", [*SOURCES, "chains.c", "outcomes.c"])
def test_index_facts_are_the_full_analysis_facts(tmp_path, name):
    """The index summarizes only the functions where a lock can be held: the lock sets of the
    accesses (and the rest it keeps) are those of the full analysis."""
    from reviewbot.c import analyze, index_facts
    from reviewbot.workspace import FileVersion

    text = {"chains.c": LOCK_CHAINS, "outcomes.c": LOCK_OUTCOMES}.get(name) or (MINIFS / name).read_text()
    files = {name: FileVersion(name, text)}
    full = kept(analyze(files, use_cache=False).files[name])
    lean = kept(index_facts(files)[name])
    assert lean == full
    if name == "chains.c":
        locks = {(fn[0], a.key): a.locks for fn in lean for a in fn[1]}
        assert locks[("obj_bump", "obj.count")] == {"obj.lock"}
        assert locks[("obj_update", "obj.count")] == {"obj.lock"}  # b->next->count--
        assert locks[("obj_plain", "obj.count")] == frozenset()
    if name == "outcomes.c":
        locks = {(fn[0], a.key, a.line): a.locks for fn in lean for a in fn[1]}
        held = frozenset({"dev.lock"})
        assert locks[("dev_update", "dev.count", 37)] == frozenset()  # dev_lock_get failed: not taken
        assert locks[("dev_update", "dev.state", 43)] == frozenset()
        assert locks[("dev_update", "dev.state", 46)] == held  # taken again when it was dropped
        assert locks[("dev_count", "dev.count", 26)] == held
        assert locks[("dev_mark", "dev.state", 31)] == held


def kept(facts) -> list:
    """What the knowledge reads of a file's facts: the accesses (with their lock sets; not their
    evidence texts, which an index leaves empty), the locks asserted held, the annotations and
    the names called, per function."""
    return [(fn.name, [replace(a, text="") for a in fn.accesses], [op for op in fn.lock_ops if op.op == ASSERT], fn.annotations,
             sorted({call.name for call in fn.calls})) for fn in facts.functions]


def test_for_reviews_a_review_in_a_prepared_directory_analyses_what_its_patch_changes(tmp_path, capsys,
                                                                                     monkeypatch):
    """After `index --for-reviews`, the first review of a series in the directory finds the base
    analysed: only the version after the patch is summarized, and it reports what a review
    without the preparation reports."""
    import reviewbot.c.summaries as summaries
    from fixture_repo import make_minifs_repo

    from reviewbot.review import review_series
    from reviewbot.sources import load_series
    from reviewbot.workspace import build_workspace

    repo = make_minifs_repo(tmp_path / "minifs", patches_dir=tmp_path / "none")
    patch = FIXTURES / "minifs" / "planted" / "lock-imbalance-count-writers.patch"

    def review() -> tuple[list, int]:
        summarized = []
        summarize = summaries.summarize
        with monkeypatch.context() as patched:
            patched.setattr(summaries, "summarize", lambda walked, *a: summarized.append(1) or summarize(walked, *a))
            series = load_series([str(patch)], tree=str(repo.path))
            workspace = build_workspace(series, tree=str(repo.path), base=repo.base)
            result = review_series(series, workspace, load_config(str(repo.path)))
        return [(f.rule, f.function) for f in result.findings], len(summarized)

    assert main(["index", str(repo.path), "--for-reviews", "--base", "base", "--jobs", "1"]) == 0
    assert f"for reviews      1 directory at {repo.base[:12]}\n" in capsys.readouterr().out
    findings, summaries_made = review()
    assert summaries_made == 1  # the version after the patch; the base was prepared
    assert findings == [("lock-imbalance", "minifs_count_dio_writers")]
    assert main(["cache", "--clear"]) == 0
    assert review() == (findings, 2)  # unprepared: the base is analysed too, to the same findings


def test_for_reviews_needs_one_git_tree_and_a_commit(tmp_path, capsys):
    from fixture_repo import make_minifs_repo

    repo = make_minifs_repo(tmp_path / "minifs", patches_dir=tmp_path / "none")
    plain = shutil.copytree(MINIFS, tmp_path / "plain")  # no git tree holds it
    for args, named in [([str(plain), "--for-reviews"], str(plain)),
                        ([str(repo.path), str(plain), "--for-reviews"], str(plain / "file.c")),
                        ([str(repo.path), "--for-reviews", "--base", "no-such-rev"], "no-such-rev"),
                        ([str(repo.path), "--base", "base"], "--base"),
                        ([str(repo.path), "--stats", "--for-reviews"], "--stats")]:
        assert main(["index", *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"reviewbot: {named}: ") and err.count("\n") == 1, err


def test_for_reviews_through_a_link_to_the_tree_into_a_cache_directory(tmp_path, capsys):
    """git names the tree's top with links resolved; a PATH through a link is in that tree."""
    from fixture_repo import make_minifs_repo

    repo = make_minifs_repo(tmp_path / "minifs", patches_dir=tmp_path / "none")
    link = tmp_path / "link"
    link.symlink_to(repo.path)
    shared = tmp_path / "shared"
    assert main(["index", str(link), "--for-reviews", "--jobs", "1", "--cache", str(shared)]) == 0
    assert f"for reviews      1 directory at {repo.topic[:12]}\n" in capsys.readouterr().out
    assert any((shared / "reviewbot").rglob("*"))
