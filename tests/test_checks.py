"""The rules on small C snippets (parsed for real) and on hand-built facts where the case is
about hunk-only lock state, which whole files never have."""

from __future__ import annotations

import pytest

from reviewbot.c import Program, analyze_text
from reviewbot.c.model import ASSIGN, READ, UNKNOWN_LOCKS, Access, Call, Condition, FileFacts, FunctionFacts
from reviewbot.checks import CHECKS, RULES
from reviewbot.checks.base import CheckContext, Rule
from reviewbot.checks.suppress import inline_ignored, suppressed
from reviewbot.findings import Finding
from reviewbot.knowledge import build_knowledge
from reviewbot.knowledge.config import Config
from reviewbot.review import run_checks
from reviewbot.workspace import HUNK_ONLY, TREE

HEADER = """
struct foo_inode { spinlock_t lock; int users; unsigned long state; int mode; };
struct foo_file { int mode; };
enum { FOO_I_BUSY, FOO_I_KEEP };
enum foo_mode { MODE_NONE, MODE_ON };
"""

# three locked sites make `foo_inode.users` and `foo_file.mode` guarded by `foo_inode.lock`
LOCKED_SITES = """
void foo_users_get(struct foo_inode *fi)
{
	spin_lock(&fi->lock);
	fi->users++;
	spin_unlock(&fi->lock);
}

void foo_users_put(struct foo_inode *fi)
{
	spin_lock(&fi->lock);
	fi->users--;
	spin_unlock(&fi->lock);
}

int foo_mode_on(struct foo_inode *fi, struct foo_file *ff)
{
	spin_lock(&fi->lock);
	WARN_ON(ff->mode != MODE_NONE);
	ff->mode = MODE_ON;
	fi->users++;
	spin_unlock(&fi->lock);
	return 0;
}

void foo_mode_off(struct foo_inode *fi, struct foo_file *ff)
{
	spin_lock(&fi->lock);
	ff->mode = MODE_NONE;
	fi->users--;
	spin_unlock(&fi->lock);
}
"""


def run(code: str, rule: str | None = None, config: Config | None = None) -> list[Finding]:
    program = analyze_text("foo.c", HEADER + LOCKED_SITES + code, config)
    ctx = CheckContext(program, build_knowledge(program, config or Config(profiles=[])), TREE)
    rules = [rule] if rule else list(CHECKS)
    return [f for name in rules for f in CHECKS[name](ctx)]


def where(findings: list[Finding]) -> list[tuple[str, str, str]]:
    return [(f.rule, f.function, f.subject) for f in findings]


def test_registry_finds_six_documented_rules():
    assert sorted(RULES) == ["check-then-act", "lock-imbalance", "refcount-leak",
                             "state-imbalance", "unlocked-read", "unlocked-write"]
    assert list(CHECKS) == list(RULES)
    for rule in RULES.values():
        assert rule.severity in ("high", "medium")
        assert rule.question.endswith("?") and rule.question != Rule.question, rule.name
        for part in ("**What it finds.**", "**Why it matters.**", "**Example.**", "**Silence it**",
                     f"reviewbot: ignore[{rule.name}]"):
            assert part in rule.doc, (rule.name, part)


def test_the_locked_sites_alone_give_nothing():
    assert run("") == []


def test_check_then_act_through_a_helper_that_only_warns():
    findings = run("""
int foo_mmap(struct foo_inode *fi, struct foo_file *ff)
{
	if (READ_ONCE(ff->mode) != MODE_ON)
		return foo_mode_on(fi, ff);
	return 0;
}
""")
    assert where(findings) == [("check-then-act", "foo_mmap", "foo_file.mode")]
    evidence = "\n".join(findings[0].evidence)
    assert "foo_mode_on()" in evidence and "`foo_inode.lock`" in evidence


def test_check_then_act_not_when_the_helper_checks_again_under_the_lock():
    findings = run("""
int foo_mode_on_once(struct foo_inode *fi, struct foo_file *ff)
{
	spin_lock(&fi->lock);
	if (ff->mode == MODE_NONE)
		ff->mode = MODE_ON;
	spin_unlock(&fi->lock);
	return 0;
}

int foo_mmap(struct foo_inode *fi, struct foo_file *ff)
{
	if (READ_ONCE(ff->mode) != MODE_ON)
		return foo_mode_on_once(fi, ff);
	return 0;
}
""")
    assert findings == []


