"""The kernel-macro pre-pass and parse_c: the rewrite keeps every byte position and newline,
the kernel shapes that break a plain tree-sitter parse come out as clean C trees, the lock
annotations and scoped guards are kept aside, and a text is parsed once."""

from __future__ import annotations

from reviewbot.c.parse import ParsedFile, parse_c, rewrite_kernel_macros

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
