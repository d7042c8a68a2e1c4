"""The kernel-macro pre-pass and parse_c: the rewrite keeps every byte position and newline,
the kernel shapes that break a plain tree-sitter parse come out as clean C trees, the lock
annotations and scoped guards are kept aside, and a text is parsed once."""

from __future__ import annotations

import pytest

from cfacts import accesses, analyze_snippet
from reviewbot.c.parse import LANGUAGE, ParsedFile, parse_c, rewrite_kernel_macros
from tree_sitter import Parser

KERNEL_SHAPES = b"""\
static int __init minifs_walk(struct minifs_conn *fc, struct inode *inode)
{
	struct minifs_inode *fi = container_of(inode, struct minifs_inode, vfs_inode);
	struct minifs_backing *fb, *tmp;
	int cpu, n = min_t(unsigned long, fc->max, 16);

	list_for_each_entry(fb, &fc->backing_list, entry)
		fb->users++;
	/* the safe variant, with braces */
	list_for_each_entry_safe(fb, tmp, &fc->backing_list, entry) {
		fb->users--;
	}
	for_each_possible_cpu(cpu)
		n += per_cpu(minifs_stats, cpu);
	for_each_cpu(cpu, fc->cpus)
		n--;
	scoped_guard(spinlock, &fi->lock) {
		fi->iocachectr++;
	}
	if (n)
		hlist_for_each_entry(fb, &fc->hash, node)
			fb->users = 0;
	return idr_for_each(&fc->idr, minifs_count, NULL);
}

static void minifs_relock(struct minifs_inode *fi) __releases(&fi->lock) __acquires(&fi->lock)
{
	spin_unlock(&fi->lock);
	spin_lock(&fi->lock);
}

void minifs_locked_op(struct minifs_inode *fi)
	__must_hold(&fi->lock);

static long __must_check minifs_copy(void __user *dst, void __iomem *src, size_t len)
{
	return len - sizeof_field(struct minifs_inode, state);
}

SYSCALL_DEFINE3(minifs_ctl, unsigned int, fd, char __user *, buf, size_t, count)
{
	return minifs_ctl(fd, buf, count);
}

DEFINE_FREE(minifs_put, struct minifs_backing *, if (_T) minifs_backing_put(_T))
module_init(minifs_init)
"""


def nodes(node, type_):
    found, stack = [], [node]
    while stack:
        n = stack.pop()
        if n.type == type_:
            found.append(n)
        stack.extend(n.children)
    return found


def functions(parsed: ParsedFile) -> dict[str, object]:
    result = {}
    for fn in nodes(parsed.tree.root_node, "function_definition"):
        declarator = fn.child_by_field_name("declarator")
        while declarator.type != "identifier":
            declarator = declarator.child_by_field_name("declarator")
        result[parsed.text(declarator)] = fn
    return result


def line_of(parsed: ParsedFile, needle: bytes) -> int:
    return parsed.original[:parsed.original.index(needle)].count(b"\n") + 1


def test_rewrite_keeps_length_and_every_newline():
    rewritten = rewrite_kernel_macros(KERNEL_SHAPES).source
    assert rewritten != KERNEL_SHAPES
    assert len(rewritten) == len(KERNEL_SHAPES)
    newlines = [i for i, c in enumerate(KERNEL_SHAPES) if c == ord("\n")]
    assert [i for i, c in enumerate(rewritten) if c == ord("\n")] == newlines


def test_kernel_shapes_parse_without_errors():
    parsed = parse_c(KERNEL_SHAPES)
    assert not parsed.has_errors
    assert sorted(functions(parsed)) == ["minifs_copy", "minifs_ctl", "minifs_relock", "minifs_walk"]


