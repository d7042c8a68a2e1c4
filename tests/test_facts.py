"""Facts per function: field keys, ops, values, lines, lock sets and marks on small snippets of
every construct the walker knows, and the `reviewbot facts` table."""

from __future__ import annotations

import pytest

from cfacts import HEADER, accesses, analyze_snippet, function
from reviewbot.c import analyze_text
from reviewbot.cli import main

LOCK = ["fuse_inode.lock"]

# The seed's shape (fuse_file_mmap calling fuse_file_cached_io_open), written for these tests.
MMAP = """\
int fuse_file_cached_io_open(struct inode *inode, struct fuse_file *ff)
{
	struct fuse_inode *fi = get_fuse_inode(inode);

	spin_lock(&fi->lock);
	if (fi->iocachectr < 0) {
		spin_unlock(&fi->lock);
		return -ETXTBSY;
	}
	if (!WARN_ON(ff->iomode != IOM_NONE)) {
		ff->iomode = IOM_CACHED;
		if (fi->iocachectr == 0)
			set_bit(FUSE_I_CACHE_IO_MODE, &fi->state);
		fi->iocachectr++;
	}
	spin_unlock(&fi->lock);
	return 0;
}

static int fuse_file_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct fuse_file *ff = file->private_data;
	struct inode *inode = file_inode(file);
	int rc;

	if (ff->open_flags & FOPEN_DIRECT_IO) {
		if (READ_ONCE(ff->iomode) != IOM_CACHED) {
			rc = fuse_file_cached_io_open(inode, ff);
			if (rc)
				return rc;
		}
	}
	return generic_file_mmap(file, vma);
}
"""


def test_mmap_reads_iomode_unlocked_and_the_callee_writes_it_locked():
    program = analyze_snippet(MMAP)
    mmap = program.functions["fuse_file_mmap"]
    assert accesses(mmap) == [
        ("file.private_data", "read", None, 22, []),
        ("fuse_file.open_flags", "read", "& FOPEN_DIRECT_IO", 26, []),
        ("fuse_file.iomode", "read", None, 27, []),
    ]
    read = mmap.accesses[2]
    assert read.marks == {"READ_ONCE"}
    assert mmap.conditions[read.in_condition].text == "READ_ONCE(ff->iomode) != IOM_CACHED"
    call = next(c for c in mmap.calls if c.name == "fuse_file_cached_io_open")
    assert (call.line, call.args, call.locks) == (28, ("inode", "ff"), frozenset())
    assert read.in_condition in call.guards

    opener = program.functions["fuse_file_cached_io_open"]
    assert accesses(opener) == [
        ("fuse_inode.iocachectr", "read", None, 6, LOCK),
        ("fuse_file.iomode", "read", None, 10, LOCK),
        ("fuse_file.iomode", "assign", "IOM_CACHED", 11, LOCK),
        ("fuse_inode.iocachectr", "read", None, 12, LOCK),
        ("fuse_inode.state:FUSE_I_CACHE_IO_MODE", "set_bit", "set_bit", 13, LOCK),
        ("fuse_inode.iocachectr", "inc", "1", 14, LOCK),
    ]
    assert [(op.lock, op.op, op.line, op.api) for op in opener.lock_ops] == [
        ("fuse_inode.lock", "acquire", 5, "spin_lock"),
        ("fuse_inode.lock", "release", 7, "spin_unlock"),
        ("fuse_inode.lock", "release", 16, "spin_unlock"),
    ]
    assert opener.conditions[opener.accesses[1].in_condition].assertion


def test_facts_command_shows_the_unlocked_read_and_the_locked_write(tmp_path, capsys):
    (tmp_path / "fuse.h").write_text(HEADER)
    (tmp_path / "mmap.c").write_text(MMAP)
    status = main(["facts", f"{tmp_path}/mmap.c:fuse_file_mmap", f"{tmp_path}/mmap.c:fuse_file_cached_io_open",
                   f"{tmp_path}/fuse.h:get_fuse_inode"])
    out = capsys.readouterr().out
    assert status == 0
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert "27 fuse_file.iomode read - READ_ONCE, condition" in lines
    assert "28 fuse_file_cached_io_open() call inode, ff -" in lines
    assert "11 fuse_file.iomode assign IOM_CACHED fuse_inode.lock" in lines
    assert "5 fuse_inode.lock lock acquire spin_lock" in lines
    assert "exit line 8: returns errno, holding -" in lines
    assert "exit line 17: returns zero, holding -; fuse_inode.iocachectr +1" in lines


