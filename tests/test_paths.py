"""Paths: lock sets at each access and the exits (line, value class, locks held, counters
moved) through gotos, switches, loops, early returns and correlated conditions."""

from __future__ import annotations

import pytest

from cfacts import accesses, analyze_snippet, exits, function

LOCK = ["fuse_inode.lock"]
HELD = ("fuse_inode.lock",)


def test_goto_unwinding_releases_on_every_path():
    fn = function("""\
static int unwind(struct fuse_inode *fi, struct fuse_backing *fb)
{
	int err = 0;

	spin_lock(&fi->lock);
	if (fi->fb && fi->fb != fb) {
		err = -EBUSY;
		goto unlock;
	}
	fi->iocachectr--;
unlock:
	spin_unlock(&fi->lock);
	return err;
}
""", "unwind")
    assert accesses(fn)[-1] == ("fuse_inode.iocachectr", "dec", "1", 10, LOCK)
    assert (fn.gotos, fn.labels) == ([("unlock", 8)], {"unlock": 11})
    assert exits(fn) == {(13, "errno", (), ()), (13, "zero", (), (("fuse_inode.iocachectr", -1),))}


def test_goto_error_path_that_forgets_the_unlock_returns_holding():
    fn = function("""\
static int leaky(struct fuse_inode *fi)
{
	spin_lock(&fi->lock);
	if (fi->iocachectr < 0)
		goto out;
	fi->iocachectr++;
	spin_unlock(&fi->lock);
	return 0;
out:
	return -EBUSY;
}
""", "leaky")
    assert exits(fn) == {(8, "zero", (), (("fuse_inode.iocachectr", 1),)), (10, "errno", HELD, ())}
    errno_exit = next(e for e in fn.exits if e.value == "errno")
    assert errno_exit.path == (4,)


def test_correlated_conditions_are_one_path():
    fn = function("""\
static void correlated(struct fuse_inode *fi, bool locked)
{
	if (locked)
		spin_lock(&fi->lock);
	fi->iocachectr++;
	if (locked)
		spin_unlock(&fi->lock);
}
""", "correlated")
    # held on one path only: not in the lock set; and no path returns holding it
    assert accesses(fn) == [("fuse_inode.iocachectr", "inc", "1", 5, [])]
    assert exits(fn) == {(8, "void", (), (("fuse_inode.iocachectr", 1),))}


def test_reassigned_condition_is_not_correlated():
    fn = function("""\
static void changed(struct fuse_inode *fi, bool locked)
{
	if (locked)
		spin_lock(&fi->lock);
	locked = false;
	if (locked)
		spin_unlock(&fi->lock);
}
""", "changed")
    # `locked` is now known false: the unlock is skipped on both paths
    assert exits(fn) == {(8, "void", (), ()), (8, "void", HELD, ())}


def test_switch_cases_fall_through_and_break():
    fn = function("""\
static void switched(struct fuse_file *ff, struct fuse_inode *fi)
{
	switch (ff->iomode) {
	case IOM_CACHED:
		spin_lock(&fi->lock);
		ff->iomode = IOM_NONE;
		break;
	case IOM_UNCACHED:
		spin_lock(&fi->lock);
		fallthrough;
	default:
		fi->iocachectr++;
	}
	spin_unlock(&fi->lock);
}
""", "switched")
    assert accesses(fn) == [("fuse_file.iomode", "read", None, 3, []),
                            ("fuse_file.iomode", "assign", "IOM_NONE", 6, LOCK),
                            ("fuse_inode.iocachectr", "inc", "1", 12, [])]
    assert exits(fn) == {(15, "void", (), ()), (15, "void", (), (("fuse_inode.iocachectr", 1),))}


def test_loops_run_zero_or_one_times_and_break_leaves():
    fn = function("""\
static int looped(struct fuse_inode *fi, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		spin_lock(&fi->lock);
		if (fi->iocachectr)
			break;
		spin_unlock(&fi->lock);
	}
	return 0;
}
""", "looped")
    # the break leaves with the lock held: one exit holds it, the others do not
    assert exits(fn) == {(11, "zero", (), ()), (11, "zero", HELD, ())}


def test_forever_loop_leaves_only_by_break():
    fn = function("""\
static void forever(struct fuse_inode *fi)
{
	while (1) {
		spin_lock(&fi->lock);
		if (fi->iocachectr == 0)
			break;
		spin_unlock(&fi->lock);
		schedule();
	}
	fi->iocachectr = 1;
	spin_unlock(&fi->lock);
}
""", "forever")
    assert accesses(fn)[-1] == ("fuse_inode.iocachectr", "assign", "1", 10, LOCK)
    assert exits(fn) == {(12, "void", (), ())}


