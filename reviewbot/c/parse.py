"""Parsing kernel C with tree-sitter behind a length-preserving pre-pass for kernel macros.

Kernel macros that tree-sitter cannot know (statement loop macros, scoped_guard, types passed
as macro arguments, annotations, SYSCALL_DEFINEn) damage the parse of the code around them.
Before parsing, each such site is rewritten into plain C of exactly the same width, keeping
every newline, so that a node's byte and line positions in the rewritten text are those of
the original text:

    list_for_each_entry(fb, &fc->list, entry)   ->  for                (fb; &fc->list; entry)
    scoped_guard(spinlock, &fi->lock) {         ->  if          (          &fi->lock) {
    container_of(p, struct fuse_inode, inode)   ->  container_of(p, struct_fuse_inode, inode)
    int __must_check f(char __user *buf)        ->  int              f(char        *buf)
    SYSCALL_DEFINE3(read, unsigned int, fd, ...) -> long           read(unsigned int  fd, ...)

The sites are found by a small lexer, not a C parser: a few scans for literal substrings find
candidate identifiers (checked against the tables below by their whole name), candidates in
block comments, `//` comments, string and character literals and preprocessor lines are
skipped, and a macro's arguments are delimited by balanced parentheses. Every rewrite is local
to one macro call.

What no table can name (a subsystem's own loop macros, `STATIC`, a macro given a type or
statements, an `#if` group that cuts a statement in two) is found where tree-sitter's parse
fails: the statement around each ERROR or MISSING node is rewritten the same way, and the text
parsed again (see `recover`). Code that parsed is left as written.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass, field

import tree_sitter_c
from tree_sitter import Language, Parser, Tree

LANGUAGE = Language(tree_sitter_c.language())

# Parsed files kept in memory, most recently used last. Bounded in number and in source size
# (a parsed file takes some 15 times its source): an index of a whole tree parses tens of
# thousands of files, the largest first, and must not keep every tree alive.
MEMO_SIZE = 64
MEMO_BYTES = 8_000_000

# Annotations that are blanked: they carry nothing the analysis uses.
ANNOTATIONS = frozenset({
    "__user", "__kernel", "__iomem", "__percpu", "__rcu", "__force", "__bitwise", "__nocast",
    "__safe", "__private", "__data_racy", "__init", "__exit", "__initdata", "__initconst",
    "__exitdata", "__init_or_module", "__meminit", "__ref", "__refdata", "__must_check",
    "__always_inline", "__maybe_unused", "__always_unused", "__used", "noinline",
    "noinline_for_stack", "__noinline", "__cold", "__hot", "__read_mostly", "__ro_after_init",
    "__weak", "__pure", "__noreturn", "__packed", "__visible", "__randomize_layout",
    "__no_randomize_layout", "__latent_entropy", "__sched", "__lockfunc", "notrace", "noinstr",
    "__cacheline_aligned", "__cacheline_aligned_in_smp", "____cacheline_aligned",
    "____cacheline_aligned_in_smp", "asmlinkage", "__attribute_const__", "__malloc",
    "__flatten", "__nonstring", "__deprecated", "__kprobes", "nokprobe_inline", "__cpuidle",
    "__irq_entry", "__nocfi", "__noclone", "__net_init", "__net_exit", "__page_aligned_bss",
    "__page_aligned_data", "__bpf_kfunc", "__init_memblock", "__initdata_memblock", "__meminitdata",
    "__net_initdata", "__net_initconst", "__initdata_or_module", "__tracepoint_string",
    "__no_caller_saved_registers",
})
# Annotations with an argument list: the whole call is blanked.
ANNOTATION_CALLS = frozenset({
    "__aligned", "__printf", "__scanf", "__section", "__free", "__cleanup", "__counted_by",
    "__alloc_size", "__assume_aligned", "__cond_acquires", "__cond_releases",
})
# Lock annotations: blanked and kept aside as facts about the function they annotate.
LOCK_ANNOTATIONS = {"__acquires": "acquires", "__releases": "releases", "__must_hold": "must_hold"}

# Macros taking a type as an argument: name -> index of the type argument.
TYPE_ARGUMENT = {
    "container_of": 1, "container_of_const": 1, "container_of_safe": 1,
    "list_entry": 1, "list_first_entry": 1, "list_last_entry": 1, "list_first_entry_or_null": 1,
    "list_last_entry_or_null": 1, "list_entry_rcu": 1, "list_first_or_null_rcu": 1,
    "list_next_or_null_rcu": 2, "hlist_entry": 1, "hlist_entry_safe": 1, "hlist_bl_entry": 1,
    "hlist_nulls_entry": 1, "llist_entry": 1, "rb_entry": 1, "rb_entry_safe": 1,
    "min_t": 0, "max_t": 0, "clamp_t": 0, "min3_t": 0, "max3_t": 0,
    "offsetofend": 0, "sizeof_field": 0, "va_arg": 1, "alloc_percpu": 0,
    "alloc_percpu_gfp": 0,
}
SCOPED_GUARDS = {"scoped_guard": 1, "scoped_cond_guard": 2}  # name -> arguments before the lock
# File-scope definition macros whose arguments are types and statements: always blanked.
DEFINITION_MACROS = frozenset({
    "DEFINE_FREE", "DEFINE_CLASS", "EXTEND_CLASS", "DEFINE_GUARD", "DEFINE_GUARD_COND",
    "DEFINE_LOCK_GUARD_0", "DEFINE_LOCK_GUARD_1", "DEFINE_LOCK_GUARD_1_COND",
})
# File-scope registration macros often written without `;`: blanked when they are.
REGISTRATION_MACROS = frozenset({
    "module_init", "module_exit", "core_initcall", "postcore_initcall", "arch_initcall",
    "subsys_initcall", "fs_initcall", "device_initcall", "late_initcall", "late_initcall_sync",
})

# Candidate sites are found by a few scans for literal substrings, each of which runs at
# memory speed (an alternation of names that do not share their first characters is not: one
# of all the names would be slower than the parse); each hit is widened to its whole
# identifier and checked against the tables.
_CANDIDATE_SCANS = [re.compile(p) for p in (
    rb"_(?:_|entry|t\(|or_null_rcu)",  # annotations, list_*entry, min_t, list_first_or_null_rcu
    rb"for_each", rb"container_of", rb"s(?:coped_|izeof_field)",
    rb"no(?:inline|trace|instr|kprobe_inline)", rb"offsetofend", rb"va_arg", rb"asmlinkage",
    rb"alloc_percpu", rb"module_(?:init|exit)", rb"initcall",
)]
_LINE_START_MACRO = re.compile(rb"\n([A-Z][A-Z0-9_]*)\(")  # a macro call opening a line (at file scope)
_COMMENT = re.compile(rb"/\*.*?\*/", re.S)
_UPPERCASE_NAME = re.compile(r"[A-Z][A-Z0-9_]*")  # a macro by kernel convention
# Function heads of the form NAME(function, type, parameter, type, parameter, ...)
_SYSCALL = re.compile(r"(?:COMPAT_)?SYSCALL_DEFINE[0-6]|BPF_CALL_[0-5]")
_KNOWN_NAMES = (set(ANNOTATIONS) | set(ANNOTATION_CALLS) | set(LOCK_ANNOTATIONS) | set(TYPE_ARGUMENT)
                | set(SCOPED_GUARDS) | set(REGISTRATION_MACROS))
_PAREN_SCAN = re.compile(rb"[()\[\]{},\"'/]")
_FUNCTION_HEAD = re.compile(rb"([A-Za-z_]\w*)\s*\(")
_SPACE = b" \t\r\n\f\v"
_STATEMENT_START = frozenset(b";{}):")
_IDENT_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


@dataclass(eq=False)
class ParsedFile:
    """One parsed C text. Node positions in `tree` are positions in `original` as well."""

    tree: Tree  # tree of `source`
    source: bytes  # the rewritten text: same length and newlines as `original`
    original: bytes
    digest: str  # sha1 of `original`
    # function name -> [(kind, lock expression)], kind "acquires" | "releases" | "must_hold"
    lock_annotations: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    # start byte of the `if` a scoped_guard became -> (guard class, lock expression text)
    scoped_guards: dict[int, tuple[str, str]] = field(default_factory=dict)
    has_errors: bool = False

    def text(self, node) -> str:
        """A node's text as originally written (types and annotations included)."""
        return self.original[node.start_byte:node.end_byte].decode("utf-8", "replace")


