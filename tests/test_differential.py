"""Differential review: a function compared with itself before the series, path by path, on
C snippets parsed for real. Each planted regression is reported once, by the rule of its
problem; balanced changes and moved code give nothing."""

from __future__ import annotations

import pytest

from tests.test_checks import series_step

RULES = ("refcount-leak", "lock-imbalance", "unlocked-read", "unlocked-write")

# a release no table knows, found by its name; an acquire found by its name too
MAP_BUF = """
int foo_fill(struct foo_inode *fi, int n)
{
	struct foo_buf *buf;
	int err;

	buf = foo_map_buf(fi, n);
	if (!buf)
		return -ENOMEM;
	err = foo_copy(buf, n);
	if (err)
		goto out;
	err = foo_commit(fi, buf);
out:
	foo_unmap_buf(fi, buf);
	return err;
}
"""

LOCKED = """
int foo_set_mode(struct foo_inode *fi, int mode)
{
	int err = 0;

	mutex_lock(&fi->mutex);
	if (fi->users) {
		err = -EBUSY;
		goto out_unlock;
	}
	fi->mode = mode;
out_unlock:
	mutex_unlock(&fi->mutex);
	return err;
}
"""

CLOCK = """
struct clk_hw *foo_clk_hw(struct device_node *np, const char *name)
{
	struct clk *clk;
	struct clk_hw *hw;

	clk = of_clk_get_by_name(np, name);
	if (IS_ERR(clk))
		return ERR_PTR(-ENOENT);
	hw = __clk_get_hw(clk);
	clk_put(clk);
	return hw;
}
"""


def new_findings(before: str, after: str) -> list:
    return [f for rule in RULES for f in series_step(before, after, rule)]


def test_a_release_deleted_from_a_path():
    after = CLOCK.replace("\thw = __clk_get_hw(clk);\n\tclk_put(clk);\n\treturn hw;",
                          "\treturn __clk_get_hw(clk);")
    [finding] = new_findings(CLOCK, after)
    assert (finding.rule, finding.function, finding.subject) == ("refcount-leak", "foo_clk_hw", "clk_put")
    assert finding.message.startswith("before this patch the path of foo_clk_hw() that returns a pointer")
    assert "without it" in finding.message


def test_a_new_early_return_skips_a_release_known_only_by_its_name():
    after = MAP_BUF.replace("\terr = foo_commit(fi, buf);",
                            "\tif (n > 8)\n\t\treturn -EINVAL;\n\terr = foo_commit(fi, buf);")
    [finding] = new_findings(MAP_BUF, after)
    assert (finding.rule, finding.subject) == ("refcount-leak", "foo_unmap_buf")
    assert "every path out of foo_fill() that called foo_map_buf() ran foo_unmap_buf()" in finding.message
    assert finding.line == after.splitlines().index("\t\treturn -EINVAL;") + 1 + \
        series_line_offset()


def test_a_goto_to_the_unlock_turned_into_a_return_is_reported_once():
    after = LOCKED.replace("\t\terr = -EBUSY;\n\t\tgoto out_unlock;", "\t\treturn -EBUSY;")
    findings = new_findings(LOCKED, after)
    assert [(f.rule, f.subject) for f in findings] == [("lock-imbalance", "foo_inode.mutex")]


def test_an_unlock_deleted_from_one_branch():
    before = """
int foo_drop(struct foo_inode *fi)
{
	mutex_lock(&fi->mutex);
	if (fi->users) {
		mutex_unlock(&fi->mutex);
		return -EBUSY;
	}
	fi->mode = 0;
	mutex_unlock(&fi->mutex);
	return 0;
}
"""
    after = before.replace("\t\tmutex_unlock(&fi->mutex);\n\t\treturn -EBUSY;", "\t\treturn -EBUSY;")
    findings = new_findings(before, after)
    assert [(f.rule, f.subject) for f in findings] == [("lock-imbalance", "foo_inode.mutex")]


def test_a_write_moved_out_of_its_lock():
    after = LOCKED.replace("\tfi->mode = mode;\nout_unlock:\n\tmutex_unlock(&fi->mutex);\n",
                           "out_unlock:\n\tmutex_unlock(&fi->mutex);\n\tif (!err)\n\t\tfi->mode = mode;\n")
    [finding] = new_findings(LOCKED, after)
    assert (finding.rule, finding.subject) == ("unlocked-write", "foo_inode.mutex")
    assert "`fi->mode` ran under `foo_inode.mutex` before this patch" in finding.message