def test_loop_macros_become_for_statements_owning_their_body():
    parsed = parse_c(KERNEL_SHAPES)
    walk = functions(parsed)["minifs_walk"]
    loops = sorted(nodes(walk, "for_statement"), key=lambda n: n.start_byte)
    assert [loop.start_point[0] + 1 for loop in loops] == [7, 10, 13, 15, 21]
    bodies = [parsed.text(loop.child_by_field_name("body")).strip() for loop in loops]
    assert bodies == ["fb->users++;", "{\n\t\tfb->users--;\n\t}", "n += per_cpu(minifs_stats, cpu);",
                      "n--;", "fb->users = 0;"]
    # the macro's arguments stay expressions at their own positions
    first = loops[0]
    assert parsed.text(first.child_by_field_name("condition")) == "&fc->backing_list"
    assert parsed.text(first.child_by_field_name("update")) == "entry"


def test_function_call_named_like_a_loop_stays_a_call():
    parsed = parse_c(KERNEL_SHAPES)
    calls = [parsed.text(c.child_by_field_name("function"))
             for c in nodes(parsed.tree.root_node, "call_expression")]
    assert "idr_for_each" in calls


def test_scoped_guard_is_an_if_recorded_with_its_lock():
    parsed = parse_c(KERNEL_SHAPES)
    start = KERNEL_SHAPES.index(b"scoped_guard")
    assert parsed.scoped_guards == {start: ("spinlock", "&fi->lock")}
    guard = [n for n in nodes(parsed.tree.root_node, "if_statement") if n.start_byte == start]
    assert len(guard) == 1
    condition = guard[0].child_by_field_name("condition")
    assert parsed.source[condition.start_byte:condition.end_byte].decode().strip("( )") == "&fi->lock"
    assert parsed.text(guard[0].child_by_field_name("consequence")) == "{\n\t\tfi->iocachectr++;\n\t}"


def test_type_arguments_become_identifiers_that_read_back_as_the_type():
    parsed = parse_c(KERNEL_SHAPES)
    container = [c for c in nodes(parsed.tree.root_node, "call_expression")
                 if parsed.text(c.child_by_field_name("function")) == "container_of"][0]
    args = container.child_by_field_name("arguments").named_children
    assert [a.type for a in args] == ["identifier", "identifier", "identifier"]
    assert [parsed.text(a) for a in args] == ["inode", "struct minifs_inode", "vfs_inode"]
    assert parsed.source[args[1].start_byte:args[1].end_byte] == b"struct_minifs_inode"


def test_lock_annotations_are_recorded_per_function():
    parsed = parse_c(KERNEL_SHAPES)
    assert parsed.lock_annotations == {
        "minifs_relock": [("releases", "&fi->lock"), ("acquires", "&fi->lock")],
        "minifs_locked_op": [("must_hold", "&fi->lock")],
    }
    assert b"__releases" not in parsed.source and b"__must_hold" not in parsed.source


def test_syscall_define_becomes_a_function_head_with_typed_parameters():
    parsed = parse_c(KERNEL_SHAPES)
    head = functions(parsed)["minifs_ctl"].child_by_field_name("declarator")
    params = head.child_by_field_name("parameters").named_children
    assert [p.type for p in params] == ["parameter_declaration"] * 3
    assert [parsed.text(p.child_by_field_name("type")) for p in params] == ["unsigned int", "char", "size_t"]
    assert [parsed.text(p.child_by_field_name("declarator")) for p in params] == ["fd", "*, buf", "count"]
    assert head.start_point[0] + 1 == line_of(parsed, b"SYSCALL_DEFINE3")


def test_syscall_define0():
    parsed = parse_c(b"SYSCALL_DEFINE0(minifs_sync)\n{\n\treturn 0;\n}\n")
    assert not parsed.has_errors
    assert parsed.source.startswith(b"long minifs_sync(")
    assert len(parsed.source) == len(parsed.original)


def test_macros_in_comments_strings_and_directives_are_left_alone():
    text = (b"#define minifs_for_each(pos, head) \\\n"
            b"\tlist_for_each_entry(pos, head, entry)\n"
            b"/* list_for_each_entry(a, b, c) x++; __user */\n"
            b"static const char *msg = \"scoped_guard(spinlock, &x) __acquires(y)\";\n"
            b"// container_of(p, struct foo, m)\n")
    assert rewrite_kernel_macros(text).source == text


