"""Summaries: lock wrappers, releases, try helpers, locks every caller holds, counter effects
per return class, state assignments with preconditions, counted references; and their use
at the call sites."""

from __future__ import annotations

from cfacts import accesses, analyze_snippet, exits

LOCK = ["fuse_inode.lock"]

WRAPPERS = """\
static void dio_lock(struct inode *inode, bool exclusive)
{
	if (exclusive) {
		inode_lock(inode);
	} else {
		inode_lock_shared(inode);
	}
}

static void dio_unlock(struct inode *inode, bool exclusive)
{
	if (exclusive)
		inode_unlock(inode);
	else
		inode_unlock_shared(inode);
}

static bool fi_trylock(struct fuse_inode *fi)
{
	return spin_trylock(&fi->lock);
}

static void write_path(struct inode *inode, bool exclusive)
{
	struct fuse_inode *fi = get_fuse_inode(inode);

	dio_lock(inode, exclusive);
	fi->iocachectr = 0;
	dio_unlock(inode, exclusive);
	if (!fi_trylock(fi))
		return;
	fi->state = 1;
	spin_unlock(&fi->lock);
}
"""


def test_lock_wrappers_and_try_helpers():
    program = analyze_snippet(WRAPPERS)
    lock, unlock, try_ = (program.summaries[n] for n in ("dio_lock", "dio_unlock", "fi_trylock"))
    assert (lock.acquires, lock.releases, lock.conditional) == ({"inode.i_rwsem"}, set(), set())
    assert (unlock.acquires, unlock.releases, unlock.conditional) == (set(), {"inode.i_rwsem"}, set())
    assert (try_.acquires, try_.releases, try_.conditional) == (set(), set(), {"fuse_inode.lock"})
    caller = program.functions["write_path"]
    assert accesses(caller) == [("fuse_inode.iocachectr", "assign", "0", 28, ["inode.i_rwsem"]),
                                ("fuse_inode.state", "assign", "1", 32, LOCK)]
    assert exits(caller) == {(31, "void", (), ()), (34, "void", (), ())}
    assert program.summaries["write_path"].acquires == set()


def test_called_with_lock_held_when_every_caller_holds_it():
    program = analyze_snippet("""\
static void helper(struct fuse_inode *fi)
{
	fi->iocachectr = 0;
}

static void helper_unlocked(struct fuse_inode *fi)
{
	fi->iocachectr = 1;
}

void one(struct fuse_inode *fi)
{
	spin_lock(&fi->lock);
	helper(fi);
	helper_unlocked(fi);
	spin_unlock(&fi->lock);
}

void two(struct fuse_inode *fi)
{
	guard(spinlock)(&fi->lock);
	helper(fi);
}

void three(struct fuse_inode *fi)
{
	helper_unlocked(fi);
}
""")
    assert program.summaries["helper"].must_hold == {"fuse_inode.lock"}
    assert accesses(program.functions["helper"]) == [("fuse_inode.iocachectr", "assign", "0", 3, LOCK)]
    assert program.summaries["helper_unlocked"].must_hold == set()
    assert accesses(program.functions["helper_unlocked"]) == [("fuse_inode.iocachectr", "assign", "1", 8, [])]


def test_asserted_and_annotated_locks_are_must_hold():
    program = analyze_snippet("""\
void asserted(struct fuse_inode *fi)
{
	lockdep_assert_held(&fi->lock);
	fi->iocachectr--;
}

void annotated(struct fuse_inode *fi) __must_hold(&fi->lock)
{
	fi->iocachectr++;
}

void unlocks(struct fuse_inode *fi) __releases(&fi->lock)
{
	fi->iocachectr = 0;
	spin_unlock(&fi->lock);
}
""")
    assert program.summaries["asserted"].must_hold == {"fuse_inode.lock"}
    assert program.summaries["annotated"].must_hold == {"fuse_inode.lock"}
    assert program.summaries["unlocks"].releases == {"fuse_inode.lock"}
    assert program.summaries["unlocks"].must_hold == set()


ACCOUNTING = """\
int uncached_start(struct fuse_inode *fi, struct fuse_backing *fb)
{
	int err = 0;

	spin_lock(&fi->lock);
	if (fi->iocachectr > 0) {
		err = -ETXTBSY;
		goto unlock;
	}
	fi->iocachectr--;
unlock:
	spin_unlock(&fi->lock);
	return err;
}

void uncached_end(struct fuse_inode *fi)
{
	spin_lock(&fi->lock);
	fi->iocachectr++;
	spin_unlock(&fi->lock);
}

int open_twice(struct fuse_inode *fi, struct fuse_backing *fb)
{
	int err;

	err = uncached_start(fi, fb);
	if (err)
		return err;
	err = uncached_start(fi, fb);
	if (err)
		return err;
	uncached_end(fi);
	return 0;
}
"""