@pytest.mark.parametrize("change", [
    # moved code: lines shift, nothing else changes
    lambda code: code.replace("{\n", "{\n\t/* a comment\n\t * over two lines */\n", 1),
    # a new check that leaves through the release label
    lambda code: code.replace("\terr = foo_commit(fi, buf);",
                              "\tif (n > 8) {\n\t\terr = -EINVAL;\n\t\tgoto out;\n\t}\n\terr = foo_commit(fi, buf);"),
    # a release moved earlier on the same paths
    lambda code: code.replace("\terr = foo_commit(fi, buf);\nout:\n\tfoo_unmap_buf(fi, buf);",
                              "\terr = foo_commit(fi, buf);\n\tfoo_unmap_buf(fi, buf);\n\treturn err;\nout:\n"
                              "\tfoo_unmap_buf(fi, buf);"),
])
def test_balanced_changes_give_nothing(change):
    after = change(MAP_BUF)
    assert after != MAP_BUF
    assert new_findings(MAP_BUF, after) == []


def test_a_read_section_is_not_a_field_lock():
    before = """
int foo_peek(struct foo_inode *fi)
{
	int mode;

	rcu_read_lock();
	mode = fi->mode;
	rcu_read_unlock();
	return mode;
}
"""
    after = before.replace("\trcu_read_lock();\n", "").replace("\trcu_read_unlock();\n", "")
    assert new_findings(before, after) == []


def series_line_offset() -> int:
    from tests.test_checks import HEADER
    return len(HEADER.splitlines())


def test_a_bit_no_longer_put_back_on_one_path():
    before = """
int foo_scan(struct foo_inode *fi, int n)
{
	set_bit(FOO_I_BUSY, &fi->state);
	if (n > 8) {
		clear_bit(FOO_I_BUSY, &fi->state);
		return -EINVAL;
	}
	fi->mode = n;
	clear_bit(FOO_I_BUSY, &fi->state);
	return 0;
}
"""
    after = before.replace("\t\tclear_bit(FOO_I_BUSY, &fi->state);\n\t\treturn -EINVAL;", "\t\treturn -EINVAL;")
    findings = [f for f in series_step(before, after, "state-imbalance")]
    assert [(f.function, f.subject) for f in findings] == [("foo_scan", "foo_inode.state:FOO_I_BUSY")]
    assert "left `foo_inode.state:FOO_I_BUSY` clear; after it" in findings[0].message
    assert series_step(before, before.replace("\tfi->mode = n;\n", ""), "state-imbalance") == []


def test_a_put_deleted_from_one_path():
    before = """
int foo_wait(struct foo_req *rq, int n)
{
	if (foo_done(rq))
		return 0;
	foo_cancel(rq);
	kref_put(&rq->ref, foo_destroy);
	return -EIO;
}
"""
    after = before.replace("\tkref_put(&rq->ref, foo_destroy);\n", "")
    findings = series_step(before, after, "state-imbalance") + series_step(before, after, "refcount-leak")
    assert [(f.rule, f.subject) for f in findings] == [("refcount-leak", "foo_req.ref")]
    assert "left `foo_req.ref` moved by -1; after it" in findings[0].message


def test_a_test_moved_out_of_a_lock_no_rule_guards():
    # `foo_inode.mode` has no guard anywhere (one function, one site): the test that left the
    # lock is still reported, against the base
    before = """
int foo_once(struct foo_inode *fi)
{
	int err = 0;

	mutex_lock(&fi->mutex);
	if (fi->mode)
		err = -EBUSY;
	mutex_unlock(&fi->mutex);
	return err;
}
"""
    after = before.replace("\tmutex_lock(&fi->mutex);\n\tif (fi->mode)\n\t\terr = -EBUSY;\n",
                           "\tif (fi->mode)\n\t\terr = -EBUSY;\n\tmutex_lock(&fi->mutex);\n")
    findings = series_step(before, after, "unlocked-read")
    assert [(f.rule, f.subject) for f in findings] == [("unlocked-read", "foo_inode.mutex")]


def test_a_clear_deleted_from_the_paths_that_made_it():
    before = """
void foo_done(struct foo_inode *fi)
{
	fi->mode = 0;
	clear_bit(FOO_I_KEEP, &fi->state);
	clear_bit(FOO_I_BUSY, &fi->state);
}
"""
    after = before.replace("\tclear_bit(FOO_I_KEEP, &fi->state);\n", "")
    findings = series_step(before, after, "state-imbalance")
    assert [(f.function, f.subject) for f in findings] == [("foo_done", "foo_inode.state:FOO_I_KEEP")]
    assert "left `foo_inode.state:FOO_I_KEEP` clear; after it" in findings[0].message