def test_parse_is_memoised_by_content():
    text = "int minifs_one(void)\n{\n\treturn 1;\n}\n"
    first = parse_c(text)
    assert parse_c(text) is first
    assert parse_c(text.encode()) is first
    assert parse_c(text + "\n") is not first
    assert first.original == text.encode() and len(first.digest) == 40


def test_scoped_guard_without_braces_and_without_a_lock():
    text = (b"void minifs_stat(struct minifs_inode *fi)\n{\n"
            b"\tscoped_guard(mutex, &fi->mutex)\n\t\tfi->count++;\n"
            b"\tscoped_guard(rcu)\n\t\tfi->seen = 1;\n}\n")
    parsed = parse_c(text)
    assert not parsed.has_errors
    first, second = text.index(b"scoped_guard"), text.rindex(b"scoped_guard")
    assert parsed.scoped_guards == {first: ("mutex", "&fi->mutex"), second: ("rcu", "")}
    ifs = sorted(nodes(parsed.tree.root_node, "if_statement"), key=lambda n: n.start_byte)
    assert [(n.start_byte, parsed.text(n.child_by_field_name("consequence"))) for n in ifs] == [
        (first, "fi->count++;"), (second, "fi->seen = 1;")]


def test_file_scope_definitions_without_semicolon_are_blanked():
    text = (b"DEFINE_MUTEX(minifs_lock);\n"
            b"DEFINE_FREE(minifs_put, struct minifs_backing *, if (_T) minifs_backing_put(_T))\n"
            b"module_init(minifs_init)\n"
            b"module_exit(minifs_exit);\n"
            b"int minifs_x;\n")
    lines = text.split(b"\n")
    assert rewrite_kernel_macros(text).source.split(b"\n") == [
        lines[0], b" " * len(lines[1]), b" " * len(lines[2]), lines[3], lines[4], b""]
    assert not parse_c(text).has_errors


def test_memo_is_bounded(monkeypatch):
    from reviewbot.c import parse

    monkeypatch.setattr(parse, "MEMO_SIZE", 3)
    texts = [f"int minifs_v{n};\n" for n in range(4)]
    first = parse_c(texts[0])
    for text in texts[1:]:
        parse_c(text)
    assert parse_c(texts[3]) is parse_c(texts[3])
    assert parse_c(texts[0]) is not first  # evicted, parsed again
    assert len(parse._memo) <= 3


# Kernel shapes no name table knows, each repaired where tree-sitter's own parse fails: a
# subsystem's own loop macros, an unknown macro before a function's type, declaration macros,
# macros given a type, an operator or statements, a file-scope macro line without `;`, a case
# range, and an `#if` group that cuts an if/else in two.
RECOVERED = b"""\
STATIC int minifs_count(struct fuse_inode *fi, struct sk_buff_head *queue)
{
	struct sk_buff *skb;
	int n = 0;

	spin_lock(&fi->lock);
	skb_queue_walk(queue, skb) {
		fi->iocachectr++;
		n++;
	}
	minifs_walk_entries(fi, skb)
		fi->state = 1;
	spin_unlock(&fi->lock);
	return n;
}

__bpf_kfunc struct fuse_file *minifs_first(struct fuse_inode *fi)
{
	DECLARE_BITMAP(seen, 16) = { 0 };
	static DEFINE_RATELIMIT_STATE(rs, HZ, 1);
	struct fuse_file *ff = minifs_item_ptr(fi, 0, struct fuse_file);

	ASSERTCMP(ff->count, ==, 0);
	MINIFS_ASSERT(ff->open_flags, minifs_dump(ff););
	ff->iomode = IOM_CACHED;
	return ff;
}

BTF_ID_FLAGS(func, minifs_first, KF_ACQUIRE)

static int minifs_mode(struct fuse_file *ff, int op)
{
	switch (op) {
	case 1 ... 3:
		mutex_lock(&ff->fi->mutex);
#ifdef CONFIG_MINIFS_CACHE
		if (ff->open_flags)
			ff->iomode = IOM_CACHED;
		else
#endif
			ff->iomode = IOM_UNCACHED;
		mutex_unlock(&ff->fi->mutex);
		return offsetof(struct fuse_inode, write_files.next);
	}
	return 0;
}
"""

