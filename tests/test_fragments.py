"""Hunk-only versions made parseable: the seed's hunks, as the diffs show them, come out as
whole function definitions with every known line at its real line number."""

from __future__ import annotations

import mailbox

import pytest
import unidiff

from conftest import SEED_MBOX
from reviewbot.c.fragments import function_ranges, repair
from reviewbot.c.parse import parse_c
from reviewbot.sources import load_series
from reviewbot.workspace import FileVersion, KnownRange, build_workspace


def seed_patch(number: int) -> unidiff.PatchSet:
    for message in mailbox.mbox(SEED_MBOX):
        if message["Subject"].startswith(f"[PATCH {number}/3]"):
            return unidiff.PatchSet(message.get_payload(decode=True).decode())
    raise AssertionError(f"no patch {number} in the seed")


def after_patch(number: int, path: str) -> FileVersion:
    """The file as patch `number` shows it: its post-image lines, one known range a hunk."""
    pf = next(pf for pf in seed_patch(number) if pf.path == path)
    lines: dict[int, str] = {}
    known = []
    for hunk in pf:
        for line in hunk:
            if line.target_line_no is not None:
                lines[line.target_line_no] = line.value.rstrip("\n")
        known.append(KnownRange(hunk.target_start, hunk.target_start + hunk.target_length - 1,
                                hunk.section_header))
    text = "".join(lines.get(n, "") + "\n" for n in range(1, max(lines) + 1))
    return FileVersion(path, text, known)


def descendants(node) -> list:
    found, stack = [], [node]
    while stack:
        n = stack.pop()
        found.append(n)
        stack.extend(n.children)
    return found


def errors(node) -> list[int]:
    found, stack = [], [node]
    while stack:
        n = stack.pop()
        if n.type == "ERROR" or n.is_missing:
            found.append(n.start_point[0] + 1)
        else:
            stack.extend(n.children)
    return found


def definitions(parsed) -> dict[str, object]:
    result = {}
    for node in parsed.tree.root_node.named_children:
        if node.type == "function_definition":
            declarator = node.child_by_field_name("declarator")
            while declarator.type != "identifier":
                declarator = declarator.child_by_field_name("declarator")
            result[parsed.text(declarator)] = node
    return result


@pytest.mark.parametrize("path", ["fs/fuse/file.c", "fs/fuse/iomode.c", "fs/fuse/inode.c"])
def test_known_lines_keep_their_numbers_and_text(path):
    version = after_patch(1, path)
    repaired = repair(version).decode().split("\n")
    original = version.text.split("\n")
    assert len(repaired) == len(original)
    for known in version.known:
        for n in range(known.start, known.end + 1):
            assert repaired[n - 1].startswith(original[n - 1])


def test_seed_file_c_after_patch_1():
    version = after_patch(1, "fs/fuse/file.c")
    parsed = parse_c(repair(version))
    assert errors(parsed.tree.root_node) == []
    functions = definitions(parsed)
    assert sorted(functions) == ["fuse_dio_lock", "fuse_dio_unlock", "fuse_file_mmap"]
    # the mmap hunk starts inside a comment: the comment is opened on the line above
    mmap = functions["fuse_file_mmap"]
    assert mmap.start_point[0] + 1 == 2573
    comments = [c for c in descendants(mmap) if c.type == "comment"]
    assert [(c.start_point[0] + 1, c.end_point[0] + 1) for c in comments] == [(2573, 2579)]
    # the unlocked read sits at its real line, inside fuse_file_mmap
    read_at = parsed.original.index(b"READ_ONCE(ff->iomode)")
    assert parsed.original[:read_at].count(b"\n") + 1 == 2580
    assert mmap.start_byte < read_at < mmap.end_byte


def test_two_hunks_of_one_function_become_one_body():
    version = after_patch(1, "fs/fuse/file.c")
    assert function_ranges(version) == [("fuse_dio_lock", 1361, 1384), ("fuse_dio_unlock", 1388, 1400),
                                        ("fuse_file_mmap", 2573, 2587)]


def test_seed_iomode_c_after_patch_1():
    # through the workspace: it names each hunk's function as it is after the patch (git
    # names it as it was before: fuse_file_cached_io_start became fuse_file_cached_io_open)
    workspace = build_workspace(load_series([str(SEED_MBOX)]), hunks_only=True)
    version = workspace.version("fs/fuse/iomode.c", 1)
    parsed = parse_c(repair(version))
    assert errors(parsed.tree.root_node) == []
    # the hunk at 144 continues fuse_inode_uncached_io_end, whichever function its context names
    assert function_ranges(version) == [
        ("fuse_is_io_cache_wait", 20, 21), ("fuse_file_cached_io_open", 30, 68),
        ("fuse_file_cached_io_release", 70, 81), ("fuse_inode_uncached_io_start", 84, 112),
        ("fuse_file_uncached_io_open", 115, 129), ("fuse_inode_uncached_io_end", 131, 145),
        ("fuse_file_uncached_io_release", 148, 154), ("fuse_file_passthrough_open", 181, 189),
        ("fuse_file_io_open", 234, 242), ("fuse_file_io_release", 256, 275)]