def test_effects_per_return_class_and_at_the_call_sites():
    program = analyze_snippet(ACCOUNTING)
    start = program.summaries["uncached_start"]
    assert start.effects == {"errno": {}, "zero": {"fuse_inode.iocachectr": -1}}
    assert program.summaries["uncached_end"].effects == {"void": {"fuse_inode.iocachectr": 1}}
    # the second failure returns without undoing the first success: -1 on that path
    assert exits(program.functions["open_twice"]) == {
        (29, "errno", (), ()),
        (32, "errno", (), (("fuse_inode.iocachectr", -1),)),
        (34, "zero", (), (("fuse_inode.iocachectr", -1),)),
    }
    failed = next(e for e in program.functions["open_twice"].exits if e.line == 32)
    assert failed.calls == (("uncached_start", 27, "ok"), ("uncached_start", 30, "fail"))
    # what each class of return may move: one of the failures moves iocachectr
    assert program.summaries["open_twice"].effects == {"errno": {"fuse_inode.iocachectr": -1},
                                                       "zero": {"fuse_inode.iocachectr": -1}}


def test_state_assignments_with_preconditions():
    program = analyze_snippet("""\
int cached_open(struct inode *inode, struct fuse_file *ff)
{
	struct fuse_inode *fi = get_fuse_inode(inode);

	spin_lock(&fi->lock);
	if (!WARN_ON(ff->iomode != IOM_NONE))
		ff->iomode = IOM_CACHED;
	spin_unlock(&fi->lock);
	return 0;
}

void uncached_release(struct fuse_file *ff, struct fuse_inode *fi)
{
	WARN_ON(ff->iomode != IOM_UNCACHED);
	ff->iomode = IOM_NONE;
	set_bit(FUSE_I_BACKING, &fi->state);
}
""")
    assert program.summaries["cached_open"].assigns == [
        ("fuse_file.iomode", "IOM_CACHED", ("!WARN_ON(ff->iomode != IOM_NONE)",), 7)]
    release = program.summaries["uncached_release"]
    assert release.assigns == [("fuse_file.iomode", "IOM_NONE", ("WARN_ON(ff->iomode != IOM_UNCACHED)",), 15)]
    assert release.bits_set == {"fuse_inode.state:FUSE_I_BACKING"}
    assert release.param_keys == {0: "fuse_file", 1: "fuse_inode"}


def test_counted_references_and_reference_pairs():
    program = analyze_snippet("""\
static struct fuse_backing *backing_get(struct fuse_backing *fb)
{
	if (fb && refcount_inc_not_zero(&fb->count))
		return fb;
	return NULL;
}

static struct fuse_backing *lookup(struct fuse_inode *fi)
{
	return backing_get(fi->fb);
}

int pin(struct inode *inode, struct fuse_inode *fi)
{
	struct inode *held = igrab(inode);
	struct fuse_backing *fb;

	if (!held)
		return -ENOENT;
	fb = lookup(fi);
	if (!fb)
		return -ENOENT;
	iput(held);
	return 0;
}
""")
    assert program.summaries["backing_get"].returns_reference
    # `return NULL` in a function returning a pointer is its failure: class "null"
    assert program.summaries["backing_get"].effects == {"pointer": {"fuse_backing.count": 1}, "null": {}}
    assert program.summaries["lookup"].returns_reference
    # the second failure leaks the inode reference igrab took
    assert exits(program.functions["pin"]) == {
        (19, "errno", (), ()),
        (22, "errno", (), (("ref:iput", 1),)),
        (24, "zero", (), (("fuse_backing.count", 1),)),
    }


def test_config_reference_pairs_and_global_lock_apis():
    from reviewbot.knowledge.config import Config

    config = Config()
    config.reference_pairs = {**config.reference_pairs, "backing_lookup": "backing_drop"}
    code = """\
int use(struct fuse_inode *fi)
{
	struct fuse_backing *fb = backing_lookup(fi);

	if (!fb)
		return -ENOENT;
	rcu_read_lock();
	fi->iocachectr = 0;
	rcu_read_unlock();
	if (fi->state)
		return -EBUSY;
	backing_drop(fb);
	return 0;
}
"""
    fn = analyze_snippet(code, config).functions["use"]
    assert accesses(fn)[0] == ("fuse_inode.iocachectr", "assign", "0", 8, ["rcu"])
    assert exits(fn) == {(6, "errno", (), ()), (11, "errno", (), (("ref:backing_drop", 1),)), (13, "zero", (), ())}
    # without the pair, nothing is known about the two calls
    assert exits(analyze_snippet(code).functions["use"]) == {(6, "errno", (), ()), (11, "errno", (), ()),
                                                             (13, "zero", (), ())}