def test_read_once_that_gates_nothing_is_intentional():
    assert run("""
int foo_show(struct foo_inode *fi)
{
	return READ_ONCE(fi->users);
}
""") == []


def test_unlocked_write_outside_exclusive_contexts():
    findings = run("""
void foo_bump(struct foo_inode *fi)
{
	fi->users++;
}

void foo_open(struct foo_inode *fi)
{
	fi->users++;
}
""")
    assert where(findings) == [("unlocked-write", "foo_bump", "foo_inode.users")]
    assert findings[0].evidence[-1].startswith(
        "`foo_inode.users` is accessed under `foo_inode.lock` at 4 of 5 sites")


def test_unlocked_read_but_not_a_marked_read():
    findings = run("""
int foo_busy(struct foo_inode *fi)
{
	if (READ_ONCE(fi->users) > 2)
		pr_info("busy\\n");
	return fi->users > 0;
}
""")
    assert where(findings) == [("unlocked-read", "foo_busy", "foo_inode.users")]
    assert findings[0].line == HEADER.count("\n") + LOCKED_SITES.count("\n") + 6


def test_a_fresh_object_needs_no_lock():
    assert run("""
struct foo_inode *foo_new(void)
{
	struct foo_inode *fi = kzalloc(sizeof(*fi), GFP_KERNEL);

	if (!fi)
		return NULL;
	fi->users = 1;
	return fi;
}
""") == []


def test_lockdep_assert_held_means_held():
    assert run("""
void foo_bump_locked(struct foo_inode *fi)
{
	lockdep_assert_held(&fi->lock);
	fi->users++;
}
""") == []


def test_lock_imbalance_on_an_error_path():
    findings = run("""
int foo_try(struct foo_inode *fi)
{
	spin_lock(&fi->lock);
	if (fi->users < 0)
		return -EBUSY;
	fi->users++;
	spin_unlock(&fi->lock);
	return 0;
}
""", "lock-imbalance")
    assert where(findings) == [("lock-imbalance", "foo_try", "foo_inode.lock")]
    start = HEADER.count("\n") + LOCKED_SITES.count("\n")
    assert findings[0].line == start + 6
    assert [e.split(": ", 1)[1] for e in findings[0].evidence[1:]] == [
        f"returns an error holding `foo_inode.lock` (through the branches at lines {start + 5})",
        f"returns 0 without `foo_inode.lock` (through the branches at lines {start + 5})"]


def test_wrappers_and_conditional_helpers_are_not_imbalances():
    assert run("""
void foo_lock(struct foo_inode *fi)
{
	spin_lock(&fi->lock);
}

void foo_unlock(struct foo_inode *fi)
{
	spin_unlock(&fi->lock);
}

int foo_lock_killable(struct foo_inode *fi, struct mutex *m)
{
	if (mutex_lock_killable(m))
		return -EINTR;
	return 0;
}

void foo_maybe(struct foo_inode *fi, bool locked)
{
	if (locked)
		spin_lock(&fi->lock);
	fi->state = 0;
	if (locked)
		spin_unlock(&fi->lock);
}
""", "lock-imbalance") == []


UNHELD = """
int foo_early_exit(struct foo_inode *fi, int bad)
{
	int err = 0;

	if (bad) {
		err = -EINVAL;
		goto out;
	}
	spin_lock(&fi->lock);
	fi->users++;
out:
	spin_unlock(&fi->lock);
	return err;
}

void foo_unlock_helper(struct foo_inode *fi)
{
	spin_unlock(&fi->lock);
}

void foo_drop_and_retake(struct foo_inode *fi)
{
	spin_unlock(&fi->lock);
	spin_lock(&fi->lock);
}

void foo_if_needed(struct foo_inode *fi, struct foo_file *ff)
{
	if (foo_busy(ff))
		spin_lock(&fi->lock);
	fi->state = 1;
	if (foo_busy(ff))
		spin_unlock(&fi->lock);
}

void foo_retry(struct foo_inode *fi)
{
	do {
		spin_lock(&fi->lock);
		if (fi->users) {
			spin_unlock(&fi->lock);
			foo_wait(fi);
		}
	} while (fi->users);
	spin_unlock(&fi->lock);
}

void foo_two(struct foo_inode *a, struct foo_inode *b, int both)
{
	spin_lock(&a->lock);
	if (!both) {
		spin_unlock(&a->lock);
		return;
	}
	spin_lock_nested(&b->lock, 1);
	spin_unlock(&b->lock);
	spin_unlock(&a->lock);
}
"""