# a void function: both sides of its test return at the end, one after the put
PORT_DONE = """
void foo_port_done(struct foo_queue *q)
{
	struct foo_port *port;

	port = foo_find_port(q);
	if (!port) {
		foo_flush(q);
		return;
	}
	wake_up(&port->wait);
	foo_port_put(port);
}
"""


def test_a_put_deleted_from_the_side_of_a_test_that_made_it():
    after = PORT_DONE.replace("\tfoo_port_put(port);\n", "")
    [finding] = new_findings(PORT_DONE, after)
    assert (finding.rule, finding.function, finding.subject) == ("refcount-leak", "foo_port_done", "foo_port_put")
    assert "`!port` is false" in finding.evidence[-1]
    assert new_findings(PORT_DONE, PORT_DONE.replace("\twake_up(&port->wait);\n", "")) == []


# the two sides of the test end alike once the free is gone: one path out of the function
QUEUE_EVENT = """
void foo_queue_event(struct foo_dev *dev, struct foo_regs *regs)
{
	if (foo_fifo_in(dev, regs))
		schedule_work(&dev->work);
	else
		foo_pool_free(dev, regs);
}
"""


def test_a_free_deleted_where_the_paths_merge():
    after = QUEUE_EVENT.replace("\telse\n\t\tfoo_pool_free(dev, regs);\n", "")
    [finding] = new_findings(QUEUE_EVENT, after)
    assert (finding.rule, finding.function, finding.subject) == ("refcount-leak", "foo_queue_event", "foo_pool_free")
    assert "is false" in finding.evidence[-1]
    # the same free on the same path, written as an early return
    moved = QUEUE_EVENT.replace(
        "\tif (foo_fifo_in(dev, regs))\n\t\tschedule_work(&dev->work);\n\telse\n\t\tfoo_pool_free(dev, regs);\n",
        "\tif (!foo_fifo_in(dev, regs)) {\n\t\tfoo_pool_free(dev, regs);\n\t\treturn;\n\t}\n"
        "\tschedule_work(&dev->work);\n")
    assert new_findings(QUEUE_EVENT, moved) == []


# three tests of the same `error`: each return is past one more of them
BM_SETUP = """
int foo_bm_setup(struct foo_dev *dev)
{
	int error;

	error = foo_load_header(dev);
	if (error)
		return error;
	error = foo_bm_create(&dev->copy);
	if (error)
		return error;
	error = foo_bm_create(&dev->zero);
	if (error) {
		foo_bm_free(&dev->copy);
		return error;
	}
	return 0;
}
"""


def test_a_free_deleted_past_a_third_test_of_the_same_error():
    after = BM_SETUP.replace("\tif (error) {\n\t\tfoo_bm_free(&dev->copy);\n\t\treturn error;\n\t}\n",
                             "\tif (error)\n\t\treturn error;\n")
    [finding] = new_findings(BM_SETUP, after)
    assert (finding.rule, finding.function, finding.subject) == ("refcount-leak", "foo_bm_setup", "foo_bm_free")
    assert "(where `error` is false, `error` is false, `error` is true)" in finding.evidence[-1]
    # the same free through a cleanup label
    label = BM_SETUP.replace("\tif (error) {\n\t\tfoo_bm_free(&dev->copy);\n\t\treturn error;\n\t}\n\treturn 0;\n",
                             "\tif (error)\n\t\tgoto out_free;\n\treturn 0;\nout_free:\n"
                             "\tfoo_bm_free(&dev->copy);\n\treturn error;\n")
    assert new_findings(BM_SETUP, label) == []


# one release API for two objects on the same path
ADD_CHILD = """
int foo_add_child(struct foo_dev *dev, struct foo_child *child)
{
	int ret;

	child->parent = get_device(&dev->dev);
	ret = device_register(&child->dev);
	if (ret) {
		put_device(child->parent);
		put_device(&child->dev);
		return ret;
	}
	return 0;
}
"""


def test_one_of_two_puts_of_the_same_api_deleted():
    after = ADD_CHILD.replace("\t\tput_device(child->parent);\n", "")
    [finding] = new_findings(ADD_CHILD, after)
    assert (finding.rule, finding.function, finding.subject) == ("refcount-leak", "foo_add_child", "put_device")
    assert "called put_device(child->parent) (line" in finding.message
    # the same two puts, in the other order or with the object written otherwise
    swapped = ADD_CHILD.replace("\t\tput_device(child->parent);\n\t\tput_device(&child->dev);\n",
                                "\t\tput_device(&child->dev);\n\t\tput_device(child->parent);\n")
    assert new_findings(ADD_CHILD, swapped) == []
    rewritten = ADD_CHILD.replace("put_device(child->parent)", "put_device(dev_parent(child))")
    assert new_findings(ADD_CHILD, rewritten) == []