def test_backward_goto_retry_does_not_loop_forever():
    fn = function("""\
static void retry(struct fuse_inode *fi)
{
again:
	spin_lock(&fi->lock);
	if (fi->iocachectr < 0) {
		spin_unlock(&fi->lock);
		goto again;
	}
	fi->iocachectr++;
	spin_unlock(&fi->lock);
}
""", "retry")
    assert exits(fn) == {(11, "void", (), (("fuse_inode.iocachectr", 1),))}


def test_returning_a_trylock_result_gives_both_outcomes():
    fn = function("""\
static bool try_fi(struct fuse_inode *fi)
{
	return spin_trylock(&fi->lock);
}
""", "try_fi")
    assert exits(fn) == {(3, "other", HELD, ()), (3, "zero", (), ())}


def test_trylock_in_a_conjunction():
    fn = function("""\
static void maybe(struct fuse_inode *fi, bool want)
{
	if (want && spin_trylock(&fi->lock)) {
		fi->iocachectr = 0;
		spin_unlock(&fi->lock);
	}
}
""", "maybe")
    assert accesses(fn) == [("fuse_inode.iocachectr", "assign", "0", 4, LOCK)]
    assert exits(fn) == {(7, "void", (), ())}


def test_early_return_on_error_keeps_counter_moves_per_path():
    fn = function("""\
static int early(struct fuse_inode *fi)
{
	spin_lock(&fi->lock);
	fi->iocachectr++;
	if (fi->fb == NULL) {
		spin_unlock(&fi->lock);
		return -ENOENT;
	}
	fi->iocachectr--;
	spin_unlock(&fi->lock);
	return 0;
}
""", "early")
    assert exits(fn) == {(7, "errno", (), (("fuse_inode.iocachectr", 1),)), (11, "zero", (), ())}


def test_bits_per_path():
    fn = function("""\
static void bits(struct fuse_inode *fi, bool keep)
{
	if (keep)
		set_bit(FUSE_I_BACKING, &fi->state);
	else
		clear_bit(FUSE_I_BACKING, &fi->state);
}
""", "bits")
    assert {e.bits for e in fn.exits} == {(("fuse_inode.state:FUSE_I_BACKING", "set"),),
                                          (("fuse_inode.state:FUSE_I_BACKING", "clear"),)}


def test_hunk_only_lock_state_is_unknown_where_each_range_starts():
    from reviewbot.c import analyze
    from reviewbot.workspace import FileVersion, KnownRange

    # lines 3-6 and 9-12 are known; the lock is taken above line 3 in code not in view
    lines = [""] * 13
    lines[2:6] = ["\tfi->iocachectr++;", "\tif (fi->iocachectr > 1)", "\t\treturn -EBUSY;", "\tspin_unlock(&fi->lock);"]
    lines[8:12] = ["\tfi->state = 0;", "\tspin_lock(&fi->lock);", "\tfi->state = 1;", "\treturn 0;"]
    context = "static int partial(struct fuse_inode *fi)"
    version = FileVersion("partial.c", "\n".join(lines) + "\n",
                          known=[KnownRange(3, 6, context), KnownRange(9, 12, context)])
    from cfacts import HEADER

    program = analyze({"snippet.h": FileVersion("snippet.h", HEADER), "partial.c": version})
    fn = program.functions["partial"]
    assert (fn.complete, fn.known_lines) == (False, ((3, 6), (9, 12)))
    # the range releases fi->lock before taking it: held where it starts, with the unknown rest;
    # after the release, the code in view says nothing is held
    assert accesses(fn) == [("fuse_inode.iocachectr", "inc", "1", 3, ["?", "fuse_inode.lock"]),
                            ("fuse_inode.iocachectr", "read", None, 4, ["?", "fuse_inode.lock"]),
                            ("fuse_inode.state", "assign", "0", 9, ["?"]),
                            ("fuse_inode.state", "assign", "1", 11, ["?", "fuse_inode.lock"])]
    assert {(e.line, e.value, tuple(sorted(e.locks))) for e in fn.exits} == {
        (5, "errno", ("?", "fuse_inode.lock")), (12, "zero", ("?", "fuse_inode.lock"))}
    assert program.summaries["partial"].acquires == set()