def test_lock_imbalance_releases_a_lock_the_path_does_not_hold():
    findings = [f for f in run(UNHELD, "lock-imbalance") if "does not hold" in f.message]
    # only the goto that jumps to the unlock from above the lock: the others release their
    # caller's lock, test a condition twice, retake it in a loop, or lock two objects of a type
    assert where(findings) == [("lock-imbalance", "foo_early_exit", "foo_inode.lock")]
    start = HEADER.count("\n") + LOCKED_SITES.count("\n")
    assert findings[0].line == start + 14
    assert findings[0].message == "foo_early_exit() releases `foo_inode.lock` on a path that does not hold it"
    assert findings[0].evidence == [
        f"foo.c:{start + 10}: `foo_inode.lock` taken (spin_lock)",
        f"foo.c:{start + 13}: `foo_inode.lock` released (spin_unlock)",
        f"foo.c:{start + 14}: returns an error after releasing `foo_inode.lock` without holding it "
        f"(through the branches at lines {start + 6})"]
    # without a tree, callers not in view may hold it
    program = analyze_text("foo.c", HEADER + LOCKED_SITES + UNHELD)
    hunk_only = CheckContext(program, build_knowledge(program, Config(profiles=[])), HUNK_ONLY)
    assert [f for f in CHECKS["lock-imbalance"](hunk_only) if "does not hold" in f.message] == []


def test_refcount_leak_on_an_error_path():
    findings = run("""
int foo_setup(struct foo_inode *fi, int bad)
{
	foo_users_get(fi);
	if (bad)
		return -EINVAL;
	foo_users_put(fi);
	return 0;
}
""", "refcount-leak")
    assert where(findings) == [("refcount-leak", "foo_setup", "foo_inode.users")]


def test_no_refcount_leak_for_a_queued_request_or_the_count_of_an_own_object():
    assert run("""
struct foo_req { struct kref ref; struct foo_inode *fi; };

int foo_queue(struct foo_inode *fi, int async)
{
	foo_users_get(fi);
	if (async)
		return -EIOCBQUEUED;
	foo_users_put(fi);
	return 0;
}

int foo_request(struct foo_inode *fi, int bad)
{
	struct foo_req *req = kzalloc(sizeof(*req), GFP_KERNEL);

	if (!req)
		return -ENOMEM;
	kref_init(&req->ref);
	kref_get(&req->ref);
	if (bad)
		return -EIO;
	kref_put(&req->ref, foo_req_free);
	return 0;
}
""", "refcount-leak") == []


def test_bit_set_and_cleared_nowhere_is_judged_against_the_base():
    code = """
void foo_keep(struct foo_inode *fi)
{
	set_bit(FOO_I_KEEP, &fi->state);
}
"""
    base = CheckContext(analyze_text("foo.c", HEADER + LOCKED_SITES), Config(profiles=[]), TREE)
    base.knowledge = build_knowledge(base.program, Config(profiles=[]))
    program = analyze_text("foo.c", HEADER + LOCKED_SITES + code)
    ctx = CheckContext(program, build_knowledge(program, Config(profiles=[])), TREE, 1, base)
    findings = list(CHECKS["state-imbalance"](ctx))
    assert where(findings) == [("state-imbalance", "foo_keep", "foo_inode.state:FOO_I_KEEP")]
    assert "before the series nothing set `foo_inode.state:FOO_I_KEEP`" in findings[0].evidence
    # one-way already at the base: the clear is somewhere out of view, not missing
    assert run(code, "state-imbalance") == []


def series_step(before: str, after: str, rule: str) -> list[Finding]:
    """The findings of `rule` after a patch that turns `before` into `after`."""
    base_program = analyze_text("foo.c", HEADER + before)
    base = CheckContext(base_program, build_knowledge(base_program, Config(profiles=[])), TREE)
    program = analyze_text("foo.c", HEADER + after)
    ctx = CheckContext(program, build_knowledge(program, Config(profiles=[])), TREE, 1, base)
    return list(CHECKS[rule](ctx))


