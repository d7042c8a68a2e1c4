"""Paths: lock sets at each access and the exits (line, value class, locks held, counters
moved) through gotos, switches, loops, early returns and correlated conditions."""

from __future__ import annotations

from cfacts import accesses, exits, function

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


def test_a_long_else_if_chain_is_walked():
    chain = "".join(f"\telse if (n == {i})\n\t\tfi->iocachectr = {i};\n" for i in range(1, 500))
    fn = function("static void table(struct fuse_inode *fi, int n)\n{\n\tif (!n)\n\t\tfi->iocachectr = 0;\n"
                  + chain + "}\n", "table")
    assert len(fn.accesses) == 500
    assert accesses(fn)[-1] == ("fuse_inode.iocachectr", "assign", "499", 1002, [])