# a count inside a tagless union member of the struct: `buf->u.exp.refcount`
WAIT_NEW = """
struct foo_buf {
	int kind;
	union {
		struct {
			struct kref refcount;
			int fd;
		} exp;
		struct {
			int count;
		} imp;
	} u;
};

struct foo_wait *foo_wait_new(struct foo_priv *priv, struct foo_buf *buf)
{
	struct foo_wait *obj;

	obj = kzalloc(sizeof(*obj), GFP_KERNEL);
	if (!obj) {
		kref_put(&buf->u.exp.refcount, foo_buf_release);
		return ERR_PTR(-ENOMEM);
	}
	obj->buf = buf;
	kref_put(&buf->u.exp.refcount, foo_buf_release);
	return obj;
}
"""


def test_a_put_of_a_count_in_a_tagless_member_deleted():
    after = WAIT_NEW.replace("\tif (!obj) {\n\t\tkref_put(&buf->u.exp.refcount, foo_buf_release);\n"
                             "\t\treturn ERR_PTR(-ENOMEM);\n\t}\n", "\tif (!obj)\n\t\treturn ERR_PTR(-ENOMEM);\n")
    [finding] = new_findings(WAIT_NEW, after)
    assert (finding.rule, finding.function, finding.subject) == \
        ("refcount-leak", "foo_wait_new", "foo_buf.u.exp.refcount")
    assert new_findings(WAIT_NEW, WAIT_NEW.replace("\tobj->buf = buf;\n", "")) == []


# a counter the error return leaves raised, before the series and after it (another problem)
WAIT_REQ = """
int foo_wait_req(struct foo_inode *fi, struct foo_req *rq)
{
	int ret = 0;

	refcount_inc(&fi->users);
	if (foo_wait(rq))
		ret = -EINTR;
	foo_req_put(rq);
	if (ret)
		goto error;
	refcount_dec(&fi->users);
	return 0;
error:
	return ret;
}
"""


def test_a_put_moved_below_the_test_is_reported_beside_an_older_finding_at_the_same_return():
    after = WAIT_REQ.replace("\tfoo_req_put(rq);\n\tif (ret)\n\t\tgoto error;\n",
                             "\tif (ret)\n\t\tgoto error;\n\tfoo_req_put(rq);\n")
    older = series_step(WAIT_REQ, WAIT_REQ, "refcount-leak")
    assert [f.subject for f in older] == ["foo_inode.users"]
    findings = series_step(WAIT_REQ, after, "refcount-leak")
    assert sorted(f.subject for f in findings) == ["foo_inode.users", "foo_req_put"]
    assert len({f.line for f in findings}) == 1
    # the put on both sides of the test
    both = WAIT_REQ.replace("\tfoo_req_put(rq);\n\tif (ret)\n\t\tgoto error;\n",
                            "\tif (ret) {\n\t\tfoo_req_put(rq);\n\t\tgoto error;\n\t}\n\tfoo_req_put(rq);\n")
    assert [f.subject for f in series_step(WAIT_REQ, both, "refcount-leak")] == ["foo_inode.users"]


HAS_PINCTRL = """
int foo_has_pinctrl(void)
{
	struct device_node *np;
	int i;

	for (i = 0; i < 3; i++) {
		np = of_find_compatible_node(NULL, NULL, foo_compats[i]);
		if (np) {
			of_node_put(np);
			return 1;
		}
	}
	return 0;
}
"""


def test_an_acquire_only_tested_keeps_a_reference_nobody_can_release():
    after = HAS_PINCTRL.replace(
        "\t\tnp = of_find_compatible_node(NULL, NULL, foo_compats[i]);\n\t\tif (np) {\n\t\t\tof_node_put(np);\n",
        "\t\tif (of_find_compatible_node(NULL, NULL, foo_compats[i])) {\n")
    [finding] = new_findings(HAS_PINCTRL, after)
    assert (finding.rule, finding.subject) == ("refcount-leak", "of_node_put")
    assert "tests what of_find_compatible_node() returns" in finding.message
    assert "keeps it nowhere" in finding.message and "of_node_put()" in finding.message
    assert new_findings(HAS_PINCTRL, HAS_PINCTRL.replace("foo_compats[i]", "foo_compats[i + 1]")) == []
    # an acquire that answers 0 or an error code is tested by its nature
    irq = """
int foo_irq(struct foo_dev *dev)
{
	if (request_irq(dev->irq, foo_isr, 0, "foo", dev))
		return -EBUSY;
	return 0;
}
"""
    assert new_findings(HAS_PINCTRL, HAS_PINCTRL + irq) == []