def test_counter_and_bit_left_one_way_by_the_series():
    before = """
void foo_hold(struct foo_inode *fi)
{
	spin_lock(&fi->lock);
	fi->users++;
	set_bit(FOO_I_BUSY, &fi->state);
	spin_unlock(&fi->lock);
}

void foo_unhold(struct foo_inode *fi)
{
	spin_lock(&fi->lock);
	fi->users--;
	clear_bit(FOO_I_BUSY, &fi->state);
	spin_unlock(&fi->lock);
}
"""
    after = before.replace("\tfi->users--;\n\tclear_bit(FOO_I_BUSY, &fi->state);\n", "")
    findings = series_step(before, after, "state-imbalance")
    assert sorted(where(findings)) == [
        ("state-imbalance", "foo_hold", "foo_inode.state:FOO_I_BUSY"),
        ("state-imbalance", "foo_hold", "foo_inode.users"),
    ]
    assert series_step(before, before, "state-imbalance") == []


def test_pair_that_does_not_reset_the_state_field():
    findings = run("""
void foo_file_start(struct foo_inode *fi, struct foo_file *ff)
{
	spin_lock(&fi->lock);
	ff->mode = MODE_ON;
	fi->users++;
	spin_unlock(&fi->lock);
}

void foo_file_end(struct foo_inode *fi, struct foo_file *ff)
{
	spin_lock(&fi->lock);
	fi->users--;
	spin_unlock(&fi->lock);
}
""", "state-imbalance")
    assert where(findings) == [("state-imbalance", "foo_file_end", "foo_file.mode")]


def test_effects_of_functions_not_named_as_a_pair_are_not_compared():
    # foo_queue and foo_complete move `users` opposite ways, but they are no start/end pair:
    # what else foo_queue changes is not foo_complete's to undo
    assert run("""
void foo_queue(struct foo_inode *fi, struct foo_file *ff)
{
	spin_lock(&fi->lock);
	ff->mode = MODE_ON;
	fi->users++;
	spin_unlock(&fi->lock);
}

void foo_complete(struct foo_inode *fi)
{
	spin_lock(&fi->lock);
	fi->users--;
	spin_unlock(&fi->lock);
}
""", "state-imbalance") == []


def test_a_field_only_written_before_it_is_shared_needs_no_lock_to_read():
    code = """
void foo_init(struct foo_inode *fi)
{
	fi->mode = 3;
}

int foo_mode_a(struct foo_inode *fi)
{
	int mode;

	spin_lock(&fi->lock);
	mode = fi->mode;
	spin_unlock(&fi->lock);
	return mode;
}

int foo_mode_b(struct foo_inode *fi)
{
	int mode;

	spin_lock(&fi->lock);
	mode = fi->mode + 1;
	spin_unlock(&fi->lock);
	return mode;
}

int foo_mode_c(struct foo_inode *fi)
{
	int mode;

	spin_lock(&fi->lock);
	mode = fi->mode + 2;
	spin_unlock(&fi->lock);
	return mode;
}

int foo_peek(struct foo_inode *fi)
{
	return fi->mode;
}
"""
    assert run(code, "unlocked-read") == []
    written = code + """
void foo_set_mode(struct foo_inode *fi)
{
	spin_lock(&fi->lock);
	fi->mode = 4;
	spin_unlock(&fi->lock);
}
"""
    assert where(run(written, "unlocked-read")) == [("unlocked-read", "foo_peek", "foo_inode.mode")]


def hunk_only_mmap(guard_source: str) -> list[Finding]:
    """fuse_file_mmap of the seed as hunk-only facts: the read and the callee's write sit
    where the lock state is not visible."""
    unknown = frozenset({UNKNOWN_LOCKS})
    mmap = FunctionFacts(
        "foo_mmap", "file.c", 10, 20, complete=False, known_lines=((12, 16),),
        accesses=[Access("foo_file.mode", READ, 13, unknown, marks=frozenset({"READ_ONCE"}),
                         text="ff->mode", in_condition=0)],
        conditions=[Condition(0, 13, "READ_ONCE(ff->mode) != MODE_ON")],
        calls=[Call("foo_mode_on", 14, unknown, ("fi", "ff"), guards=(0,))])
    callee = FunctionFacts(
        "foo_mode_on", "mode.c", 30, 40, complete=False, known_lines=((34, 36),),
        accesses=[Access("foo_file.mode", READ, 34, unknown, text="ff->mode", in_condition=1),
                  Access("foo_file.mode", ASSIGN, 35, unknown, value="MODE_ON", text="ff->mode")],
        conditions=[Condition(1, 34, "!WARN_ON(ff->mode != MODE_NONE)", assertion=True)])
    program = Program(files={"file.c": FileFacts("file.c", [mmap]), "mode.c": FileFacts("mode.c", [callee])},
                      functions={"foo_mmap": mmap, "foo_mode_on": callee})
    config = Config(profiles=[], guards={"foo_file.mode": "foo_inode.lock"} if guard_source == "config" else {})
    ctx = CheckContext(program, build_knowledge(program, config), HUNK_ONLY)
    return [f for check in CHECKS.values() for f in check(ctx)]