def test_a_hunk_that_stops_mid_function_on_the_last_line_leaves_the_function_incomplete():
    from reviewbot.c import analyze
    from reviewbot.workspace import FileVersion, KnownRange

    from cfacts import HEADER

    # the hunk shows the head and stops inside the body, on the text's last line: the repair
    # closes the body on that line, which is not where the function ends
    head = ["static int head(struct fuse_inode *fi)", "{", "\tspin_lock(&fi->lock);", "\tfi->iocachectr++;",
            "\tif (fi->iocachectr > 1)", "\t\treturn -EBUSY;"]
    whole = head + ["\tspin_unlock(&fi->lock);", "\treturn 0;", "}"]
    header = FileVersion("snippet.h", HEADER)
    cut = analyze({"snippet.h": header, "head.c": FileVersion("head.c", "\n".join(head) + "\n",
                                                                  known=[KnownRange(1, 6, "")])})
    fn = cut.functions["head"]
    assert (fn.complete, fn.known_lines, fn.end_line) == (False, ((1, 6),), 6)
    # its head is in view: the lock state from the opening brace on is known
    assert (fn.entry_known, accesses(fn)[0]) == (True, ("fuse_inode.iocachectr", "inc", "1", 4, LOCK))
    assert cut.summaries["head"].acquires == set()  # not a lock wrapper: its end is not in view
    shown = analyze({"snippet.h": header, "head.c": FileVersion("head.c", "\n".join(whole) + "\n",
                                                                    known=[KnownRange(1, 9, "")])})
    assert (shown.functions["head"].complete, shown.functions["head"].end_line) == (True, 9)


def test_a_long_else_if_chain_is_walked():
    chain = "".join(f"\telse if (n == {i})\n\t\tfi->iocachectr = {i};\n" for i in range(1, 500))
    fn = function("static void table(struct fuse_inode *fi, int n)\n{\n\tif (!n)\n\t\tfi->iocachectr = 0;\n"
                  + chain + "}\n", "table")
    assert len(fn.accesses) == 500
    assert accesses(fn)[-1] == ("fuse_inode.iocachectr", "assign", "499", 1002, [])


# A helper returning a counted pointer or an ERR_PTR, and callers testing its result each way.
POINTER_RESULTS = """\
static struct fuse_backing *backing_get(struct fuse_inode *fi)
{
	struct fuse_backing *fb = fi->fb;

	if (!fb)
		return ERR_PTR(-ENOENT);
	refcount_inc(&fb->count);
	return fb;
}

struct fuse_file *file_alloc(struct fuse_inode *fi)
{
	struct fuse_file *ff;

	ff = kzalloc(sizeof(*ff), GFP_KERNEL);
	if (unlikely(!ff))
		return NULL;
	if (fi->iocachectr < 0) {
		kfree(ff);
		return ERR_CAST(fi);
	}
	ff->fi = fi;
	return ff;
}

struct fuse_backing *by_is_err(struct fuse_inode *fi)
{
	struct fuse_backing *fb = backing_get(fi);

	if (IS_ERR(fb))
		return fb;
	return fb;
}

struct fuse_backing *by_not_is_err(struct fuse_inode *fi)
{
	struct fuse_backing *fb = backing_get(fi);

	if (!IS_ERR(fb))
		return fb;
	return NULL;
}

struct fuse_backing *by_is_err_or_null(struct fuse_inode *fi)
{
	struct fuse_backing *fb = backing_get(fi);

	if (IS_ERR_OR_NULL(fb))
		return NULL;
	return fb;
}

struct fuse_backing *by_null(struct fuse_inode *fi)
{
	struct fuse_backing *fb = backing_get(fi);

	if (fb == NULL)
		return NULL;
	return fb;
}
"""


def test_pointer_returns_are_classified_by_the_declared_return_type():
    program = analyze_snippet(POINTER_RESULTS)
    # `return ff` after `if (!ff)` is the object, `return NULL` the NULL failure, ERR_PTR and
    # ERR_CAST an errno
    assert exits(program.functions["file_alloc"]) == {
        (17, "null", (), ()), (20, "errno", (), ()), (23, "pointer", (), (("ref:kfree", 1),))}
    assert exits(program.functions["backing_get"]) == {
        (6, "errno", (), ()), (8, "pointer", (), (("fuse_backing.count", 1),))}


@pytest.mark.parametrize("name, fail_line, ok_line", [
    ("by_is_err", 31, 32), ("by_not_is_err", 41, 40), ("by_is_err_or_null", 49, 50), ("by_null", 58, 59)])
def test_a_pointer_result_tested_for_errors_or_null_decides_the_call_outcome(name, fail_line, ok_line):
    fn = analyze_snippet(POINTER_RESULTS).functions[name]
    call_line = fn.start_line + 2
    fail_class = "errno" if name == "by_is_err" else "null"
    assert {(e.line, e.value, e.deltas, e.calls) for e in fn.exits} == {
        (fail_line, fail_class, (), (("backing_get", call_line, "fail"),)),
        (ok_line, "pointer", (("fuse_backing.count", 1),), (("backing_get", call_line, "ok"),))}