# an error label past the return that jumps back to the common exit
REGISTER = """
int foo_register(struct foo_dev *dev)
{
	int rv;

	mutex_lock(&dev->mutex);
	dev->id = ida_alloc(&foo_ida, GFP_KERNEL);
	if (dev->id < 0) {
		rv = dev->id;
		goto out;
	}
	rv = foo_add(dev);
	if (rv)
		goto out_free_id;
out:
	mutex_unlock(&dev->mutex);
	return rv;

out_free_id:
	ida_free(&foo_ida, dev->id);
	goto out;
}
"""


def test_a_release_deleted_from_an_error_label_that_jumps_back_to_the_exit():
    after = REGISTER.replace("\tida_free(&foo_ida, dev->id);\n", "")
    [finding] = new_findings(REGISTER, after)
    assert (finding.rule, finding.subject) == ("refcount-leak", "ida_free")
    assert finding.line == after.splitlines().index("\treturn rv;") + 1 + series_line_offset()
    # the path back to the exit unlocks like the others
    assert series_step(REGISTER, REGISTER, "lock-imbalance") == []
    assert new_findings(REGISTER, REGISTER.replace("\trv = foo_add(dev);\n", "\trv = foo_add(dev, 0);\n")) == []


# a put under a test: the pending work holds a reference already
SCHEDULE = """
void foo_rel_schedule(struct foo_rel *rel)
{
	foo_rel_get(rel);
	if (!schedule_work(&rel->work))
		foo_rel_put(rel);
}
"""


def test_a_put_deleted_with_the_test_it_was_under():
    after = SCHEDULE.replace("\tif (!schedule_work(&rel->work))\n\t\tfoo_rel_put(rel);\n", "\tschedule_work(&rel->work);\n")
    [finding] = new_findings(SCHEDULE, after)
    assert (finding.rule, finding.subject) == ("refcount-leak", "foo_rel_put")
    assert "called foo_rel_put(rel) under the test `!schedule_work(&rel->work)`" in finding.message
    # the test written the other way round, the put kept
    rewritten = SCHEDULE.replace("\tif (!schedule_work(&rel->work))\n\t\tfoo_rel_put(rel);\n",
                                 "\tif (schedule_work(&rel->work))\n\t\treturn;\n\tfoo_rel_put(rel);\n")
    assert new_findings(SCHEDULE, rewritten) == []


SHUTDOWN = """
void foo_shutdown(struct foo_cam *cam)
{
	if (!list_empty(&cam->users))
		foo_power_off(cam);
	if (cam->mode == FOO_VMALLOC)
		foo_free_bufs(cam);
	foo_ctrls_free(cam);
}
"""


def test_a_new_test_that_splits_a_path_loses_no_release():
    # the base path past `!list_empty()` now passes one more test: no path lost its free
    after = SHUTDOWN.replace("\t\tfoo_power_off(cam);\n",
                             "\t{\n\t\tif (cam->state == FOO_STREAMING)\n\t\t\tfoo_stop_dma(cam);\n"
                             "\t\tfoo_power_off(cam);\n\t}\n")
    assert new_findings(SHUTDOWN, after) == []


def test_a_put_moved_out_of_the_lock_is_no_unlocked_write():
    before = """
void foo_drop(struct foo_priv *priv, struct foo_buf *buf)
{
	mutex_lock(&priv->lock);
	list_del(&buf->next);
	kref_put(&buf->refcount, foo_buf_release);
	mutex_unlock(&priv->lock);
}
"""
    after = before.replace("\tkref_put(&buf->refcount, foo_buf_release);\n\tmutex_unlock(&priv->lock);\n",
                           "\tmutex_unlock(&priv->lock);\n\tkref_put(&buf->refcount, foo_buf_release);\n")
    assert new_findings(before, after) == []


QUEUE = """
struct foo_req { struct list_head node; int len; };
struct foo_queue { struct mutex mutex; spinlock_t lock; struct list_head reqs; struct foo_req __rcu *cur; };

void foo_unqueue(struct foo_queue *q, struct foo_req *rq)
{
	mutex_lock(&q->mutex);
	spin_lock(&q->lock);
	list_del(&rq->node);
	spin_unlock(&q->lock);
	mutex_unlock(&q->mutex);
}

int foo_first_len(struct foo_queue *q)
{
	struct foo_req *rq;

	spin_lock(&q->lock);
	if (list_empty(&q->reqs)) {
		spin_unlock(&q->lock);
		return 0;
	}
	rq = list_first_entry(&q->reqs, struct foo_req, node);
	spin_unlock(&q->lock);
	return rq->len;
}

void foo_swap(struct foo_queue *q, struct foo_req *rq)
{
	struct foo_req *old;

	spin_lock(&q->lock);
	old = rcu_replace_pointer(q->cur, rq, lockdep_is_held(&q->lock));
	spin_unlock(&q->lock);
	kfree_rcu(old, rcu);
}
"""