def test_hunk_only_unknown_lock_state_needs_a_documented_guard():
    findings = hunk_only_mmap("config")
    assert where(findings) == [("check-then-act", "foo_mmap", "foo_file.mode")]
    assert any("hunk-only" in line and "READ_ONCE" in line for line in findings[0].evidence)
    assert hunk_only_mmap("none") == []


@pytest.mark.parametrize("line, text, silenced", [
    (4, "\tfi->users++; /* reviewbot: ignore[unlocked-write] */", True),
    (3, "\t/* reviewbot: ignore */", True),
    (3, "\t/* reviewbot: ignore[lock-imbalance, unlocked-write] */", True),
    (3, "\t/* reviewbot: ignore[unlocked-read] */", False),
    (2, "\t/* reviewbot: ignore[unlocked-write] */", False),
    (5, "\t/* reviewbot: ignore[unlocked-write] */", False),
])
def test_inline_ignore(line, text, silenced):
    finding = Finding("unlocked-write", "high", "foo.c", 4, "foo_bump", "m")
    lines = ["", "", "", "\tfi->users++;", ""]
    lines[line - 1] = text
    assert inline_ignored(finding, lines) is silenced


def test_config_suppress_entry():
    finding = Finding("unlocked-write", "high", "fs/foo/foo.c", 4, "foo_bump", "m", subject="foo_inode.users")
    config = Config(suppress=[{"rule": "unlocked-write", "file": "fs/foo/*", "subject": "foo_inode.users"}])
    assert suppressed(finding, [], config)
    assert not suppressed(finding, [], Config(suppress=[{"rule": "unlocked-read"}]))