# Annotations and constructs of current kernel C that the pre-pass blanks or tree-sitter knows.
ANNOTATED = b"""\
struct minifs_stats {
	unsigned int hits:16, misses:15, dirty:1;
	struct fuse_inode __rcu *owner;
	long __percpu *counts;
	u64 stamp __aligned(8);
	int nr;
	struct fuse_file *files[] __counted_by(nr);
} __packed ____cacheline_aligned_in_smp;

static int minifs_level __read_mostly = 3;
static const int minifs_table[4] = { [0] = 1, [2 ... 3] = 2 };

static __always_inline __maybe_unused int minifs_kind(long x)
{
	return _Generic(x, int: 1, long: 2, default: 0);
}

static noinline __cold void minifs_fault(struct fuse_inode *fi)
	__must_hold(&fi->lock)
{
	struct minifs_stats st = { .hits = 1, .owner = fi };
	struct fuse_file *ff __free(kfree) = kzalloc(sizeof(*ff), GFP_KERNEL);

	fi->iocachectr--;
	asm goto("jmp %l[out]" : : : : out);
	return;
out:
	fi->state = st.hits;
}

static bool minifs_try(struct fuse_inode *fi)
	__cond_acquires(&fi->lock)
{
	return spin_trylock(&fi->lock);
}

static void minifs_guarded(struct fuse_inode *fi)
{
	guard(spinlock)(&fi->lock);
	fi->iocachectr++;
}
"""


def plain_parse_has_errors(text: bytes) -> bool:
    return Parser(LANGUAGE).parse(text).root_node.has_error


@pytest.mark.parametrize("text", [RECOVERED, ANNOTATED], ids=["recovered", "annotated"])
def test_kernel_constructs_parse_clean_with_every_position_kept(text):
    assert plain_parse_has_errors(text)
    parsed = parse_c(text)
    assert not parsed.has_errors
    assert len(parsed.source) == len(text)
    assert [i for i, c in enumerate(parsed.source) if c == 10] == [i for i, c in enumerate(text) if c == 10]
    for name, fn in functions(parsed).items():
        assert parsed.original[fn.start_byte:].startswith(text[fn.start_byte:fn.end_byte]), name


def test_recovered_functions_are_found_with_their_heads():
    parsed = parse_c(RECOVERED)
    found = functions(parsed)
    assert sorted(found) == ["minifs_count", "minifs_first", "minifs_mode"]
    first = found["minifs_first"]
    assert parsed.text(first.child_by_field_name("type")) == "struct fuse_file"
    assert first.start_point[0] + 1 == line_of(parsed, b"__bpf_kfunc")


def test_facts_of_recovered_functions_come_out_at_their_lines():
    program = analyze_snippet(RECOVERED.decode())
    count = program.functions["minifs_count"]
    assert accesses(count) == [("fuse_inode.iocachectr", "inc", "1", 8, ["fuse_inode.lock"]),
                               ("fuse_inode.state", "assign", "1", 12, ["fuse_inode.lock"])]
    first = program.functions["minifs_first"]
    assert [(key, op, line) for key, op, _, line, _ in accesses(first)] == [
        ("fuse_file.count", "read", 23), ("fuse_file.open_flags", "read", 24), ("fuse_file.iomode", "assign", 25)]
    mode = program.functions["minifs_mode"]
    assert [(op.op, op.line) for op in mode.lock_ops] == [("acquire", 35), ("release", 42)]
    # the `#if` group keeps its first branch: both assignments, each under the mutex
    assert [(a.value, a.line, sorted(a.locks)) for a in mode.accesses if a.key == "fuse_file.iomode"] == [
        ("IOM_CACHED", 38, ["fuse_inode.mutex"]), ("IOM_UNCACHED", 41, ["fuse_inode.mutex"])]


