"""Hunk-only file versions made parseable: each known range wrapped so it parses as part of its
function.

In hunk-only mode a FileVersion has the lines the hunks show at their real line numbers and
empty placeholder lines everywhere else. A known range usually starts and ends in the middle
of a function, so on its own it does not parse. `repair` writes onto the placeholder lines
around each range what is missing, without moving any known line:

- above the range: the function head from the hunk's @@ context and `{` (one more `{` for each
  block the range starts inside of; `if (1) {` when the range closes that block with
  `} else`), `/*` when the range starts inside a block comment, `(` for a statement the
  range starts in the middle of;
- below the range: whatever ends the statement the range stops in, and a `}` for each block
  still open;
- between two ranges of the same function: only the braces that take the first range's depth
  to the second's, so that the function is one body.

How deep a range starts is read from the text the way a reader of kernel code would: a `}` in
column 0 closes a function, a `{` or a declaration in column 0 is at file scope, and otherwise
a statement's indentation (in tabs) is its depth in the function.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from reviewbot.c.parse import parse_c

_FUNCTION_NAME = re.compile(r"([A-Za-z_]\w*)\s*\(")
_LABEL = re.compile(r"[A-Za-z_]\w*\s*:(?!:)")
_CONTROL = frozenset({"if", "for", "while", "switch", "return", "sizeof", "do", "else"})


@dataclass
class _Scan:
    """The brace, parenthesis and comment structure of one known range."""

    starts_in_comment: bool
    ends_in_comment: bool = False
    braces: list[tuple[int, int, str]] = field(default_factory=list)  # (line, column, "{" or "}")
    paren_low: int = 0  # lowest parenthesis balance (negative: the range starts inside parens)
    paren_low_then: str = ""  # the first significant character after the lowest point
    paren_end: int = 0  # parentheses left open at the end (counting those opened before it)
    open_kinds: list[str] = field(default_factory=list)  # braces opened in the range, still open:
    #                                                     "init" (an initializer) or "block"
    last_char: str = ""  # last significant character of the range
    first_code: tuple[int, str] | None = None  # (line, text) of the first line with code
    lines: list[str] = field(default_factory=list)
    code_starts: set[int] = field(default_factory=set)  # lines whose first character is code


@dataclass
class _Shape:
    depth: int  # blocks open at the range's first line (the function body included)
    final: int  # blocks open after its last line
    else_closed: set[int]  # outer blocks (0 = outermost) the range closes with `} else`
    scope_at_start: str | None  # the function (or struct) the range starts in, from the context
    scope_at_end: str | None  # the function (or struct) whose body the range ends in
    opened: list[str]  # the functions (and structs) whose heads are in the range


def repair(version) -> bytes:
    """The text of a hunk-only FileVersion with every known range wrapped so that it parses as
    part of its function; line numbers unchanged. A whole file comes back as it is."""
    if version.known is None:
        return (version.text or "").encode("utf-8", "surrogateescape")
    lines = version.text.split("\n")
    count = len(lines) - 1 if version.text.endswith("\n") else len(lines)
    before: dict[int, list[str]] = {}  # line -> text written before a range's first line
    after: dict[int, list[str]] = {}  # line -> text written after a range's last line

    pending = ""  # what ends the statement the previous range stopped in
    open_levels: list[str] = []  # kinds of the blocks the previous range left open, outermost first
    open_scope, last_end = None, 0
    defined: set[str] = set()  # functions whose head an earlier range showed
    for known in sorted(version.known, key=lambda r: r.start):
        scan = _scan(lines[known.start - 1:known.end])
        head = _head(known.context)
        shape = _shape(scan, known.context, head)
        prefix: list[str] = []
        # a context naming a function defined above the open one is stale (a rename in the
        # patch moved it): the range belongs to the open function
        if open_scope is not None and shape.depth >= 1 and (
                shape.scope_at_start == open_scope or shape.scope_at_start in defined - {open_scope}):
            # the same function as the previous range: one body, only the depth changes
            keep = min(len(open_levels), shape.depth)
            _put(after, last_end + 1, count, pending, _closers(open_levels, keep))
            prefix += _openers(shape, keep, head)
        else:
            _put(after, last_end + 1, count, pending, _closers(open_levels, 0))
            first_line = scan.lines[scan.first_code[0]] if scan.first_code else ""
            if shape.depth == 0 and scan.paren_low < 0 and head is not None and head[2] >= -scan.paren_low:
                prefix.append(known.context.strip())  # the range continues the context's line
            elif shape.depth == 0 and first_line.startswith("{") and head and head[0] == "function":
                prefix.append(head[1])  # the range starts with the body of the context's function
            else:
                prefix += _openers(shape, 0, head)
        if scan.paren_low < 0 and not (shape.depth == 0 and prefix):
            prefix.append(("if " if scan.paren_low_then in ("{", "") else "(void)") + "(" * -scan.paren_low)
        first = scan.first_code[1].lstrip() if scan.first_code else ""
        if first.startswith("else") and shape.depth > 0:
            prefix.append("if (1) ;")
        if scan.starts_in_comment:
            prefix.append("/*")
        _put(before, known.start - 1, count, *prefix)
        outer = shape.final - len(scan.open_kinds)  # blocks opened above the range, still open
        open_levels = [_level_kind(level, head) for level in range(outer)] + scan.open_kinds
        pending = _statement_end(scan, open_levels)
        defined.update(name for name in shape.opened if name)
        last_end = known.end
        open_scope = shape.scope_at_end if shape.final >= 1 else None
    _put(after, last_end + 1, count, pending, _closers(open_levels, 0))

    for number in set(before) | set(after):
        written_before = " ".join(before.get(number, []))
        written_after = " ".join(after.get(number, []))
        line = lines[number - 1]
        if line.strip():  # no free line: the range starts on the first line or ends on the last
            parts = (written_before, line, written_after)
        else:
            parts = (written_after, written_before)
        lines[number - 1] = " ".join(p for p in parts if p)
    return "\n".join(lines).encode("utf-8", "surrogateescape")


def function_ranges(version) -> list[tuple[str, int, int]]:
    """(function name, first line, last line) of every function the repaired text defines, in
    order. For a whole file, its functions as they are."""
    parsed = parse_c(repair(version))
    found = []
    stack = [parsed.tree.root_node]
    while stack:
        node = stack.pop()
        for child in node.named_children:
            if child.type == "function_definition":
                name = _declared_name(child.child_by_field_name("declarator"))
                if name is not None:
                    found.append((parsed.text(name), child.start_point[0] + 1, child.end_point[0] + 1))
            elif child.type in ("preproc_if", "preproc_ifdef", "preproc_else", "preproc_elif", "ERROR"):
                stack.append(child)
    return sorted(found, key=lambda f: f[1])


def _declared_name(declarator):
    while declarator is not None and declarator.type != "identifier":
        declarator = declarator.child_by_field_name("declarator")
    return declarator


# --- reading a range ------------------------------------------------------------------------

def _scan(text: list[str]) -> _Scan:
    scan = _Scan(starts_in_comment=_starts_in_comment(text), lines=text)
    in_comment = scan.starts_in_comment
    paren = 0
    want_after_low = False
    for number, line in enumerate(text):
        stripped = line.lstrip()
        if not in_comment and stripped.startswith("#"):
            continue
        line_has_code = False
        i = 0
        while i < len(line):
            c = line[i]
            if in_comment:
                close = line.find("*/", i)
                if close < 0:
                    break
                in_comment, i = False, close + 2
                continue
            if line.startswith("/*", i):
                in_comment, i = True, i + 2
                continue
            if line.startswith("//", i):
                break
            if c in " \t":
                i += 1
                continue
            if not line_has_code:
                line_has_code = True
                if scan.first_code is None:
                    scan.first_code = (number, line)
                if i == len(line) - len(stripped):
                    scan.code_starts.add(number)
            if want_after_low:
                scan.paren_low_then, want_after_low = c, False
            if c in "\"'":
                end = i + 1
                while end < len(line) and line[end] != c:
                    end += 2 if line[end] == "\\" else 1
                i = end + 1
                scan.last_char = c
                continue
            if c == "{":
                initializer = (scan.last_char in ("=", ",") or
                               (scan.last_char == "{" and scan.open_kinds[-1:] == ["init"]))
                scan.open_kinds.append("init" if initializer else "block")
                scan.braces.append((number, i, c))
            elif c == "}":
                if scan.open_kinds:
                    scan.open_kinds.pop()
                scan.braces.append((number, i, c))
            elif c == "(":
                paren += 1
            elif c == ")":
                paren -= 1
                if paren < scan.paren_low:
                    scan.paren_low, want_after_low = paren, True
            scan.last_char = c
            i += 1
    scan.ends_in_comment = in_comment
    scan.paren_end = paren - scan.paren_low
    return scan


def _starts_in_comment(text: list[str]) -> bool:
    """The range opens inside a block comment: its first lines look like ` * text` and a `*/`
    comes before any `/*`."""
    shown = [line.strip() for line in text if line.strip()]
    if not shown or not shown[0].startswith("*"):
        return False
    joined = "\n".join(text)
    close, opening = joined.find("*/"), joined.find("/*")
    if close < 0 and opening < 0:  # all of the range is the inside of one comment
        return all(line.startswith("*") for line in shown)
    return close >= 0 and (opening < 0 or close < opening)


def _shape(scan: _Scan, context: str, head) -> _Shape:
    column0 = {number for number, line in enumerate(scan.lines)
               if line[:1] not in ("", " ", "\t", "{", "}", "#") and number in scan.code_starts
               and not _LABEL.match(line)}
    events = sorted([(number, column, brace) for number, column, brace in scan.braces]
                    + [(number, -1, "decl") for number in column0])
    balance = low = 0
    depth = None  # from column 0, exact
    indented = []  # from the indentation of `}` closing outer blocks, a lower bound
    for number, column, what in events:
        if what == "}":
            balance -= 1
            if balance < low:
                low = balance
                indented.append(_indent(scan.lines[number]) - balance)
        if depth is None and column <= 0 and balance <= 0:
            # column 0: a `{` opens, a declaration is, a `}` returns to file scope
            depth = -balance
        if what == "{":
            balance += 1
    if depth is None:
        depth = max([*indented, _depth_without_column0(scan, head)])
    depth = max(depth, -low)
    scope = _scope_name(context) if head is not None else None
    scope_at_end, opened = _scopes_opened(scan, context, depth)
    return _Shape(depth=depth, final=depth + balance, else_closed=_else_closed(scan, depth),
                  scope_at_start=scope, scope_at_end=scope_at_end, opened=opened)


def _depth_without_column0(scan: _Scan, head) -> int:
    """Nothing in column 0: inside the context's body, at least as deep as the first statement
    is indented."""
    indent = 0
    if scan.first_code is not None and not _LABEL.match(scan.first_code[1].lstrip()):
        indent = _indent(scan.first_code[1])
    return max(indent, 1 if head is not None else 0)


def _indent(line: str) -> int:
    """Indentation in tabs (kernel style: one tab a block)."""
    expanded = line.expandtabs(8)
    return (len(expanded) - len(expanded.lstrip())) // 8


def _else_closed(scan: _Scan, depth: int) -> set[int]:
    """Outer blocks (0 = outermost of the `depth` the range starts in) that the range closes
    with `} else`: they must be opened as `if (1) {`."""
    levels = set()
    balance = low = 0
    for number, column, brace in scan.braces:
        if brace == "{":
            balance += 1
            continue
        balance -= 1
        if balance < low:  # a block opened before the range
            low = balance
            if scan.lines[number][column + 1:].lstrip().startswith("else"):
                levels.add(depth + balance)
    return levels


def _scopes_opened(scan: _Scan, context: str, depth: int) -> tuple[str | None, list[str]]:
    """The function (or struct) whose body the range ends in (the last one opened at file
    scope inside the range, else the context's if the range never left it), and the names of
    all those opened inside the range."""
    balance = depth
    name = _scope_name(context) if depth >= 1 else None
    opened = []
    for number, column, brace in scan.braces:
        if brace == "{":
            if balance == 0:
                heads = [scan.lines[n] for n in range(number, -1, -1)
                         if scan.lines[n][:1] not in ("", " ", "\t", "{", "#")]
                # no head line in the range: the range starts in the context's head
                name = _scope_name(heads[0]) if heads else _scope_name(context)
                opened.append(name)
            balance += 1
        else:
            balance -= 1
            if balance == 0:
                name = None
    return (name if balance >= 1 else None), opened


def _scope_name(text: str) -> str | None:
    """The function a head line defines; a struct or initializer head names itself."""
    text = text.strip()
    if text.endswith("{") and "(" not in text:
        return text
    return _function_name(text)


def _function_name(text: str) -> str | None:
    for match in _FUNCTION_NAME.finditer(text):
        if match.group(1) not in _CONTROL:
            return match.group(1)
    return None


def _head(context: str) -> tuple[str, str, int] | None:
    """From a @@ context: (kind, head text to write, open parentheses in the context as git cut
    it), kind "function" or "aggregate"; None when the context is neither a function head nor
    a struct/enum/initializer head."""
    text = context.strip()
    if not text or text.startswith("#"):
        return None
    if text.endswith("{"):
        return ("aggregate", text, 0)
    name = _function_name(text)
    if name is None or text.endswith(";") or text.split("(")[0].replace("*", " ").split()[-1:] != [name]:
        return None
    if " " not in text.split("(")[0].strip():  # `static int` on the line above: not in the context
        text = "int " + text
    unclosed = text.count("(") - text.count(")")
    if unclosed > 0:  # git cuts the context at 80 characters: keep the whole parameters
        depth, cut = 0, text.index("(") + 1
        for i, c in enumerate(text):
            depth += (c == "(") - (c == ")")
            if c == "," and depth == 1:
                cut = i
        head = text[:cut] + ")"
    else:
        head = text
    return ("function", head, unclosed)


def _openers(shape: _Shape, already_open: int, head) -> list[str]:
    parts = []
    for level in range(already_open, shape.depth):
        if level == 0 and head is not None:
            parts.append(head[1] if head[0] == "aggregate" else head[1] + " {")
        elif level == 0:  # no usable context: a stand-in function keeps the code in a body
            parts.append("static void __fragment(void) {")
        else:
            parts.append("if (1) {" if level in shape.else_closed else "{")
    return parts


def _level_kind(level: int, head) -> str:
    """The kind of a block opened above a range: the context's struct or initializer, or a
    block of code."""
    if level == 0 and head is not None and head[0] == "aggregate":
        return "init" if "=" in head[1] else "aggregate"
    return "block"


def _closers(levels: list[str], keep: int) -> str:
    """What closes the open blocks `levels` (outermost first) down to the first `keep`,
    innermost first: `}`, and `};` after a declaration's initializer and at file scope."""
    closers = []
    for level in range(len(levels) - 1, keep - 1, -1):
        ends_declaration = level == 0 or (levels[level] == "init" and levels[level - 1] != "init")
        closers.append("};" if ends_declaration else "}")
    return " ".join(closers)


def _statement_end(scan: _Scan, levels: list[str]) -> str:
    """What ends the statement the range stops in the middle of. At file scope that is a
    function head (`int` completes its parameter list, `{}` gives it a body), in a function an
    expression (`0` completes it); in an initializer or a struct nothing is needed."""
    parts = ["*/"] if scan.ends_in_comment else []
    if not levels and (scan.paren_end > 0 or scan.last_char == ")"):
        filler = "int" if scan.last_char in "(," else ""
        parts.append(filler + ")" * scan.paren_end + " {}")
    elif levels and levels[-1] in ("init", "aggregate") and not scan.paren_end:
        pass
    elif (scan.last_char and scan.last_char not in ";{}:") or scan.paren_end > 0:
        filler = "0" if scan.last_char in "(,=|&+-*/<>!?" else ""
        parts.append(filler + ")" * scan.paren_end + ";")
    return " ".join(parts)


def _put(where: dict[int, list[str]], number: int, count: int, *texts: str) -> None:
    """Write on line `number` (a placeholder, or the first or last line when there is none)."""
    text = " ".join(t for t in texts if t)
    if text:
        where.setdefault(min(max(number, 1), count), []).append(text)