def test_a_new_rule_is_just_a_new_module(tmp_path, monkeypatch):
    """The registry finds every module of reviewbot.checks with a RULE and a check: adding a
    rule touches no other file."""
    import importlib
    import sys

    import reviewbot.checks as checks

    module = tmp_path / "planted_rule.py"
    module.write_text(
        "from reviewbot.checks.base import Rule\n"
        "RULE = Rule('planted-rule', 'low', 'a rule planted by a test', 'doc',"
        " question='Planted?')\n"
        "def check(ctx):\n"
        "    return []\n")
    monkeypatch.setattr(checks, "__path__", [*checks.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "reviewbot.checks.planted_rule", raising=False)
    try:
        found = {module.RULE.name for module in checks._rule_modules()}
    finally:
        sys.modules.pop("reviewbot.checks.planted_rule", None)
    assert found == set(RULES) | {"planted-rule"}
    assert importlib.import_module("reviewbot.checks").RULES == RULES  # the real registry unchanged


def test_evidence_lists_each_distinct_path_once():
    [finding] = run("""
int foo_mode_try(struct foo_inode *fi, int a, int b)
{
	spin_lock(&fi->lock);
	if (a)
		fi->users++;
	if (b)
		fi->users += 2;
	if (fi->mode)
		return -EBUSY;
	spin_unlock(&fi->lock);
	return 0;
}
""", "lock-imbalance")
    returns = [line for line in finding.evidence if ": returns" in line]
    # four ways, each moving `users` differently, reach each return: one line for each return
    assert len(returns) == 2, finding.evidence


USERS_GUARDED = Config(profiles=[], guards={"foo_inode.users": "foo_inode.lock"})


def fingerprints(code: str) -> set[str]:
    program = analyze_text("foo.c", HEADER + LOCKED_SITES + code)
    return {f.fingerprint for f in run_checks(CheckContext(program, build_knowledge(program, USERS_GUARDED), TREE))}


def test_unlocked_reads_of_one_field_in_one_function_are_one_finding():
    # at the base the callback read the field once without its guard; the patch reads it twice
    # under a lock of its own: nothing new (the reads are named together, as one problem)
    before = """
static DEFINE_SPINLOCK(foo_cb_lock);

int foo_callback(struct foo_inode *fi)
{
	int users = fi->users;

	return users > 0;
}
"""
    after = before.replace("""	int users = fi->users;

	return users > 0;""", """	int busy = 0;

	spin_lock(&foo_cb_lock);
	if (fi->users)
		busy = fi->users > 0;
	spin_unlock(&foo_cb_lock);
	return busy;""")
    findings = run(after, "unlocked-read", USERS_GUARDED)
    assert where(findings) == [("unlocked-read", "foo_callback", "foo_inode.users")]
    assert any(": also read here, holding `foo_cb_lock`" in line for line in findings[0].evidence)
    assert fingerprints(after) == fingerprints(before)
    # a read of the field in a function that did not read it unlocked before is still new
    added = after + """
int foo_peek(struct foo_inode *fi)
{
	return fi->users;
}
"""
    assert fingerprints(added) - fingerprints(before)


def test_a_bit_every_other_function_tests_without_the_lock_is_stable():
    state_guarded = Config(profiles=[], guards={"foo_inode.state": "foo_inode.lock"})
    code = """
int foo_lookup(struct foo_inode *fi)
{
	if (!(fi->state & FOO_READY))
		return -EINVAL;
	spin_lock(&fi->lock);
	fi->state |= FOO_USED;
	if (fi->state & FOO_BUSY)
		fi->users++;
	spin_unlock(&fi->lock);
	return 0;
}

void foo_drop(struct foo_inode *fi)
{
	if (!(fi->state & FOO_READY))
		return;
	spin_lock(&fi->lock);
	fi->state &= ~FOO_USED;
	spin_unlock(&fi->lock);
}

void foo_mark_dying(struct foo_inode *fi)
{
	if (!(fi->state & FOO_READY))
		return;
	if (fi->state & FOO_BUSY)
		return;
	spin_lock(&fi->lock);
	fi->state |= FOO_DYING;
	spin_unlock(&fi->lock);
}
"""
    findings = run(code, "unlocked-read", state_guarded)
    # FOO_READY is tested without the lock everywhere; FOO_BUSY under it in foo_lookup()
    lines = (HEADER + LOCKED_SITES + code).splitlines()
    unlocked_busy_test = len(lines) - lines[::-1].index("\tif (fi->state & FOO_BUSY)")
    assert [(f.function, f.line) for f in findings] == [("foo_mark_dying", unlocked_busy_test)]
    assert "`fi->state` reads `foo_inode.state`" in findings[0].message


def test_a_bit_that_makes_something_happen_once_is_not_a_missing_clear():
    base = """
struct foo_dev { unsigned long flags; int intf; };
enum { FOO_RESET, FOO_BUSY };

void foo_reset(struct foo_dev *dev)
{
	pm_get(dev->intf);
	queue_reset(dev->intf);
}
"""
    # the put of a second reset's reference: the bit stays set for the device's life
    once = base.replace("\tqueue_reset(dev->intf);", """	if (test_and_set_bit(FOO_RESET, &dev->flags))
		pm_put(dev->intf);
	queue_reset(dev->intf);""")
    assert series_step(base, once, "state-imbalance") == []
    # finding the bit set fails the call: a busy flag, which someone has to clear
    busy = base.replace("void foo_reset", "int foo_reset").replace("\tqueue_reset(dev->intf);", """	if (test_and_set_bit(FOO_BUSY, &dev->flags))
		return -EBUSY;
	queue_reset(dev->intf);
	return 0;""")
    assert where(series_step(base, busy, "state-imbalance")) == [
        ("state-imbalance", "foo_reset", "foo_dev.flags:FOO_BUSY")]


CONN_LOOKUP = """
struct foo_conn { refcount_t count; int devt; struct list_head list; };

static LIST_HEAD(foo_conns);
static DEFINE_MUTEX(foo_conns_lock);

struct foo_conn *foo_conn_get(struct foo_conn *fc)
{
	refcount_inc(&fc->count);
	return fc;
}

void foo_conn_put(struct foo_conn *fc)
{
	if (refcount_dec_and_test(&fc->count))
		kfree(fc);
}

int foo_do_open(struct foo_conn *fc, struct file *file)
{
	if (!file->private_data)
		return -EINVAL;
	return 0;
}

int foo_conn_open(int devt, struct file *file)
{
	struct foo_conn *fc = NULL, *pos;
	int rc;

	mutex_lock(&foo_conns_lock);
	list_for_each_entry(pos, &foo_conns, list)
		if (pos->devt == devt) {
			foo_conn_get(pos);
			fc = pos;
			break;
		}
	mutex_unlock(&foo_conns_lock);

	if (!fc)
		return -ENODEV;

	rc = foo_do_open(fc, file);
	if (rc)
		foo_conn_put(fc);
	return rc;
}
"""


def test_a_copy_of_a_dereferenced_pointer_is_not_null():
    # the lookup keeps the reference it took when the open succeeds; `fc = pos` after
    # `pos->devt` was read cannot be NULL, so no path takes it and returns -ENODEV
    assert run(CONN_LOOKUP, "refcount-leak") == []
    # a failure after the lookup that does not put the reference back is still a leak
    forgotten = CONN_LOOKUP.replace("\trc = foo_do_open", "\tif (!file)\n\t\treturn -EBADF;\n\trc = foo_do_open")
    leaks = run(forgotten, "refcount-leak")
    assert [(f.function, f.line) for f in leaks] == [
        ("foo_conn_open", (HEADER + LOCKED_SITES + forgotten).splitlines().index("\t\treturn -EBADF;") + 1)]


def test_a_pointer_dereferenced_only_in_a_branch_may_still_be_null_after_it():
    code = CONN_LOOKUP + """
int foo_conn_adopt(struct foo_conn *held, struct foo_conn *pos, int check)
{
	struct foo_conn *fc;
	int devt = 0;

	if (check)
		devt = pos->devt;
	fc = pos;
	foo_conn_get(held);
	if (!fc)
		return -ENODEV;
	held->devt = devt;
	foo_conn_put(held);
	return 0;
}
"""
    # the path that skips the branch never dereferenced pos: `if (!fc)` can be taken there
    lines = (HEADER + LOCKED_SITES + code).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("int foo_conn_adopt("))
    assert [(f.function, f.line) for f in run(code, "refcount-leak")] == [
        ("foo_conn_adopt", lines.index("\t\treturn -ENODEV;", start) + 1)]
    # dereferenced on every path, it is not NULL: nothing leaks
    always = code.replace("\tif (check)\n\t\tdevt = pos->devt;", "\tdevt = pos->devt;")
    assert [f.function for f in run(always, "refcount-leak")] == []