def test_an_int_result_tested_for_an_error_decides_the_call_outcome():
    program = analyze_snippet("""\
static int start(struct fuse_inode *fi)
{
	if (fi->iocachectr < 0)
		return -ETXTBSY;
	fi->iocachectr++;
	return 0;
}

int by_negative(struct fuse_inode *fi)
{
	int ret = start(fi);

	if (ret < 0)
		return ret;
	return ret;
}
""")
    fn = program.functions["by_negative"]
    assert {(e.line, e.value, e.deltas, e.calls) for e in fn.exits} == {
        (14, "errno", (), (("start", 11, "fail"),)),
        (15, "zero", (("fuse_inode.iocachectr", 1),), (("start", 11, "ok"),))}


def test_a_conditional_return_is_decided_per_path_and_its_caller_sees_both_outcomes():
    program = analyze_snippet("""\
static struct fuse_backing *backing_lookup(struct fuse_inode *fi, struct file *file)
{
	struct fuse_backing *fb = fi->fb;
	struct file *backing;
	int err;

	err = -EINVAL;
	if (!fb)
		goto out;
	refcount_inc(&fb->count);
	backing = dup_file(file);
	err = PTR_ERR(backing);
	if (IS_ERR(backing)) {
		refcount_dec(&fb->count);
		goto out;
	}
	err = 0;
out:
	return err ? ERR_PTR(err) : fb;
}

int backing_open(struct fuse_inode *fi, struct file *file)
{
	struct fuse_backing *fb = backing_lookup(fi, file);

	if (IS_ERR(fb))
		return PTR_ERR(fb);
	fi->fb = fb;
	return 0;
}
""")
    # `err` is known on each path, so each return takes one side of the `?:` (and a `dup_*`
    # call known only by its name is an acquire: its success is marked on the path)
    assert exits(program.functions["backing_lookup"]) == {
        (19, "errno", (), ()), (19, "pointer", (), (("fuse_backing.count", 1), ("ref:dup_file", 1)))}
    assert {(e.line, e.value, e.deltas, e.calls) for e in program.functions["backing_open"].exits} == {
        (27, "errno", (), (("backing_lookup", 24, "fail"),)),
        (29, "zero", (("fuse_backing.count", 1), ("ref:dup_file", 1)), (("backing_lookup", 24, "ok"),))}


def test_a_variable_a_branch_shows_null_is_returned_as_null():
    program = analyze_snippet("""\
static struct fuse_file *first_writer(struct fuse_inode *fi)
{
	struct fuse_file *ff;

	spin_lock(&fi->lock);
	ff = list_first_entry_or_null(&fi->write_files, struct fuse_file, write_entry);
	if (ff)
		ff->count++;
	spin_unlock(&fi->lock);
	return ff;
}

int write_one(struct fuse_inode *fi)
{
	struct fuse_file *ff = first_writer(fi);

	if (!ff)
		return -EIO;
	ff->count--;
	return 0;
}
""")
    assert exits(program.functions["first_writer"]) == {
        (10, "pointer", (), (("fuse_file.count", 1),)), (10, "null", (), ())}
    # so the caller's NULL test tells the outcome: the reference is taken only when it is not NULL
    assert {(e.line, e.deltas, e.calls) for e in program.functions["write_one"].exits} == {
        (18, (), (("first_writer", 15, "fail"),)), (20, (), (("first_writer", 15, "ok"),))}


def test_a_result_no_branch_tests_counts_as_succeeded_without_saying_a_branch_saw_it():
    fn = function("""\
struct ctx { struct file *file; int fd; };

static int mount_with(struct ctx *ctx)
{
	ctx->file = fget(ctx->fd);
	if (!ctx->file)
		return -EINVAL;
	fput(ctx->file);
	return 0;
}
""", "mount_with")
    # the test reads a field, not fget's result as the facts follow it: the effect applies, the
    # outcome stays unknown (so no rule takes the -EINVAL path for one that holds a reference)
    assert {(e.line, e.value, e.deltas, e.calls) for e in fn.exits} == {
        (7, "errno", (("ref:fput", 1),), (("fget", 5, None),)),
        (9, "zero", (), (("fget", 5, None), ("fput", 8, None)))}


def test_a_condition_repeated_with_its_operands_swapped_or_under_sizeof_is_one_path():
    swapped = function("""\
static void swapped(struct fuse_inode *fi, int a, int b)
{
	if (a == 1 || b == 1)
		spin_lock(&fi->lock);
	fi->iocachectr++;
	if (b == 1 || (a == 1))
		spin_unlock(&fi->lock);
}
""", "swapped")
    assert exits(swapped) == {(8, "void", (), (("fuse_inode.iocachectr", 1),))}
    # assigning `v` does not change what `sizeof(v)` tests
    sized = function("""\
static void sized(struct fuse_inode *fi, long v)
{
	if (sizeof(v) > sizeof(int))
		spin_lock(&fi->lock);
	v = fi->iocachectr;
	if (sizeof(v) > sizeof(int))
		spin_unlock(&fi->lock);
}
""", "sized")
    assert exits(sized) == {(8, "void", (), ())}