def test_facts_command_rejects_unknown_function_and_missing_file(tmp_path, capsys):
    (tmp_path / "mmap.c").write_text(MMAP)
    assert main(["facts", f"{tmp_path}/mmap.c:no_such_function"]) == 2
    assert main(["facts", f"{tmp_path}/missing.c"]) == 2
    assert main(["facts", f"{tmp_path}/Makefile"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"reviewbot: {tmp_path}/mmap.c: no function no_such_function defined here",
        f"reviewbot: {tmp_path}/missing.c: no such file or directory",
        f"reviewbot: {tmp_path}/Makefile: not a C file (.c or .h)"]


def test_loop_macro_without_braces_keeps_the_body_access():
    fn = function("""\
static void walk(struct fuse_inode *fi)
{
	struct fuse_file *ff;

	spin_lock(&fi->lock);
	list_for_each_entry(ff, &fi->write_files, write_entry)
		ff->count++;
	spin_unlock(&fi->lock);
}
""", "walk")
    assert ("fuse_file.count", "inc", "1", 7, LOCK) in accesses(fn)


def test_scoped_guard_holds_the_lock_in_its_scope_only():
    fn = function("""\
static void scoped(struct fuse_inode *fi)
{
	scoped_guard(spinlock, &fi->lock) {
		fi->iocachectr++;
	}
	fi->iocachectr--;
}
""", "scoped")
    assert accesses(fn) == [("fuse_inode.iocachectr", "inc", "1", 4, LOCK),
                            ("fuse_inode.iocachectr", "dec", "1", 6, [])]
    assert [(op.lock, op.op, op.api) for op in fn.lock_ops] == [("fuse_inode.lock", "acquire", "scoped_guard")]
    assert [e.locks for e in fn.exits] == [frozenset()]


def test_guard_is_released_at_every_return():
    fn = function("""\
static int guarded(struct fuse_inode *fi)
{
	guard(spinlock)(&fi->lock);
	if (fi->iocachectr < 0)
		return -EBUSY;
	fi->iocachectr++;
	return 0;
}
""", "guarded")
    assert accesses(fn) == [("fuse_inode.iocachectr", "read", None, 4, LOCK),
                            ("fuse_inode.iocachectr", "inc", "1", 6, LOCK)]
    assert fn.lock_ops[0].api == "guard(spinlock)"
    assert {(e.line, e.value, e.locks) for e in fn.exits} == {(5, "errno", frozenset()), (7, "zero", frozenset())}


def test_lockdep_assert_held_and_must_hold_count_as_held():
    program = analyze_snippet("""\
static void asserted(struct fuse_inode *fi)
{
	fi->state = 0;
	lockdep_assert_held(&fi->lock);
	fi->iocachectr = 3;
}

static void annotated(struct fuse_inode *fi) __must_hold(&fi->lock)
{
	fi->iocachectr = 7;
}
""")
    # an assertion says the caller holds the lock: held from the start of the function
    assert accesses(program.functions["asserted"]) == [("fuse_inode.state", "assign", "0", 3, LOCK),
                                                       ("fuse_inode.iocachectr", "assign", "3", 5, LOCK)]
    assert program.functions["asserted"].lock_ops[0].op == "assert"
    assert accesses(program.functions["annotated"]) == [("fuse_inode.iocachectr", "assign", "7", 10, LOCK)]
    assert program.functions["annotated"].annotations == {"must_hold": ("fuse_inode.lock",)}


def test_trylock_holds_only_on_its_success_branch():
    fn = function("""\
static int trylocked(struct fuse_inode *fi)
{
	if (!spin_trylock(&fi->lock))
		return -EAGAIN;
	fi->iocachectr = 0;
	spin_unlock(&fi->lock);
	return 0;
}
""", "trylocked")
    assert accesses(fn) == [("fuse_inode.iocachectr", "assign", "0", 5, LOCK)]
    assert fn.lock_ops[0].conditional
    assert {(e.line, e.value, e.locks) for e in fn.exits} == {(4, "errno", frozenset()), (7, "zero", frozenset())}


def test_mutex_lock_interruptible_holds_when_it_returned_zero():
    fn = function("""\
static int interruptible(struct fuse_conn *fc)
{
	int err;

	err = mutex_lock_interruptible(&fc->mutex);
	if (err)
		return err;
	fc->num = 1;
	mutex_unlock(&fc->mutex);
	return 0;
}
""", "interruptible")
    assert accesses(fn) == [("fuse_conn.num", "assign", "1", 8, ["fuse_conn.mutex"])]
    assert {(e.line, e.value, e.locks) for e in fn.exits} == {(7, "errno", frozenset()), (10, "zero", frozenset())}


def test_inode_lock_is_the_inode_rwsem_and_shared_is_marked():
    fn = function("""\
static void rw(struct inode *inode, struct fuse_inode *fi)
{
	inode_lock_shared(inode);
	fi->iocachectr--;
	inode_unlock_shared(inode);
	inode_lock(inode);
	fi->iocachectr++;
	inode_unlock(inode);
}
""", "rw")
    assert accesses(fn) == [("fuse_inode.iocachectr", "dec", "1", 4, ["inode.i_rwsem"]),
                            ("fuse_inode.iocachectr", "inc", "1", 7, ["inode.i_rwsem"])]
    assert [(op.lock, op.op, op.shared) for op in fn.lock_ops] == [
        ("inode.i_rwsem", "acquire", True), ("inode.i_rwsem", "release", True),
        ("inode.i_rwsem", "acquire", False), ("inode.i_rwsem", "release", False)]


def test_container_of_helper_return_type_and_member_chain():
    fn = function("""\
static void types(struct inode *inode, struct file *file)
{
	struct fuse_inode *fi = get_fuse_inode(inode);
	struct fuse_file *ff = file->private_data;

	container_of(inode, struct fuse_inode, inode)->iocachectr = 1;
	ff->fi->state = 2;
	fi->inode.i_mode = 3;
	((struct fuse_file *)file->private_data)->count = 4;
}
""", "types")
    assert accesses(fn) == [
        ("file.private_data", "read", None, 4, []),
        ("fuse_inode.iocachectr", "assign", "1", 6, []),
        ("fuse_inode.state", "assign", "2", 7, []),
        ("fuse_file.fi", "read", None, 7, []),
        ("inode.i_mode", "assign", "3", 8, []),
        ("fuse_file.count", "assign", "4", 9, []),
        ("file.private_data", "read", None, 9, []),
    ]


def test_ops_values_and_marks():
    fn = function("""\
static void ops(struct fuse_inode *fi, struct fuse_file *ff, int n)
{
	fi->iocachectr += 2;
	fi->iocachectr -= n;
	fi->state |= 4;
	ff->iomode = IOM_UNCACHED;
	ff->count = n;
	WRITE_ONCE(ff->iomode, IOM_NONE);
	n = data_race(fi->iocachectr);
	take(&fi->users);
	atomic_inc(&fi->users);
	atomic_add(3, &fi->users);
	refcount_inc(&fi->fb->count);
	test_and_clear_bit(FUSE_I_BACKING, &fi->state);
}
""", "ops")
    assert [(a.key, a.op, a.value, a.line, sorted(a.marks)) for a in fn.accesses] == [
        ("fuse_inode.iocachectr", "add", "2", 3, []),
        ("fuse_inode.iocachectr", "sub", "n", 4, []),
        ("fuse_inode.state", "write", None, 5, []),
        ("fuse_file.iomode", "assign", "IOM_UNCACHED", 6, []),
        ("fuse_file.count", "write", None, 7, []),
        ("fuse_file.iomode", "assign", "IOM_NONE", 8, ["WRITE_ONCE"]),
        ("fuse_inode.iocachectr", "read", None, 9, ["data_race"]),
        ("fuse_inode.users", "addr", None, 10, []),
        ("fuse_inode.users", "inc", "atomic_inc", 11, []),
        ("fuse_inode.users", "add", "3", 12, []),
        ("fuse_inode.fb", "read", None, 13, []),
        ("fuse_backing.count", "get", "refcount_inc", 13, []),
        ("fuse_inode.state:FUSE_I_BACKING", "test_and_clear_bit", "test_and_clear_bit", 14, []),
    ]


def test_type_hint_from_another_function_is_marked_as_a_guess():
    program = analyze_snippet("""\
static void declares(struct fuse_inode *fi) { }

static void undeclared(void)
{
	fi->iocachectr = 1;
}
""")
    access = program.functions["undeclared"].accesses[0]
    assert (access.key, access.guessed_type) == ("fuse_inode.iocachectr", True)
    assert program.functions["declares"].params == {"fi": "fuse_inode"}


def test_type_hint_from_the_profile():
    from reviewbot.knowledge.config import Config

    config = Config()
    config.type_hints = {"fc": "fuse_conn"}
    code = "static void bump(void)\n{\n\tfc->num++;\n}\n"
    hinted = function(code, "bump", config).accesses
    assert [(a.key, a.op, a.line, a.guessed_type) for a in hinted] == [("fuse_conn.num", "inc", 3, True)]
    assert function(code, "bump").accesses == []


def test_fresh_object_from_an_allocator():
    fn = function("""\
static struct fuse_file *alloc(void)
{
	struct fuse_file *ff = kzalloc(sizeof(*ff), GFP_KERNEL);

	ff->iomode = IOM_NONE;
	return ff;
}
""", "alloc")
    assert [(a.key, a.fresh) for a in fn.accesses] == [("fuse_file.iomode", True)]
    assert fn.returns_type == "fuse_file"


def test_fields_of_the_functions_own_struct_variables_are_fresh():
    fn = function("""\
struct open_out { unsigned long fh; unsigned int open_flags; struct fuse_file *ff; };

static int send_open(struct fuse_file *ff)
{
	struct open_out outarg;
	struct fuse_file copies[2];
	static struct fuse_file last;
	struct fuse_file *p = ff;

	outarg.fh = 1;
	outarg.open_flags = ff->open_flags;
	copies[0].count = 2;
	last.count = 3;
	p->count = 4;
	outarg.ff->count = 5;
	return 0;
}
""", "send_open")
    # a struct variable of the function is unshared; a static one, a pointer, and what a
    # member pointer leads to may be shared
    assert [(a.key, a.line, a.fresh) for a in fn.accesses] == [
        ("open_out.fh", 10, True), ("fuse_file.open_flags", 11, False), ("open_out.open_flags", 11, True),
        ("fuse_file.count", 12, True), ("fuse_file.count", 13, False), ("fuse_file.count", 14, False),
        ("fuse_file.count", 15, False), ("open_out.ff", 15, True)]


def test_counter_and_bit_apis_on_a_fresh_object_are_fresh():
    fn = function("""\
static struct fuse_backing *backing_new(struct fuse_inode *fi)
{
	struct fuse_backing *fb = kzalloc(sizeof(*fb), GFP_KERNEL);
	struct fuse_inode local;

	refcount_inc(&fb->count);
	set_bit(FUSE_I_BACKING, &local.state);
	set_bit(FUSE_I_BACKING, &fi->state);
	refcount_inc(&fi->fb->count);
	return fb;
}
""", "backing_new")
    assert [(a.key, a.op, a.fresh) for a in fn.accesses] == [
        ("fuse_backing.count", "get", True), ("fuse_inode.state:FUSE_I_BACKING", "set_bit", True),
        ("fuse_inode.state:FUSE_I_BACKING", "set_bit", False), ("fuse_inode.fb", "read", False),
        ("fuse_backing.count", "get", False)]


def test_global_lock_is_its_name_and_static_duplicates_are_kept_by_path():
    program = analyze_text("one.c", """\
static DEFINE_SPINLOCK(backing_lock);
struct fuse_inode { int iocachectr; };

static void set(struct fuse_inode *fi)
{
	spin_lock(&backing_lock);
	fi->iocachectr = 0;
	spin_unlock(&backing_lock);
}
""")
    fn = program.functions["one.c:set"]
    assert fn is program.functions["set"]
    assert accesses(fn) == [("fuse_inode.iocachectr", "assign", "0", 7, ["backing_lock"])]
    assert "backing_lock" in program.types.global_locks


def test_config_extends_the_lock_apis():
    from reviewbot.c.apis import LockApi
    from reviewbot.knowledge.config import Config

    config = Config()
    config.lock_apis = {**config.lock_apis, "fuse_lock_inode": LockApi("acquire", lock_suffix="i_mutex"),
                        "fuse_unlock_inode": LockApi("release", lock_suffix="i_mutex")}
    code = """\
static void wrapped(struct fuse_inode *fi, struct inode *inode)
{
	fuse_lock_inode(inode);
	fi->iocachectr = 1;
	fuse_unlock_inode(inode);
}
"""
    assert accesses(function(code, "wrapped", config)) == [("fuse_inode.iocachectr", "assign", "1", 4, ["inode.i_mutex"])]
    assert accesses(function(code, "wrapped")) == [("fuse_inode.iocachectr", "assign", "1", 4, [])]


def test_an_unchanged_file_is_not_parsed_again_but_a_changed_header_is_seen(monkeypatch):
    import reviewbot.c
    from reviewbot.c import analyze_text_files

    code = "int set(struct foo_holder *h)\n{\n\th->obj->count = 1;\n\treturn 0;\n}\n"
    header = "struct foo { int count; };\nstruct foo_holder { struct foo *obj; };\n"
    first = analyze_text_files({"holder.h": header, "set.c": code}).functions["set"]
    assert accesses(first) == [("foo.count", "assign", "1", 3, []), ("foo_holder.obj", "read", None, 3, [])]

    def parse_again(text):
        raise AssertionError("an unchanged file was parsed again")

    monkeypatch.setattr(reviewbot.c, "_parse", parse_again)
    again = analyze_text_files({"holder.h": header, "set.c": code}).functions["set"]
    assert accesses(again) == accesses(first)
    monkeypatch.undo()
    # the member's type changes in the header: set.c's facts, cached by its own content, must follow
    renamed = header.replace("struct foo *obj;", "struct bar *obj;")
    changed = analyze_text_files({"holder.h": renamed, "set.c": code}).functions["set"]
    assert accesses(changed)[0] == ("bar.count", "assign", "1", 3, [])


def test_without_the_cache_nothing_is_stored():
    from reviewbot.c import analyze
    from reviewbot.c.cache import cache_root
    from reviewbot.workspace import FileVersion

    program = analyze({"mmap.c": FileVersion("mmap.c", HEADER + MMAP)}, use_cache=False)
    assert "fuse_file_mmap" in program.functions
    assert not cache_root().exists() or not any(p.is_file() for p in cache_root().rglob("*"))
    analyze({"mmap.c": FileVersion("mmap.c", HEADER + MMAP)})
    assert any(p.is_file() for p in cache_root().rglob("*.pickle"))


# --- the seed thread, hunk-only: each function known only as far as the hunks show it -------

@pytest.fixture(scope="module")
def seed_program():
    from conftest import SEED_MBOX
    from reviewbot.c import analyze
    from reviewbot.sources import load_series
    from reviewbot.workspace import build_workspace

    workspace = build_workspace(load_series([str(SEED_MBOX)]), hunks_only=True)
    return analyze({path: workspace.version(path, 1) for path in workspace.c_paths(1)})


def test_seed_mmap_check_is_a_read_of_iomode_where_lock_state_is_unknown(seed_program):
    mmap = seed_program.functions["fuse_file_mmap"]
    assert (mmap.complete, mmap.known_lines) == (False, ((2574, 2587),))
    read = mmap.accesses[0]
    assert (read.key, read.op, read.line, read.locks, read.marks, read.guessed_type) == (
        "fuse_file.iomode", "read", 2580, frozenset({"?"}), frozenset({"READ_ONCE"}), True)
    assert mmap.conditions[read.in_condition].text == "READ_ONCE(ff->iomode) != IOM_CACHED"
    call = next(c for c in mmap.calls if c.name == "fuse_file_cached_io_open")
    assert (call.line, call.locks, read.in_condition in call.guards) == (2581, frozenset({"?"}), True)


def test_seed_cached_io_open_assigns_cached_under_the_warn_precondition(seed_program):
    opener = seed_program.functions["fuse_file_cached_io_open"]
    assert opener.known_lines == ((21, 33), (57, 63), (67, 75))
    assert ("fuse_file.iomode", "assign", "IOM_CACHED", 61, ["?"]) in accesses(opener)
    assert seed_program.summaries["fuse_file_cached_io_open"].assigns == [
        ("fuse_file.iomode", "IOM_CACHED", ("!WARN_ON(ff->iomode != IOM_NONE)",), 61)]


def test_seed_functions_whole_in_a_hunk_are_complete(seed_program):
    opener = seed_program.functions["fuse_file_uncached_io_open"]
    assert opener.complete
    assert accesses(opener) == [("fuse_file.iomode", "read", None, 126, []),
                                ("fuse_file.iomode", "assign", "IOM_UNCACHED", 127, [])]
    # the callee is seen in part: its success moves iocachectr, its failure is assumed to not
    assert {(e.line, e.value, e.deltas) for e in opener.exits} == {
        (124, "errno", ()), (128, "zero", (("fuse_inode.iocachectr", -1),))}
    unlock = seed_program.functions["fuse_dio_unlock"]
    assert [(op.lock, op.op, op.line, op.shared) for op in unlock.lock_ops] == [
        ("inode.i_rwsem", "release", 1394, False), ("inode.i_rwsem", "release", 1398, True)]
    assert seed_program.summaries["fuse_dio_unlock"].releases == {"inode.i_rwsem"}


def test_seed_pieces_of_one_function_are_walked_as_one(seed_program):
    dio_lock = [f for f in seed_program.files["fs/fuse/file.c"].functions if f.name == "fuse_dio_lock"]
    assert len(dio_lock) == 1
    assert dio_lock[0].known_lines == ((1362, 1368), (1377, 1383))
    # the first hunk shows the function from its opening brace: the lock state there is the
    # entry's; where a later hunk starts it is unknown, except for a lock the hunk releases
    # before taking it: code not in view took it
    assert (dio_lock[0].complete, dio_lock[0].entry_known) == (False, True)
    first = dio_lock[0].accesses[0]
    assert (first.key, first.line, first.locks) == ("kiocb.ki_filp", 1364, set())
    start = next(c for c in dio_lock[0].calls if c.name == "fuse_inode_uncached_io_start")
    assert start.locks == {"?", "inode.i_rwsem"}
    # the lock taken at line 89 may have been dropped in the lines between the hunks
    partial = seed_program.functions["fuse_inode_uncached_io_start"]
    assert ("fuse_inode.iocachectr", "dec", "1", 100, ["?"]) in accesses(partial)
    assert seed_program.summaries["fuse_inode_uncached_io_start"].acquires == set()


# --- the minifs fixture subsystem, whole files ----------------------------------------------

@pytest.fixture(scope="module")
def minifs():
    from fixture_repo import BASE_DIR
    from reviewbot.c import analyze_text_files

    return analyze_text_files({f"fs/minifs/{p.name}": p.read_text() for p in sorted(BASE_DIR.glob("*.[ch]"))})


def test_minifs_mmap_and_cached_io_start(minifs):
    mmap = minifs.functions["minifs_file_mmap"]
    assert ("minifs_file.open_flags", "read", "& MOPEN_DIRECT_IO", 103, []) in accesses(mmap)
    start_call = next(c for c in mmap.calls if c.name == "minifs_file_cached_io_start")
    assert (start_call.line, start_call.locks) == (114, frozenset())
    start = minifs.functions["minifs_file_cached_io_start"]
    assert ("minifs_file.iomode", "assign", "IOM_CACHED", 55, ["minifs_inode.lock"]) in accesses(start)
    assert ("minifs_inode.iocachectr", "inc", "1", 58, ["minifs_inode.lock"]) in accesses(start)
    assert minifs.summaries["minifs_file_cached_io_start"].effects["zero"] == {"minifs_inode.iocachectr": 1}


def test_minifs_lock_wrappers_guards_and_trylock(minifs):
    assert minifs.summaries["minifs_dio_lock"].acquires == {"inode.i_rwsem"}
    unlock = minifs.summaries["minifs_dio_unlock"]
    assert (unlock.releases, unlock.must_hold) == ({"inode.i_rwsem"}, {"inode.i_rwsem"})
    write = minifs.functions["minifs_direct_write_iter"]
    assert ("minifs_conn.dio_writes", "inc", "1", 200, ["minifs_conn.lock"]) in accesses(write)
    assert next(c for c in write.calls if c.name == "minifs_dio_unlock").locks == {"inode.i_rwsem"}
    read = minifs.functions["minifs_file_read_iter"]
    assert [(op.api, op.conditional) for op in read.lock_ops][0] == ("inode_trylock_shared", True)
    assert {(e.line, e.value, e.locks) for e in read.exits} == {(229, "errno", frozenset()),
                                                               (235, "other", frozenset())}
    busy = minifs.functions["minifs_inode_busy"]
    assert ("minifs_inode.iocachectr", "read", None, 39, ["minifs_inode.lock"]) in accesses(busy)


def test_minifs_loop_macro_assertions_and_helpers(minifs):
    count = minifs.functions["minifs_count_dio_writers"]
    assert ("minifs_file.open_flags", "read", "& MOPEN_DIRECT_IO", 90, ["minifs_inode.lock"]) in accesses(count)
    assert minifs.summaries["minifs_inode_backing_set"].must_hold == {"minifs_inode.lock"}
    assert minifs.summaries["minifs_file_add_writer"].must_hold == {"minifs_inode.lock"}
    assert minifs.summaries["minifs_backing_get"].returns_reference
    assert minifs.types.return_type("get_minifs_inode") == "minifs_inode"


def test_lock_families_and_for_each_without_braces():
    fn = function("""\
static void families(struct fuse_inode *fi, struct fuse_conn *fc, struct rw_semaphore *sem)
{
	unsigned long flags;
	int cpu;

	spin_lock_irqsave(&fi->lock, flags);
	fi->iocachectr = 1;
	spin_unlock_irqrestore(&fi->lock, flags);
	mutex_lock_nested(&fc->mutex, 1);
	for_each_possible_cpu(cpu)
		fc->num++;
	mutex_unlock(&fc->mutex);
	down_read(sem);
	fi->state = 2;
	up_read(sem);
}
""", "families")
    assert accesses(fn) == [("fuse_inode.iocachectr", "assign", "1", 7, LOCK),
                            ("fuse_conn.num", "inc", "1", 11, ["fuse_conn.mutex"]),
                            ("fuse_inode.state", "assign", "2", 14, ["sem"])]
    assert [(op.api, op.op, op.shared) for op in fn.lock_ops] == [
        ("spin_lock_irqsave", "acquire", False), ("spin_unlock_irqrestore", "release", False),
        ("mutex_lock_nested", "acquire", False), ("mutex_unlock", "release", False),
        ("down_read", "acquire", True), ("up_read", "release", True)]


def test_a_function_nested_too_deep_to_walk_is_skipped_and_named(capsys, tmp_path):
    """An expression of 50,000 terms nests deeper than the walk can follow: that function is
    left out (and named), the functions beside it are analysed as usual."""
    from reviewbot.c import analyze_text_files

    deep = " + ".join(["x"] * 50_000)
    code = (f"int deep(int x)\n{{\n\treturn {deep};\n}}\n\n"
            "void plain(struct s *s)\n{\n\ts->n++;\n}\n")
    facts = analyze_text_files({"big.c": code}).files["big.c"]
    assert facts.skipped == [("deep", 1)]
    assert [f.name for f in facts.functions] == ["plain"]
    path = tmp_path / "big.c"
    path.write_text(code)
    assert main(["facts", str(path)]) == 0
    assert f"{path}: deep() line 1: nested too deep to analyse, skipped" in capsys.readouterr().out