def test_paths_joining_at_one_return_are_told_apart_by_their_branches():
    code = """
int foo_truncate(struct foo_inode *fi, int trunc, int dax)
{
	int err;
	bool is_truncate = trunc;
	bool dax_truncate = is_truncate && dax;

	if (is_truncate)
		mutex_lock(&fi->big_lock);
	if (dax_truncate) {
		spin_lock(&fi->lock);
		err = foo_break(fi);
		if (err)
			goto out_unlock;
	}
	err = foo_do_truncate(fi);
	if (dax_truncate)
		spin_unlock(&fi->lock);
out_unlock:
	if (is_truncate)
		mutex_unlock(&fi->big_lock);
	return err;
}
"""
    findings = run(code, "lock-imbalance")
    # the tests of is_truncate and dax_truncate, each made twice, are one path each: only the
    # goto that skips the spin_unlock() returns holding a lock
    assert where(findings) == [("lock-imbalance", "foo_truncate", "foo_inode.lock")]
    lines = (HEADER + LOCKED_SITES + code).splitlines()
    ret = lines.index("\treturn err;") + 1
    branch = lines.index("\t\tif (err)") + 1
    assert findings[0].message == (
        f"foo_truncate() returns at line {ret} holding `foo_inode.lock` on one path (through the "
        f"branches at lines {branch - 5}, {branch - 3}, {branch}, {ret - 2}), without it on the others that reach "
        f"that return")


def test_a_read_in_a_wait_condition_is_lockless_by_design():
    findings = run("""
int foo_wait_idle(struct foo_inode *fi)
{
	int err = wait_event_interruptible(fi->waitq, fi->users == 0);

	if (err)
		return err;
	return fi->users;
}
""", "unlocked-read", USERS_GUARDED)
    # the condition is evaluated again after every wake-up; the read after it is not
    assert [(f.function, f.line) for f in findings] == [
        ("foo_wait_idle", HEADER.count("\n") + LOCKED_SITES.count("\n") + 8)]