def test_facts_next_to_annotations_guards_and_cleanup_attributes():
    program = analyze_snippet(ANNOTATED.decode())
    fault = program.functions["minifs_fault"]
    assert fault.annotations == {"must_hold": ("fuse_inode.lock",)}
    assert accesses(fault)[0] == ("fuse_inode.iocachectr", "dec", "1", 24, ["fuse_inode.lock"])
    guarded = program.functions["minifs_guarded"]
    assert accesses(guarded) == [("fuse_inode.iocachectr", "inc", "1", 40, ["fuse_inode.lock"])]
    assert program.functions["minifs_kind"].end_line == 16


def test_recovery_rewrites_only_the_statement_that_failed():
    text = (b"void minifs_a(struct minifs *m)\n{\n"
            b"\tminifs_each_entry(m, e) {\n\t\tm->n++;\n\t}\n}\n\n"
            b"void minifs_b(struct minifs *m)\n{\n"
            b"\tDECLARE_BITMAP(mask, 8);\n\tminifs_fill(mask, sizeof(struct minifs));\n}\n")
    parsed = parse_c(text)
    assert not parsed.has_errors
    first_end = text.index(b"void minifs_b")
    assert parsed.source[:first_end] != text[:first_end]
    assert parsed.source[first_end:] == text[first_end:]  # parsed as written: left alone


def test_if_group_keeps_its_first_branch_or_the_else_of_an_if_0():
    text = (b"static const struct minifs_ops minifs_ops = {\n"
            b"\t.open = minifs_open,\n#ifdef CONFIG_MINIFS_MMAP\n\t.mmap = minifs_mmap,\n"
            b"#else\n\t.mmap = NULL,\n#endif\n};\n\n"
            b"int minifs_pick(int a)\n{\n#if 0\n\tif (a) {\n#else\n\tif (!a) {\n#endif\n"
            b"\t\treturn 1;\n\t}\n\treturn 0;\n}\n")
    parsed = parse_c(text)
    assert not parsed.has_errors
    source_lines = parsed.source.decode().split("\n")
    assert source_lines[3] == "\t.mmap = minifs_mmap," and not source_lines[5].strip()
    assert not source_lines[12].strip() and source_lines[14] == "\tif (!a) {"


def test_recovery_of_lists_types_and_declarations_keeps_calls_calls():
    text = (b"static DEFINE_PER_CPU(struct minifs_stats, minifs_stats);\n"
            b"const char *minifs_name(int op)\n{\n"
            b"\ttypeof(minifs->op) copy = op;\n"
            b"\tMINIFS_ARRAY(struct minifs, 4) found;\n"
            b"\t/* minifs_each(x) { in a comment */\n"
            b"\tMINIFS_ERR(copy, \"no such op\");\n"
            b"\tswitch (op) {\n\tN(OPEN) N(CLOSE)\n\tN(READ)\n\t}\n"
            b"\treturn \"minifs_each(op) {\";\n}\n")
    parsed = parse_c(text)
    assert not parsed.has_errors
    lines = parsed.source.decode().split("\n")
    assert lines[0].split() == ["static", "struct", "minifs_stats", "minifs_stats", ";"]
    assert lines[3].split()[0] == "typeof_minifs__op_" and lines[4].split()[0] == "MINIFS_ARRAY_struct_minifs__4_"
    assert lines[5:7] == text.decode().split("\n")[5:7]  # comment and call statement as written
    assert not lines[8].strip() and not lines[9].strip()  # the x-macro list
    assert lines[11] == text.decode().split("\n")[11]  # a string as written
    calls = [parsed.text(c.child_by_field_name("function")) for c in nodes(parsed.tree.root_node, "call_expression")]
    assert calls == ["MINIFS_ERR"]