def test_a_list_entry_removed_outside_a_lock_it_was_removed_under():
    after = QUEUE.replace("\tmutex_lock(&q->mutex);\n\tspin_lock", "\tspin_lock") \
        .replace("\tmutex_unlock(&q->mutex);\n}", "}")
    findings = new_findings(QUEUE, after)
    assert [(f.rule, f.function, f.subject) for f in findings] == [
        ("unlocked-write", "foo_unqueue", "foo_queue.mutex")]
    assert "`rq->node` ran under `foo_queue.mutex` before this patch" in findings[0].message
    # the entry removed under both locks, one line lower: nothing
    moved = QUEUE.replace("\tmutex_lock(&q->mutex);\n", "\tmutex_lock(&q->mutex);\n\n")
    assert new_findings(QUEUE, moved) == []


def test_a_list_head_read_outside_its_lock():
    after = QUEUE.replace("\tspin_lock(&q->lock);\n\tif (list_empty(&q->reqs)) {\n\t\tspin_unlock(&q->lock);\n"
                          "\t\treturn 0;\n\t}\n\trq = list_first_entry(&q->reqs, struct foo_req, node);\n"
                          "\tspin_unlock(&q->lock);\n",
                          "\tif (list_empty(&q->reqs))\n\t\treturn 0;\n"
                          "\trq = list_first_entry(&q->reqs, struct foo_req, node);\n")
    assert after != QUEUE
    findings = new_findings(QUEUE, after)
    assert [(f.rule, f.function, f.subject) for f in findings] == [
        ("unlocked-read", "foo_first_len", "foo_queue.lock")]
    assert "`q->reqs` ran under `foo_queue.lock` before this patch" in findings[0].message


def test_an_rcu_pointer_published_outside_the_lock_that_serialised_its_updates():
    after = QUEUE.replace("\tspin_lock(&q->lock);\n\told = rcu_replace_pointer(q->cur, rq, lockdep_is_held(&q->lock));\n"
                          "\tspin_unlock(&q->lock);\n",
                          "\told = rcu_dereference_raw(q->cur);\n\trcu_assign_pointer(q->cur, rq);\n")
    assert after != QUEUE
    findings = new_findings(QUEUE, after)
    assert [(f.rule, f.function, f.subject) for f in findings] == [("unlocked-write", "foo_swap", "foo_queue.lock")]
    # published under the lock still: nothing
    locked = after.replace("\trcu_assign_pointer(q->cur, rq);\n",
                           "\tspin_lock(&q->lock);\n\trcu_assign_pointer(q->cur, rq);\n\tspin_unlock(&q->lock);\n")
    assert new_findings(QUEUE, locked) == []


def test_a_lock_lost_around_a_read_an_inferred_guard_already_missed():
    # `fi->mode` is used under `fi->mutex` at four sites, so inference guards it with the
    # mutex; foo_peek() read it under the spinlock, which the patch drops: the read missed the
    # mutex before and after (the same finding), and lost the spinlock (a new one)
    sites = "".join(f"""
int foo_mode{i}(struct foo_inode *fi)
{{
	int mode;

	mutex_lock(&fi->mutex);
	mode = fi->mode;
	mutex_unlock(&fi->mutex);
	return mode;
}}
""" for i in range(3))
    before = sites + """
void foo_mode_set(struct foo_inode *fi, int mode)
{
	mutex_lock(&fi->mutex);
	fi->mode = mode;
	mutex_unlock(&fi->mutex);
}

int foo_peek(struct foo_inode *fi)
{
	int mode;

	spin_lock(&fi->lock);
	mode = fi->mode;
	spin_unlock(&fi->lock);
	return mode;
}
"""
    after = before.replace("\tspin_lock(&fi->lock);\n\tmode = fi->mode;\n\tspin_unlock(&fi->lock);\n",
                           "\tmode = fi->mode;\n")
    at_base = [f for f in series_step(before, before, "unlocked-read") if f.function == "foo_peek"]
    assert [f.message for f in at_base] == ["`fi->mode` reads `foo_inode.mode` without `foo_inode.mutex`"]
    findings = [f for f in series_step(before, after, "unlocked-read") if f.function == "foo_peek"]
    assert [(f.subject, f.message) for f in findings] == [
        ("foo_inode.lock", "`fi->mode` ran under `foo_inode.lock` before this patch; after it, line "
                           f"{findings[0].line} runs it without the lock")]
    assert findings[0].fingerprint != at_base[0].fingerprint