def test_seed_inode_c_and_patch_2_hunks():
    inode = after_patch(1, "fs/fuse/inode.c")
    assert function_ranges(inode) == [("fuse_evict_inode", 174, 181)]
    assert errors(parse_c(repair(inode)).tree.root_node) == []
    iomode = after_patch(2, "fs/fuse/iomode.c")
    assert [n for n, _, _ in function_ranges(iomode)] == ["fuse_inode_uncached_io_start"]
    assert errors(parse_c(repair(iomode)).tree.root_node) == []


def test_enum_hunk_is_wrapped_in_its_enum():
    version = after_patch(3, "fs/fuse/fuse_i.h")
    parsed = parse_c(repair(version))
    assert errors(parsed.tree.root_node) == []
    enumerators = []
    stack = [parsed.tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "enumerator":
            enumerators.append(parsed.text(node.child_by_field_name("name")))
        stack.extend(node.children)
    assert sorted(enumerators) == ["FUSE_I_BACKING", "FUSE_I_BTIME", "FUSE_I_CACHE_IO_MODE"]


def test_block_closed_with_else_and_a_statement_cut_short():
    text = "\n" * 9 + "\t\tfoo(fi);\n\t} else {\n\t\tbar(fi);\n\t}\n\tif (fi->state &&\n"
    version = FileVersion("x.c", text, [KnownRange(10, 14, "static void minifs_op(struct minifs_inode *fi)")])
    parsed = parse_c(repair(version))
    assert errors(parsed.tree.root_node) == []
    assert function_ranges(version) == [("minifs_op", 9, 14)]
    assert repair(version).decode().split("\n")[8] == \
        "static void minifs_op(struct minifs_inode *fi) { if (1) {"


def test_range_without_context_gets_a_stand_in_function():
    text = "\n\tx->count++;\n\ty = x->count;\n"
    version = FileVersion("x.c", text, [KnownRange(2, 3, "")])
    parsed = parse_c(repair(version))
    assert errors(parsed.tree.root_node) == []
    assert function_ranges(version) == [("__fragment", 1, 3)]


def test_whole_file_comes_back_unchanged():
    text = "int minifs_one(void)\n{\n\treturn 1;\n}\n"
    assert repair(FileVersion("x.c", text)) == text.encode()
    assert function_ranges(FileVersion("x.c", text)) == [("minifs_one", 1, 4)]


def test_every_seed_version_parses_cleanly():
    workspace = build_workspace(load_series([str(SEED_MBOX)]), hunks_only=True)
    for k in range(workspace.patch_count + 1):
        for path in workspace.c_paths(k):
            version = workspace.version(path, k)
            assert errors(parse_c(repair(version)).tree.root_node) == [], (k, path)
            assert repair(version).count(b"\n") == version.text.count("\n")


def test_range_starting_inside_a_condition():
    text = "\n" * 4 + ("\t\t    minifs_start(fi, NULL) != 0) {\n\t\t\tinode_unlock_shared(inode);\n"
                      "\t\t\t*exclusive = true;\n")
    version = FileVersion("x.c", text, [KnownRange(5, 7, "static void minifs_dio_lock(struct kiocb *iocb,")])
    parsed = parse_c(repair(version))
    assert errors(parsed.tree.root_node) == []
    assert repair(version).decode().split("\n")[3] == \
        "static void minifs_dio_lock(struct kiocb *iocb) { { if ("
    assert function_ranges(version) == [("minifs_dio_lock", 4, 7)]


def test_range_ending_in_an_initializer_and_a_head_at_file_scope():
    text = ("\n" * 4 + "\tstatic const struct minifs_opt opts[] = {\n\t\t{ 1, \"sync\" },\n\t\t{ 2, \"dirsync\" },\n"
            + "\n" * 3 + "\treturn 0;\n}\n\nstatic ssize_t minifs_read(struct file *file,\n")
    version = FileVersion("x.c", text, [KnownRange(5, 7, "static int minifs_show(struct seq_file *m)"),
                                        KnownRange(11, 14, "static int minifs_show(struct seq_file *m)")])
    repaired = repair(version).decode().split("\n")
    assert repaired[7] == "};"  # the initializer; the function goes on in the next range
    assert repaired[13] == "static ssize_t minifs_read(struct file *file, int) {}"
    assert errors(parse_c(repair(version)).tree.root_node) == []
    assert function_ranges(version) == [("minifs_show", 4, 12), ("minifs_read", 14, 14)]


def test_context_without_return_type_and_range_starting_with_the_body():
    text = "\n\n{\n\tminifs_renew(work);\n}\n" + "\n" * 3 + "\t\tbreak;\n\t\t}\n"
    version = FileVersion("x.c", text, [KnownRange(3, 5, "minifs_renew_state(struct work_struct *work)"),
                                        KnownRange(9, 10, "minifs_renew_state(struct work_struct *work)")])
    assert errors(parse_c(repair(version)).tree.root_node) == []
    assert [name for name, _, _ in function_ranges(version)] == ["minifs_renew_state", "minifs_renew_state"]
    assert repair(version).decode().split("\n")[1] == "int minifs_renew_state(struct work_struct *work)"


def test_range_inside_a_comment():
    text = "\n * Copyright notice\n * more of it\n"
    version = FileVersion("x.c", text, [KnownRange(2, 3, "")])
    assert repair(version).decode() == "/*\n * Copyright notice\n * more of it */\n"