_memo: OrderedDict[str, ParsedFile] = OrderedDict()
_parser = Parser(LANGUAGE)


def as_bytes(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")


def digest_of(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def parse_c(text: str | bytes) -> ParsedFile:
    """Parse C text (memoised by content: the same text gives the same ParsedFile object)."""
    original = as_bytes(text)
    digest = digest_of(original)
    parsed = _memo.get(digest)
    if parsed is not None:
        _memo.move_to_end(digest)
        return parsed
    rewrite = rewrite_kernel_macros(original)
    source, tree = rewrite.source, _parser.parse(rewrite.source)
    if tree.root_node.has_error:
        source, tree = recover(source, tree)
    parsed = ParsedFile(tree=tree, source=source, original=original, digest=digest,
                        lock_annotations=rewrite.lock_annotations, scoped_guards=rewrite.scoped_guards,
                        has_errors=tree.root_node.has_error)
    _memo[digest] = parsed
    while len(_memo) > MEMO_SIZE or len(_memo) > 1 and _memo_bytes() > MEMO_BYTES:
        _memo.popitem(last=False)
    return parsed


def _memo_bytes() -> int:
    return sum(len(parsed.original) for parsed in _memo.values())


@dataclass
class Rewrite:
    source: bytes
    lock_annotations: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    scoped_guards: dict[int, tuple[str, str]] = field(default_factory=dict)


def rewrite_kernel_macros(original: bytes) -> Rewrite:
    """The length-preserving pre-pass (see the module docstring)."""
    result = Rewrite(original)
    sites = _candidate_sites(original)
    if not sites:
        return result
    out = bytearray(original)
    in_comment = _CommentIndex(original)
    for start, end in sites:
        if in_comment(start) or not _in_code_line(original, start):
            continue
        name = original[start:end].decode()
        if "for_each" in name:
            _rewrite_loop(out, start, end)
        elif name in ANNOTATIONS:
            out[start:end] = b" " * (end - start)
        elif name in TYPE_ARGUMENT:
            _rewrite_type_argument(out, end, TYPE_ARGUMENT[name])
        elif name in SCOPED_GUARDS:
            _rewrite_scoped_guard(out, start, end, SCOPED_GUARDS[name], result.scoped_guards)
        elif name in ANNOTATION_CALLS or name in LOCK_ANNOTATIONS:
            _rewrite_annotation_call(out, start, end, LOCK_ANNOTATIONS.get(name), result.lock_annotations)
        elif _SYSCALL.fullmatch(name):
            _rewrite_syscall(out, start, end)
        elif (name.startswith("DEFINE_") or name in REGISTRATION_MACROS or _UPPERCASE_NAME.fullmatch(name)) and \
                (start == 0 or original[start - 1] == ord("\n")):
            _rewrite_definition(out, start, end)
    result.source = bytes(out)
    return result


# --- lexer helpers --------------------------------------------------------------------------

def _candidate_sites(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every identifier that may be a macro the pre-pass rewrites, in order."""
    sites = {(match.start(1) - 1, match.end(1) - 1) for match in _LINE_START_MACRO.finditer(b"\n" + data)}
    for scan in _CANDIDATE_SCANS:
        for match in scan.finditer(data):
            start = end = match.start()
            while start > 0 and data[start - 1] in _IDENT_CHARS:
                start -= 1
            while end < len(data) and data[end] in _IDENT_CHARS:
                end += 1
            name = data[start:end]
            if b"for_each" in name or _SYSCALL.fullmatch(name.decode()) \
                    or name.decode() in _KNOWN_NAMES:
                sites.add((start, end))
    return sorted(sites)


class _CommentIndex:
    """Whether a position lies inside a block comment (the comments are found once, on the
    first question)."""

    def __init__(self, data: bytes):
        self.data = data
        self.starts: list[int] | None = None
        self.ends: list[int] = []

    def __call__(self, pos: int) -> bool:
        if self.starts is None:
            spans = [m.span() for m in _COMMENT.finditer(self.data)]
            self.starts = [s for s, _ in spans]
            self.ends = [e for _, e in spans]
        k = bisect.bisect_right(self.starts, pos) - 1
        return k >= 0 and pos < self.ends[k]


def _in_code_line(data: bytes, pos: int) -> bool:
    """Whether `pos` is code as far as its line tells: not in a preprocessor directive (or its
    continuation lines), a `//` comment, or a string or character literal."""
    line_start = data.rfind(b"\n", 0, pos) + 1
    first = line_start
    while first > 1 and data[first - 2] == ord("\\"):  # continuation of the line above
        first = data.rfind(b"\n", 0, first - 2) + 1
    if data[first:pos].lstrip().startswith(b"#"):
        return False
    prefix = data[line_start:pos]
    if b"//" not in prefix and b'"' not in prefix and b"'" not in prefix:
        return True
    quote, i = None, 0
    while i < len(prefix):
        c = prefix[i]
        if quote is not None:
            if c == ord("\\"):
                i += 1
            elif c == quote:
                quote = None
        elif c in b"\"'":
            quote = c
        elif prefix.startswith(b"//", i):
            return False
        elif prefix.startswith(b"/*", i):
            close = prefix.find(b"*/", i + 2)
            if close < 0:
                return True  # the comment index answers for block comments
            i = close + 1
        i += 1
    return quote is None



def _skip_space(buf: bytearray, pos: int) -> int:
    """First position at or after `pos` that is not whitespace or inside a comment."""
    n = len(buf)
    while pos < n:
        c = buf[pos]
        if c in _SPACE:
            pos += 1
        elif buf.startswith(b"/*", pos):
            close = buf.find(b"*/", pos + 2)
            pos = n if close < 0 else close + 2
        elif buf.startswith(b"//", pos):
            eol = buf.find(b"\n", pos)
            pos = n if eol < 0 else eol
        else:
            break
    return pos


def _previous_token_end(buf: bytearray, pos: int) -> int:
    """Position of the last significant byte before `pos`, skipping whitespace and comments;
    -1 at the start of the text or when a preprocessor line comes first."""
    i = pos - 1
    while i >= 0:
        c = buf[i]
        if c in _SPACE:
            i -= 1
            continue
        if c == ord("/") and i > 0 and buf[i - 1] == ord("*"):
            opening = buf.rfind(b"/*", 0, i - 1)
            if opening < 0:
                return -1
            i = opening - 1
            continue
        line_start = buf.rfind(b"\n", 0, i) + 1
        if buf[line_start:i + 1].lstrip().startswith(b"#"):
            return -1
        comment = buf.find(b"//", line_start, i + 1)
        if comment >= 0:
            i = comment - 1
            continue
        return i
    return -1


def _at_statement_start(buf: bytearray, pos: int) -> bool:
    """Whether the identifier at `pos` begins a statement (rather than being called in an
    expression or named in a declaration)."""
    i = _previous_token_end(buf, pos)
    if i < 0 or buf[i] in _STATEMENT_START:
        return True
    if buf[i] in _IDENT_CHARS:
        word_start = i
        while word_start > 0 and buf[word_start - 1] in _IDENT_CHARS:
            word_start -= 1
        return buf[word_start:i + 1] in (b"else", b"do")
    return False


def _arguments(buf: bytearray, pos: int) -> tuple[int, list[int], int] | None:
    """The argument list opening at or after `pos` (whitespace allowed before it): the
    position of `(`, the positions of its top-level commas, the position of the closing `)`."""
    opening = _skip_space(buf, pos)
    if opening >= len(buf) or buf[opening] != ord("("):
        return None
    depth, commas = 0, []
    i = opening
    while True:
        m = _PAREN_SCAN.search(buf, i)
        if m is None:
            return None
        i = m.start()
        c = buf[i]
        if c in b"([{":
            depth += 1
        elif c in b")]}":
            depth -= 1
            if depth == 0:
                return (opening, commas, i) if c == ord(")") else None
        elif c == ord(","):
            if depth == 1:
                commas.append(i)
        elif c in b"\"'":
            close = re.compile(rb"%c(?:\\.|[^%c\\\n])*%c" % (c, c, c), re.S).match(buf, i)
            if close is None:
                return None
            i = close.end()
            continue
        elif buf.startswith(b"/*", i) or buf.startswith(b"//", i):
            i = _skip_space(buf, i)
            continue
        i += 1


def _split(opening: int, commas: list[int], closing: int) -> list[tuple[int, int]]:
    """Argument spans (without the separating commas); [] for an empty list."""
    bounds = [opening, *commas, closing]
    return [(bounds[k] + 1, bounds[k + 1]) for k in range(len(bounds) - 1)]


def _stripped(buf: bytearray, span: tuple[int, int]) -> tuple[int, int]:
    start, end = span
    while start < end and buf[start] in _SPACE:
        start += 1
    while end > start and buf[end - 1] in _SPACE:
        end -= 1
    return start, end


_BLANKS = bytes(10 if c == 10 else 32 for c in range(256))  # every byte a space, but newlines


def _blank(buf: bytearray, start: int, end: int) -> None:
    """Spaces over buf[start:end], newlines kept."""
    buf[start:end] = bytes(buf[start:end]).translate(_BLANKS)


def _text(buf: bytearray, span: tuple[int, int]) -> str:
    start, end = _stripped(buf, span)
    return " ".join(buf[start:end].decode("utf-8", "replace").split())


# --- the rewrites ---------------------------------------------------------------------------

def _rewrite_loop(out: bytearray, start: int, end: int) -> None:
    """`list_for_each_entry(a, b, c) stmt` -> `for (a; b; c) stmt`, for any loop macro called
    in statement position and followed by its body."""
    args = _arguments(out, end)
    if args is None or not _at_statement_start(out, start):
        return
    opening, commas, closing = args
    follow = _skip_space(out, closing + 1)
    if follow >= len(out) or out[follow] in b";,)=":
        return
    missing = 2 - min(2, len(commas))
    head = b"for (" + b";" * missing
    if opening + 1 - start < len(head):
        return
    out[start:opening + 1] = head + b" " * (opening + 1 - start - len(head))
    for comma in commas[:2]:
        out[comma] = ord(";")


def _rewrite_scoped_guard(out: bytearray, start: int, end: int, skipped: int,
                          guards: dict[int, tuple[str, str]]) -> None:
    """`scoped_guard(class, lock) body` -> `if (lock) body`; the guard is recorded by the
    position of the `if`."""
    args = _arguments(out, end)
    if args is None or not _at_statement_start(out, start):
        return
    opening, commas, closing = args
    spans = _split(opening, commas, closing)
    if len(spans) < skipped:
        return
    guard_class = _text(out, spans[0])
    kept = spans[skipped:] or spans[:1]
    lock = _text(out, (kept[0][0], kept[-1][1])) if len(spans) > skipped else ""
    out[start:end] = b"if" + b" " * (end - start - 2)
    _blank(out, end, opening)
    _blank(out, opening + 1, kept[0][0])
    guards[start] = (guard_class, lock)


def _rewrite_type_argument(out: bytearray, end: int, index: int) -> None:
    """The type argument `struct fuse_inode` -> the identifier `struct_fuse_inode`."""
    args = _arguments(out, end)
    if args is None:
        return
    spans = _split(*args)
    if index >= len(spans):
        return
    start, stop = _stripped(out, spans[index])
    if start == stop or b"\n" in out[start:stop]:
        return
    out[start:stop] = bytes(c if c in _IDENT_CHARS else ord("_") for c in out[start:stop])
    if out[start] in b"0123456789":
        out[start] = ord("_")


def _rewrite_annotation_call(out: bytearray, start: int, end: int, lock_kind: str | None,
                             annotations: dict[str, list[tuple[str, str]]]) -> None:
    """Blank `__aligned(8)`, `__acquires(&x->lock)`, ...; lock annotations are recorded for the
    function they annotate."""
    args = _arguments(out, end)
    stop = end if args is None else args[2] + 1
    if lock_kind and args is not None:
        function = _annotated_function(out, start, stop)
        if function:
            fact = (lock_kind, _text(out, (args[0] + 1, args[2])))
            found = annotations.setdefault(function, [])
            if fact not in found:
                found.append(fact)
    _blank(out, start, stop)


def _annotated_function(out: bytearray, start: int, stop: int) -> str | None:
    """The function a lock annotation belongs to: the one whose parameter list it follows
    (`void f(struct x *x) __acquires(x)`), else the next function head."""
    i = _previous_token_end(out, start)
    if i >= 0 and out[i] == ord(")"):
        depth = 0
        while i >= 0:
            if out[i] == ord(")"):
                depth += 1
            elif out[i] == ord("("):
                depth -= 1
                if depth == 0:
                    break
            i -= 1
        name_end = _previous_token_end(out, i)
        name_start = name_end
        while name_start > 0 and out[name_start - 1] in _IDENT_CHARS:
            name_start -= 1
        if name_end >= 0 and out[name_end] in _IDENT_CHARS:
            return out[name_start:name_end + 1].decode()
        return None
    for head in _FUNCTION_HEAD.finditer(out, stop):
        name = head.group(1).decode()
        if name not in LOCK_ANNOTATIONS and name not in ANNOTATION_CALLS:
            return name
    return None


def _rewrite_syscall(out: bytearray, start: int, end: int) -> None:
    """`SYSCALL_DEFINE2(name, int, fd, char *, buf)` -> `long name(int  fd, char * buf)`."""
    args = _arguments(out, end)
    if args is None:
        return
    opening, commas, closing = args
    if commas:
        out[start:opening + 1] = b"long" + b" " * (opening + 1 - start - 4)
        out[commas[0]] = ord("(")
        for comma in commas[1::2]:  # between a parameter's type and its name
            out[comma] = ord(" ")
    else:  # SYSCALL_DEFINE0(name): no room for `(` after the name, so the name moves
        name = bytes(out[opening + 1:closing]).strip()
        head = b"long " + name + b"("
        out[start:closing] = head + b" " * (closing - start - len(head))


def _rewrite_definition(out: bytearray, start: int, end: int) -> None:
    """A file-scope `DEFINE_X(...)` or `module_init(...)` line without `;` (or one of the
    cleanup-class definition macros, whose arguments are types and statements) is blanked."""
    args = _arguments(out, end)
    if args is None:
        return
    closing = args[2]
    follow = _skip_space(out, closing + 1)
    name = out[start:end].decode()
    if name in DEFINITION_MACROS or follow >= len(out) or out[follow] not in b";=,{":
        _blank(out, start, closing + 1)


# --- rewrites guided by the parse's own errors ------------------------------------------------
#
# What the name tables above cannot know (a subsystem's own loop macro, `STATIC`, a macro given
# a type, a statement cut by `#if`) is found where tree-sitter failed: each ERROR or MISSING node
# points at a statement, and the macro shapes of that statement alone are rewritten, the same
# length-preserving way (an `#if` group near an error is resolved in the whole definition). A
# round of rewrites is kept only when it leaves less code in damaged definitions (or as much,
# with fewer errors).

RECOVERY_ROUNDS = 3
# Words that begin a type; an argument made of them (and `*`) is a type, not an expression.
TYPE_WORDS = frozenset({
    "struct", "union", "enum", "const", "volatile", "unsigned", "signed", "short", "long", "int",
    "char", "void", "bool", "_Bool", "float", "double",
})
_PRIMITIVE_TYPES = frozenset({"size_t", "ssize_t", "ptrdiff_t", "intptr_t", "uintptr_t", "int8_t",
                              "int16_t", "int32_t", "int64_t", "uint8_t", "uint16_t", "uint32_t",
                              "uint64_t"})

# Names followed by `(` that are not macro calls.
_NOT_MACROS = frozenset({
    "if", "for", "while", "switch", "return", "sizeof", "typeof", "__typeof__", "__typeof",
    "_Alignof", "__alignof__", "alignof", "defined", "__attribute__", "__attribute", "asm",
    "__asm__", "__asm", "_Generic", "_Static_assert", "static_assert", "do", "else", "case",
    "goto", "offsetof", "va_arg", "__builtin_offsetof", "__builtin_types_compatible_p",
    "__builtin_choose_expr",
})
_IDENTIFIER = re.compile(rb"[A-Za-z_]\w*")
_MACRO_CALL = re.compile(rb"\b([A-Za-z_]\w*)\s*\(")
# An argument list that may hold a type or an operator (most hold neither: not split at all).
_ARGUMENT_HINT = re.compile(rb"[*=<>!]|\b[0-9]\w*_|\b(?:typeof|__typeof__|%s)\b"
                            % "|".join(sorted(TYPE_WORDS | _PRIMITIVE_TYPES)).encode())
_TYPEOFS = (b"typeof", b"__typeof__", b"__typeof")
_TYPEOF = re.compile(rb"(?:typeof|__typeof__|__typeof)\s*\(.*\)\s*\**", re.S)
_PASTED = re.compile(rb"[0-9]\w*_\w*")  # no number holds `_`
_OPERATOR = re.compile(rb"[-+*/%<>=!&|^~]+")
_WORDS = re.compile(rb"[\w\s*]+")
_CASE_RANGE = re.compile(rb"\bcase\b[^:;\n]*?(\.\.\.)")
# Words that may follow an unknown macro among a definition's specifiers
_SPECIFIER_WORDS = TYPE_WORDS | _PRIMITIVE_TYPES | {"static", "inline", "extern", "register", "__inline",
                                                    "__inline__"}
CHANGE_CHUNK = 64
_DIRECTIVE = re.compile(rb"^[ \t]*#[ \t]*(if|ifdef|ifndef|elif|else|endif|define|undef)\b", re.M)
_DEFINE = re.compile(rb"[ \t]*#[ \t]*define\b")
_LABEL = re.compile(rb"[A-Za-z_]\w*[ \t]*:(?!:)")
_IF_ZERO = re.compile(rb"[ \t]*#[ \t]*if[ \t]+0\b")
CONDITIONAL_REACH = 3  # lines from an error within which an `#if` group may have cut its statement
STATEMENT_LOOKBACK = 8  # lines a statement's start is looked for above an error


def recover(source: bytes, tree: Tree) -> tuple[bytes, Tree]:
    """Rewrite the macro shapes at the parse errors of `tree` (the tree of `source`) and parse
    again, a few rounds while that helps: the final text and its tree. The new parse reuses the
    old tree outside the rewritten spans."""
    sites = _error_sites(tree.root_node)
    score = _damage(sites)
    in_comment = _CommentIndex(source)
    for _ in range(RECOVERY_ROUNDS):
        out = bytearray(source)
        seen = set()
        for node, ancestors in sites:
            span = _statement_span(out, node.start_byte, node.end_byte)
            if (span, node.type) not in seen:
                seen.add((span, node.type))
                _rewrite_at_error(out, node, ancestors, span, in_comment)
        if out == source:
            break
        edited = tree.copy()
        rows = _Rows(out)
        for start, end in _changed_spans(source, out):
            edited.edit(start_byte=start, old_end_byte=end, new_end_byte=end, start_point=rows.point(start),
                        old_end_point=rows.point(end), new_end_point=rows.point(end))
        new_tree = _parser.parse(bytes(out), edited)
        new_sites = _error_sites(new_tree.root_node)
        new_score = _damage(new_sites)
        if new_score >= score:
            break
        source, tree, sites, score = bytes(out), new_tree, new_sites, new_score
        if not tree.root_node.has_error:
            break
    return source, tree


def _changed_spans(old: bytes, new: bytearray) -> list[tuple[int, int]]:
    """The spans (start, end) where `new` differs from `old` (of the same length), each found
    by bisection of equal slices."""
    spans, start, n = [], 0, len(old)
    while start < n:
        if old[start:] == new[start:]:
            break
        low, high = start, n  # the first difference is in [low, high)
        while high - low > 1:
            middle = (low + high) // 2
            if old[low:middle] == new[low:middle]:
                low = middle
            else:
                high = middle
        first = low
        end = min(n, first + CHANGE_CHUNK)  # a rewrite is short: differences this close are one span
        while end < n and old[end - CHANGE_CHUNK:end] != new[end - CHANGE_CHUNK:end]:
            end = min(n, end + CHANGE_CHUNK)
        spans.append((first, end))
        start = end
    return spans


class _Rows:
    """(row, column) of byte positions asked in increasing order, newlines counted once."""

    def __init__(self, data: bytearray):
        self.data, self.pos, self.row = data, 0, 0

    def point(self, pos: int) -> tuple[int, int]:
        self.row += self.data.count(b"\n", self.pos, pos)
        self.pos = pos
        return self.row, pos - (self.data.rfind(b"\n", 0, pos) + 1)


def _error_sites(root) -> list:
    """(node, its ancestors from the root) of every ERROR node and MISSING node."""
    sites, stack = [], [(root, ())]
    while stack:
        node, ancestors = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            sites.append((node, ancestors))
        elif node.has_error:
            inner = (*ancestors, node)
            stack.extend((child, inner) for child in node.children)
    return sites


def _damage(sites: list) -> tuple[int, int]:
    """(bytes of the definitions at file scope holding an error site, error sites). A rewrite
    that unbalances braces makes one damaged definition of all that follows: counted by its
    size."""
    damaged = {}
    for node, ancestors in sites:
        top = ancestors[1] if len(ancestors) > 1 else node
        damaged[top.start_byte] = max(top.end_byte - top.start_byte, 1)
    return sum(damaged.values()), len(sites)


def _rewrite_at_error(out: bytearray, node, ancestors, span: tuple[int, int], in_comment) -> None:
    definition = _macro_definition_at(out, node.start_byte)
    if definition is not None:  # a macro's body need not be C on its own; it holds no facts
        _blank(out, *definition)
        return
    parent = ancestors[-1] if ancestors else None
    if parent is not None and parent.type in ("function_definition", "declaration") and node.type == "ERROR":
        if _rewrite_specifier_macro(out, node, parent):
            return
    if parent is not None and _rewrite_unknown_word(out, node, parent):
        return
    in_body = any(a.type == "compound_statement" for a in ancestors)
    in_members = any(a.type == "field_declaration_list" for a in ancestors)
    start, end = span
    for match in _MACRO_CALL.finditer(out, start, end):
        name = match.group(1).decode()
        if name in _SPECIFIER_WORDS or name in _NOT_MACROS and name != "offsetof" and name.encode() not in _TYPEOFS \
                or in_comment(match.start()) or not _in_code_line(out, match.start()):
            continue
        args = _arguments(out, match.end(1))
        if args is None or _declares(out, match.start()):
            continue
        if _rewrite_statement_macro(out, match.start(), match.end(1), args, in_body, in_members):
            continue
        if _next_to_string(out, match.start(), args[2]):
            out[match.start()] = out[args[2]] = ord('"')
            _blank(out, match.start() + 1, args[2])
            continue
        _rewrite_arguments(out, match.start(), match.end(1), args)
    for match in _CASE_RANGE.finditer(out, start, end):
        out[match.start(1):match.end(1)] = b" | "
    near = _lines_around(out, start, end, CONDITIONAL_REACH)
    for directive in [m.start() for m in _DIRECTIVE.finditer(out, *near)]:
        if _DIRECTIVE.match(out, directive):  # not blanked with an earlier group
            _flatten_conditionals(out, directive)


def _macro_definition_at(out: bytearray, pos: int) -> tuple[int, int] | None:
    """(start, end) of the `#define` whose lines (continuations included) hold `pos`."""
    start = out.rfind(b"\n", 0, pos) + 1
    while start > 1 and out[start - 2] == ord("\\"):
        start = out.rfind(b"\n", 0, start - 1) + 1
    if not _DEFINE.match(out, start):
        return None
    end = out.find(b"\n", pos)
    while end > 0 and out[end - 1] == ord("\\"):
        end = out.find(b"\n", end + 1)
    return start, len(out) if end < 0 else end


def _declares(out: bytearray, pos: int) -> bool:
    """Whether the name at `pos` is declared there (`int f(`, `struct foo *f(`): a type comes
    before it, where a macro call has an operator, a `(`, a `,` or a statement's start."""
    i = _previous_token_end(out, pos)
    if i < 0:
        return False
    if out[i] == ord("*"):
        return True
    if out[i] not in _IDENT_CHARS:
        return False
    word_start = i
    while word_start > 0 and out[word_start - 1] in _IDENT_CHARS:
        word_start -= 1
    return out[word_start:i + 1] not in (b"return", b"case", b"else", b"do", b"sizeof", b"static", b"extern",
                                         b"const")


def _lines_around(out: bytearray, start: int, end: int, count: int) -> tuple[int, int]:
    """The span from `count` lines above `start` to `count` lines below `end`."""
    for _ in range(count):
        start = max(0, out.rfind(b"\n", 0, max(start - 1, 0)))
        found = out.find(b"\n", end + 1)
        end = len(out) if found < 0 else found
    return start, end


def _rewrite_specifier_macro(out: bytearray, node, parent) -> bool:
    """`STATIC void f(...)`, `bool __init_memblock f(...)`: an unknown word among a definition's
    specifiers (tree-sitter takes the first word for the type and fails on a later one) is
    blanked."""
    declarator = parent.child_by_field_name("declarator")
    if declarator is None or node.start_byte >= declarator.start_byte:
        return False
    words = out[node.start_byte:node.end_byte].split()
    if not words or not _WORDS.fullmatch(out, node.start_byte, node.end_byte):
        return False
    if words[0].decode() not in _SPECIFIER_WORDS:
        _blank(out, node.start_byte, node.end_byte)  # the unknown word is the one that failed
        return True
    for child in parent.children:  # the unknown word is the one taken for the type
        if child.start_byte >= node.start_byte:
            return False
        if child.type == "sized_type_specifier":
            child = next((c for c in child.children if c.type == "type_identifier"), child)
        if child.type == "type_identifier":
            _blank(out, child.start_byte, child.end_byte)
            return True
    return False


def _rewrite_unknown_word(out: bytearray, node, parent) -> bool:
    """An unknown word in a declaration, next to its declarator: the macro before the type
    (`STATIC struct foo *f(...)` read as a declaration of `struct`), an annotation after it
    (`bool x __meminitdata;`, `struct s __net_initdata x = {`; an annotation there is a `__`
    word) or after a function's parameters (`int f(int x) CONSTF;`)."""
    if node.is_missing and node.type == ";" and parent.type == "declaration":
        words = [c for c in parent.children if c.start_byte < node.start_byte]
        if words and words[-1].type == "identifier" and words[-1].text.decode() in _SPECIFIER_WORDS:
            unknown = next((c for c in words if c.type == "type_identifier"), None)
            if unknown is not None:
                _blank(out, unknown.start_byte, unknown.end_byte)
                return True
        after = _IDENTIFIER.match(out, _skip_space(out, node.end_byte))
        if after and after.group().startswith(b"__"):
            follow = _skip_space(out, after.end())
            if follow < len(out) and out[follow] in b";=,{[":
                _blank(out, after.start(), after.end())
                return True
        return False
    if node.type == "ERROR":  # `int f(int x) CONSTF;`: a word after a parameter list
        for child in node.children:
            if child.type == "function_declarator" and len(child.children) >= 3 and \
                    child.children[-2].type == "parameter_list" and child.children[-1].type == "identifier":
                _blank(out, child.children[-1].start_byte, child.children[-1].end_byte)
                return True
    previous = node.prev_sibling
    if node.type != "ERROR" or previous is None or previous.type != "identifier" or \
            not _IDENTIFIER.fullmatch(out[node.start_byte:node.end_byte]):
        return False
    for word in (previous, node):
        if out[word.start_byte:word.start_byte + 2] == b"__":
            _blank(out, word.start_byte, word.end_byte)
            return True
    return False


def _statement_span(out: bytearray, start: int, end: int) -> tuple[int, int]:
    """The lines of the statement an error lies in: its own lines, and the lines above that
    continue onto them (a line not ending a statement or a block), a few at most."""
    line_start = out.rfind(b"\n", 0, start) + 1
    for _ in range(STATEMENT_LOOKBACK):
        if line_start == 0:
            break
        above = out.rfind(b"\n", 0, line_start - 1) + 1
        text = out[above:line_start - 1].rstrip()
        if not text or text[-1:] in (b";", b"{", b"}", b":") or text.lstrip().startswith(b"#"):
            break
        line_start = above
    line_end = out.find(b"\n", end)
    return line_start, len(out) if line_end < 0 else line_end


def _rewrite_statement_macro(out: bytearray, start: int, end: int, args, in_body: bool,
                             in_members: bool) -> bool:
    """A macro call beginning a statement: one naming a type (`DARRAY(struct x, 4) v;`,
    `typeof(p->x) v = ...;`) becomes an identifier; in a function body
    (inside a block, or indented when the whole function failed):
    - a loop (`skb_queue_walk(q, skb) {`, one followed by its body) becomes a `for`;
    - one given statements (`DLM_ASSERT(x, dump(r););`) becomes a block of them;
    - one without `;` before a `}`, a directive or another call of itself (an x-macro list) is
      blanked;
    and a declaration (`DECLARE_BITMAP(seen, N) = { 0 };`, `static DEFINE_X(name, ...);`, a
    struct member `DECLARE_BITMAP(bits, N);`, a file-scope `TRACE_EVENT(name, ...);`)
    becomes a declaration of its first argument, or of its second with the type of its first
    (`static DEFINE_PER_CPU(struct foo, name);`)."""
    statement_start = _at_statement_start(out, start)
    after_static = not statement_start and _after_word(out, start, b"static")
    if not statement_start and not after_static:
        return False
    opening, commas, closing = args
    follow = _skip_space(out, closing + 1)
    following = out[follow] if follow < len(out) else None
    declared = _IDENTIFIER.match(out, follow)
    if statement_start and declared and b"\n" not in out[start:closing]:
        after = _skip_space(out, declared.end())
        if after < len(out) and (out[after] in b";,[" or out[after] == ord("=") and out[start:end] in _TYPEOFS):
            _as_identifier(out, start, closing + 1)  # `DARRAY(struct x, 4) v;`: a macro naming a type
            return True
    # indented outside a struct: in a function body, even when the whole function failed
    in_body = in_body or not in_members and out[out.rfind(b"\n", 0, start) + 1] in b" \t"
    if in_body and statement_start:
        next_call = _MACRO_CALL.match(out, follow)
        if following is None or following in b"}#" or next_call and next_call.group(1) == out[start:end]:
            _blank(out, start, closing + 1)
            return True
        if following == ord("{") or following in _IDENT_CHARS:
            before = bytes(out)
            _rewrite_loop(out, start, end)
            return out != before
        if _has_statements(out, opening, closing):
            out[start] = ord("{")
            _blank(out, start + 1, opening + 1)
            out[closing] = ord("}")
            return True
    # in a function, `DEFINE_X(name);` parses as a call: a declaration fails there only as
    # `static` or with `=`
    if (after_static or following == ord("=") or not in_body) and _UPPERCASE_NAME.fullmatch(out[start:end].decode()):
        spans = [_stripped(out, span) for span in _split(opening, commas, closing)]
        if len(spans) >= 2 and _is_type(out[spans[0][0]:spans[0][1]]) and \
                _IDENTIFIER.fullmatch(out[spans[1][0]:spans[1][1]]):  # DEFINE_PER_CPU(type, name)
            _blank(out, start, spans[0][0])
            _blank(out, spans[0][1], spans[1][0])
            _blank(out, spans[1][1], closing + 1)
            return True
        if spans and _IDENTIFIER.fullmatch(out[spans[0][0]:spans[0][1]]) and opening + 1 - start >= 4:
            out[start:opening + 1] = b"int " + b" " * (opening + 1 - start - 4)
            _blank(out, spans[0][1], closing + 1)
            return True
    return False


def _after_word(out: bytearray, pos: int, word: bytes) -> bool:
    """Whether `word` comes right before `pos`, itself at the start of a statement."""
    i = _previous_token_end(out, pos)
    start = i + 1 - len(word)
    return (i >= 0 and start >= 0 and out[start:i + 1] == word
            and (start == 0 or out[start - 1] not in _IDENT_CHARS) and _at_statement_start(out, start))


def _has_statements(out: bytearray, opening: int, closing: int) -> bool:
    """Whether an argument list holds a `;` of its own (not one in a string or character
    literal, nor in a statement expression `({ ... })` passed as an argument)."""
    i = out.find(b";", opening, closing)
    while i >= 0:
        inside = out[opening + 1:i]
        if inside.count(b"(") + inside.count(b"{") == inside.count(b")") + inside.count(b"}") and \
                _in_code_line(out, i):
            return True
        i = out.find(b";", i + 1, closing)
    return False


def _next_to_string(out: bytearray, start: int, closing: int) -> bool:
    """Whether a macro call stands between parts of a string literal (`"%" __stringify(N) "s"`)
    and fits on its line."""
    before = _previous_token_end(out, start)
    after = _skip_space(out, closing + 1)
    return (b"\n" not in out[start:closing] and b'"' not in out[start:closing]
            and ((before >= 0 and out[before] == ord('"')) or (after < len(out) and out[after] == ord('"'))))


def _rewrite_arguments(out: bytearray, start: int, end: int, args) -> None:
    """Each argument of a macro call that is a type (`struct foo *`, `unsigned long`) becomes an
    identifier of the same width, one that is an operator (`ASSERTCMP(a, ==, b)`) a `0`, one
    that is a name part beginning with a digit (`20MHZ_IN_6GHZ`) a name;
    `offsetof` given a member path becomes a macro call too."""
    if not _ARGUMENT_HINT.search(out, args[0], args[2]):
        return
    changed = False
    for span in _split(*args):
        first, last = _stripped(out, span)
        if first == last:
            continue
        text = out[first:last]
        if _is_type(text):
            _as_identifier(out, first, last)
            changed = True
        elif _OPERATOR.fullmatch(text):
            out[first:last] = b"0" + b" " * (last - first - 1)
        elif _PASTED.fullmatch(text):  # `PFLAG(PHY, 0, 20MHZ_IN_40MHZ)`: a name part, not a number
            out[first] = ord("_")
    if changed and out[start:end] == b"offsetof":
        out[start:end] = b"OFFSETOF"


def _as_identifier(out: bytearray, start: int, end: int) -> None:
    """`struct foo *` -> `struct_foo__`: one identifier of the same width."""
    out[start:end] = bytes(c if c in _IDENT_CHARS else ord("_") for c in out[start:end])
    if out[start] in b"0123456789":
        out[start] = ord("_")


def _is_type(text: bytes) -> bool:
    """Whether a macro argument is a type: `struct foo`, `unsigned long`, `const char *`,
    `typeof(*p)` (not `int a`: a parameter names something)."""
    if b"\n" in text:
        return False
    if _TYPEOF.fullmatch(text):
        return True
    if not all(c in _IDENT_CHARS or c in b" \t*" for c in text):
        return False
    if text.rstrip().endswith(b"*"):
        return bool(text.replace(b"*", b" ").split())
    words = [w.decode() for w in text.split() if w not in (b"const", b"volatile")]
    if words and words[0] in ("struct", "union", "enum"):
        return len(words) == 2
    return bool(words) and all(w in TYPE_WORDS or w in _PRIMITIVE_TYPES for w in words)


def _flatten_conditionals(out: bytearray, pos: int) -> None:
    """In the definition around `pos` (kernel style: from a line that begins in column 0 to a `}`
    in column 0), each `#if` group keeps one branch as plain code (the first, or the next when
    the first is `#if 0`): the directives and the other branches are blanked, so that a
    statement or an initializer the group cut (`} else\\n#endif\\n{`) is whole again.
    `#define` and `#undef` lines there go as well (an initializer cannot hold them)."""
    start = out.rfind(b"\n", 0, pos) + 1
    while start > 0 and not (out[start:start + 1] == b"{" or
                             out[start] in _IDENT_CHARS and not _LABEL.match(out, start)):
        start = out.rfind(b"\n", 0, start - 1) + 1
    end = out.find(b"\n}", pos)
    if end < 0 or out.find(b"\n}", start, pos) >= 0:
        return
    lines = []  # (start, end, directive word or None)
    line_start = start
    while line_start < end:
        line_end = out.find(b"\n", line_start)
        while out[line_end - 1:line_end] == b"\\" and line_end < end:  # a directive continued
            line_end = out.find(b"\n", line_end + 1)
        directive = _DIRECTIVE.match(out, line_start, line_end)
        lines.append((line_start, line_end, directive and directive.group(1)))
        line_start = line_end + 1
    depth = 0
    for _, _, word in lines:
        depth += (word or b"").startswith(b"if") - (word == b"endif")
        if depth < 0 or depth == 0 and word in (b"else", b"elif"):
            return  # a group opened above the definition: left alone
    if depth:
        return
    groups = []  # per open group: [this branch is kept, a branch was kept]
    for line_start, line_end, word in lines:
        kept = all(kept for kept, _ in groups)
        if word is None:
            if not kept:
                _blank(out, line_start, line_end)
            continue
        if word.startswith(b"if"):
            first = not _IF_ZERO.match(out, line_start, line_end)
            groups.append([first, first])
        elif word == b"endif":
            groups.pop()
        elif word in (b"else", b"elif"):
            groups[-1] = [not groups[-1][1], True]
        _blank(out, line_start, line_end)