PROBE = """
int foo_probe(struct foo_dev *dev)
{
	unsigned int nofs;
	int err;

	err = foo_hw_start(dev);
	if (err)
		return err;
	nofs = memalloc_foo_save();
	err = foo_setup(dev);
	if (err) {
		memalloc_foo_restore(nofs);
		goto err_stop;
	}
	memalloc_foo_restore(nofs);
	return 0;
err_stop:
	foo_hw_stop(dev);
	return err;
}
"""


def all_rules(before: str, after: str) -> list:
    return [(f.rule, f.subject) for rule in (*RULES, "state-imbalance") for f in series_step(before, after, rule)]


def test_a_state_left_on_an_error_path_is_a_state_imbalance_not_a_leak():
    # a `*_stop()` that ended what a start began, a `*_restore()` of a saved context: each
    # lost from the error path is reported once, as what it is
    stop_lost = PROBE.replace("\t\tgoto err_stop;", "\t\treturn err;")
    assert all_rules(PROBE, stop_lost) == [("state-imbalance", "foo_hw_stop")]
    restore_lost = PROBE.replace("\t\tmemalloc_foo_restore(nofs);\n\t\tgoto err_stop;", "\t\tgoto err_stop;")
    [finding] = series_step(PROBE, restore_lost, "state-imbalance")
    assert finding.subject == "memalloc_foo_restore"
    assert finding.message.startswith("before this patch the path of foo_probe() that returns a value")
    assert "called memalloc_foo_restore(nofs) (line" in finding.message
    # the restore and the stop kept, one more step on the way: nothing
    longer = PROBE.replace("\treturn 0;\nerr_stop:", "\tfoo_note(dev);\n\treturn 0;\nerr_stop:")
    assert all_rules(PROBE, longer) == []


FAULT = """
int foo_fault(struct foo_vmf *vmf, struct file *fpin, int ret)
{
	if (ret == -EAGAIN) {
		foo_redirty(vmf);
		foo_folio_unlock(vmf);
	}
	if (fpin)
		fput(fpin);
	else if (!(vmf->flags & FOO_NOWAIT))
		release_foo_fault_lock(vmf);
	return ret;
}
"""


def test_a_conditional_unlock_deleted_with_its_test():
    # the path with no file and no NOWAIT dropped the fault lock at the base; with the test
    # gone it returns holding it. The path with a file still puts it: not a lost fput()
    after = FAULT.replace("\n\telse if (!(vmf->flags & FOO_NOWAIT))\n\t\trelease_foo_fault_lock(vmf);", "")
    findings = [f for rule in RULES for f in series_step(FAULT, after, rule)]
    assert [(f.rule, f.subject) for f in findings] == [("lock-imbalance", "release_foo_fault_lock")]
    assert "called release_foo_fault_lock(vmf)" in findings[0].message
    # the same for an unlock helper with the test before it
    after = FAULT.replace("\tif (ret == -EAGAIN) {\n\t\tfoo_redirty(vmf);\n\t\tfoo_folio_unlock(vmf);\n\t}\n", "")
    assert all_rules(FAULT, after) == [("lock-imbalance", "foo_folio_unlock")]


NOTIFY = """
struct foo_notif { int state; unsigned int flags; };
enum { FOO_SENT, FOO_REPLIED };

int foo_addfd(struct foo_notif *n, int flags)
{
	unsigned int saved = n->flags;
	int ret;

	n->flags |= FOO_BUSY;
	if (flags & FOO_SEND)
		n->state = FOO_REPLIED;
	ret = foo_wait(n);
	if (ret) {
		n->state = FOO_SENT;
		n->flags = saved;
		return ret;
	}
	return 0;
}
"""


@pytest.mark.parametrize("restore, key", [("\t\tn->state = FOO_SENT;\n", "foo_notif.state"),
                                          ("\t\tn->flags = saved;\n", "foo_notif.flags")])
def test_a_field_no_longer_put_back_on_an_error_path(restore, key):
    after = NOTIFY.replace(restore, "")
    findings = series_step(NOTIFY, after, "state-imbalance")
    assert [(f.function, f.subject) for f in findings] == [("foo_addfd", key)]
    assert f"left `{key}` put back (line" in findings[0].message
    assert findings[0].message.endswith("leaving it changed")
    assert all_rules(NOTIFY, after) == [("state-imbalance", key)]


def test_a_store_dropped_before_the_last_one_is_not_a_lost_put_back():
    before = """
struct foo_notif { int state; unsigned int flags; };
enum { FOO_IDLE, FOO_BUSY };

void foo_arm(struct foo_notif *n)
{
	n->state = FOO_IDLE;
	foo_prepare(n);
	n->state = FOO_BUSY;
}
"""
    assert all_rules(before, before.replace("\tn->state = FOO_IDLE;\n", "")) == []


def test_a_step_deleted_with_its_test_is_not_a_state_imbalance():
    # the series drops a conditional step that cleared a bit: a missing step it may mean,
    # not a path that leaves a state it used to put back
    before = """
void foo_stop_dma(struct foo_inode *fi)
{
	clear_bit(FOO_I_BUSY, &fi->state);
}

void foo_shutdown(struct foo_inode *fi)
{
	if (fi->mode == MODE_ON)
		foo_stop_dma(fi);
	foo_power_off(fi);
}
"""
    after = before.replace("\tif (fi->mode == MODE_ON)\n\t\tfoo_stop_dma(fi);\n", "")
    assert series_step(before, after, "state-imbalance") == []
    # the clear deleted from a path that still makes the test is
    kept_test = before.replace("\t\tfoo_stop_dma(fi);\n", "\t\tfoo_note(fi);\n")
    assert [f.subject for f in series_step(before, kept_test, "state-imbalance")] == ["foo_inode.state:FOO_I_BUSY"]


def test_a_lock_lost_that_the_inferred_guard_names_is_reported_once_with_its_guard():
    from tests.test_checks import LOCKED_SITES
    before = LOCKED_SITES + """
void foo_users_bump(struct foo_inode *fi)
{
	spin_lock(&fi->lock);
	fi->users++;
	spin_unlock(&fi->lock);
}
"""
    after = before[:before.rindex("\tspin_lock(&fi->lock);")] + "\tfi->users++;\n}\n"
    findings = [f for f in series_step(before, after, "unlocked-write") if f.function == "foo_users_bump"]
    assert [(f.subject, f.message) for f in findings] == [
        ("foo_inode.users", "`fi->users` writes `foo_inode.users` without `foo_inode.lock`")]


def test_a_lock_of_one_object_around_a_field_of_an_object_defined_out_of_view():
    # `foo_cam.vdev` is a `struct vid_dev` defined elsewhere, whose own code locks its list:
    # the camera's mutex around a look at it does not guard it
    before = """
struct foo_cam { struct mutex s_mutex; struct vid_dev vdev; int state; };

void foo_cam_shutdown(struct foo_cam *cam)
{
	mutex_lock(&cam->s_mutex);
	if (!list_empty(&cam->vdev.fh_list))
		foo_warn(cam);
	mutex_unlock(&cam->s_mutex);
}
"""
    after = before.replace("\tmutex_lock(&cam->s_mutex);\n", "").replace("\tmutex_unlock(&cam->s_mutex);\n", "")
    assert new_findings(before, after) == []
    # a field of its own, and one under a global lock, are still reported
    own = before.replace("!list_empty(&cam->vdev.fh_list)", "cam->state")
    assert [f.subject for f in new_findings(own, own.replace("\tmutex_lock(&cam->s_mutex);\n", "")
                                            .replace("\tmutex_unlock(&cam->s_mutex);\n", ""))] == ["foo_cam.s_mutex"]
    global_lock = before.replace("&cam->s_mutex", "&foo_cams_lock")
    assert [f.subject for f in new_findings(global_lock, after.replace("&cam->s_mutex", "&foo_cams_lock"))] \
        == ["foo_cams_lock"]


def test_a_put_back_moved_into_a_new_helper_is_not_lost():
    # the store that put the flags back now happens in a helper the function did not call
    after = NOTIFY.replace("\t\tn->flags = saved;\n", "\t\tfoo_flags_set(n, saved);\n")
    assert all_rules(NOTIFY, after) == []


def test_a_lock_lost_around_a_field_is_silenced_by_a_suppress_entry_for_the_field():
    """The finding is about the lock (its identity: a lock lost is news beside an older finding
    on the field), and a [[suppress]] entry for the field silences it too."""
    from reviewbot.checks.suppress import suppressed
    from reviewbot.knowledge.config import Config

    after = LOCKED.replace("\tfi->mode = mode;\nout_unlock:\n\tmutex_unlock(&fi->mutex);\n",
                           "out_unlock:\n\tmutex_unlock(&fi->mutex);\n\tif (!err)\n\t\tfi->mode = mode;\n")
    [finding] = new_findings(LOCKED, after)
    assert (finding.subject, finding.field_key) == ("foo_inode.mutex", "foo_inode.mode")

    def silenced(subject: str) -> bool:
        config = Config(profiles=[], suppress=[{"rule": "unlocked-write", "subject": subject}])
        return suppressed(finding, after.splitlines(), config)

    assert silenced("foo_inode.mo*") and silenced("foo_inode.mutex")
    assert not silenced("foo_inode.users")
