"""What the series page shows of a Review, made ready for the templates: each patch's diff as
coloured lines with its findings anchored inline, the evidence with links to the lines it
names, the mutation tables and the replies.

Everything that comes from mail (diff text, names, subjects, bodies) leaves here escaped:
either as Markup built from escaped pieces, or as plain strings Jinja escapes itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from markupsafe import Markup, escape
from pygments.lexers.c_cpp import CLexer
from pygments.token import STANDARD_TYPES

from reviewbot.diffmap import ADDED, CONTEXT, HUNK, REMOVED, DiffLines
from reviewbot.findings import FIXED, NEW, PREEXISTING, Finding
from reviewbot.review import FunctionTable, Review
from reviewbot.series import Patch
from reviewbot.workspace import is_c_path

MAX_TEXT = 64 * 1024  # characters of one message body shown; the rest is cut with a note
# `path:line` in evidence, as reviewbot writes places
PLACE = re.compile(r"(?<![\w/.-])([\w.+-]+(?:/[\w.+-]+)*\.[ch]):(\d+)")


# Unicode controls that reorder or hide text: in a diff they make code read other than it
# compiles ("trojan source"), so a page shows each as a visible marker instead.
HIDDEN_CONTROLS = {ord(c): f"\u27e6U+{ord(c):04X}\u27e7" for c in
                   "\u061c\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                   "\u2066\u2067\u2068\u2069\ufeff"}


def visible_controls(value):
    """Jinja's finalize: every value a template prints, with hidden controls made visible.
    The markers are plain text, so they are as safe in an attribute as in the page."""
    if isinstance(value, str):
        shown = str.translate(value, HIDDEN_CONTROLS)
        return Markup(shown) if isinstance(value, Markup) else shown
    return value


@dataclass
class Line:
    index: int  # in DiffLines.text: the anchor `#p{patch}-{index}`
    kind: str  # diffmap kinds: header, hunk, added, removed, context
    path: str  # the file the line belongs to
    old: int | None
    new: int | None
    sign: str  # "+", "-", " " or "" (headers and @@ lines)
    html: Markup  # the line's text after the sign, coloured
    findings: list[Finding] = field(default_factory=list)


@dataclass
class PatchView:
    patch: Patch
    lines: list[Line]
    findings: list[Finding]  # every finding of this patch, in line order
    unplaced: list[Finding]  # those whose line the diff does not show
    tables: list[FunctionTable]
    message: str
    message_cut: bool


def patch_views(review: Review) -> list[PatchView]:
    views = []
    for patch in review.series.patches:
        diff = DiffLines.of(patch)
        lines = _lines(diff)
        findings = sorted((f for f in review.findings if f.patch == patch.number),
                          key=lambda f: (f.file, f.line, f.rule))
        unplaced = []
        old = {(line.path, line.old): line.index for line in lines if line.old is not None}
        for finding in findings:
            # a fixed finding's line is one of the file before the patch that fixes it
            index = (old.get((finding.file, finding.line)) if finding.status == FIXED
                     else diff.index_of(finding.file, finding.line))
            if index is None:
                unplaced.append(finding)
            else:
                lines[index].findings.append(finding)
        message, cut = clip(patch.message)
        views.append(PatchView(patch, lines, findings, unplaced,
                               [t for t in review.tables if t.patch == patch.number],
                               message, cut))
    return views


def preexisting(review: Review) -> list[Finding]:
    return [f for f in review.findings if f.status == PREEXISTING]


QUOTE_SHOWN = 3  # lines of a long quote shown: the ones the reply answers


@dataclass
class MailBlock:
    """A stretch of a mail body: its own text, or a quote, whose lines before the last few
    are folded away (`folded`) since a reply answers what it quoted last."""

    quoted: bool
    folded: list[str]
    lines: list[str]


def mail_blocks(text: str) -> list[MailBlock]:
    blocks: list[MailBlock] = []
    for line in text.splitlines():
        quoted = line.startswith(">")
        if not blocks or blocks[-1].quoted != quoted:
            blocks.append(MailBlock(quoted, [], []))
        blocks[-1].lines.append(line)
    for block in blocks:
        if block.quoted and len(block.lines) > 2 * QUOTE_SHOWN:
            block.folded, block.lines = block.lines[:-QUOTE_SHOWN], block.lines[-QUOTE_SHOWN:]
    return blocks


def clip(text: str) -> tuple[str, bool]:
    """`text` cut to what a page shows of one message, and whether it was cut."""
    if len(text) <= MAX_TEXT:
        return text, False
    return text[:MAX_TEXT], True


@dataclass
class Anchors:
    """Patch number -> (file, line) -> the anchor of that line in the page: `new` by its line
    after the patch (added and context lines), `old` by its line before it (removed, context)."""

    new: dict[int, dict[tuple[str, int], str]]
    old: dict[int, dict[tuple[str, int], str]]

    @classmethod
    def of(cls, views: list[PatchView]) -> Anchors:
        new: dict = {}
        old: dict = {}
        for view in views:
            number = view.patch.number
            for line in view.lines:
                anchor = f"p{number}-{line.index}"
                if line.new is not None:
                    new.setdefault(number, {})[(line.path, line.new)] = anchor
                if line.old is not None:
                    old.setdefault(number, {})[(line.path, line.old)] = anchor
        return cls(new, old)

    def find(self, finding: Finding, path: str, line: int) -> str | None:
        """Where `path:line`, as `finding` names it, is shown: its lines are those of the
        version it was found in (after its patch; before the patch that fixed it; after the
        series for a pre-existing one)."""
        if finding.status == FIXED:
            maps = [self.old.get(finding.patch, {})]
        elif finding.status == NEW:
            maps = [self.new.get(finding.patch, {})]
        else:
            maps = [self.new[n] for n in sorted(self.new, reverse=True)]
        return next((m[(path, line)] for m in maps if (path, line) in m), None)


def linked(text: str, finding: Finding, anchors: Anchors) -> Markup:
    """`text` escaped, `code` in backticks set as code, and each `path:line` it names linked
    to that line of the page when a diff shows it."""
    out, last = [], 0
    for match in PLACE.finditer(text):
        anchor = anchors.find(finding, match.group(1), int(match.group(2)))
        if anchor is None:
            continue
        out.append(_prose(text[last:match.start()]))
        out.append(Markup('<a href="#{}">{}</a>').format(anchor, match.group(0)))
        last = match.end()
    out.append(_prose(text[last:]))
    return Markup("").join(out)


def _prose(text: str) -> Markup:
    return Markup(re.sub(r"`([^`\n]+)`", r"<code>\1</code>", str(escape(text))))


def _lines(diff: DiffLines) -> list[Line]:
    lines = []
    coloured = _colour(diff)
    for index, (text, info) in enumerate(zip(diff.text, diff.lines)):
        if info.kind in (ADDED, REMOVED, CONTEXT):
            sign, html = text[:1], coloured.get(index) or escape(text[1:])
        else:
            sign, html = "", escape(text)
        lines.append(Line(index, info.kind, info.path, info.old_line, info.new_line, sign, html))
    return lines


_LEXER = CLexer(stripnl=False, stripall=False, ensurenl=True)


def _colour(diff: DiffLines) -> dict[int, Markup]:
    """Index -> the line's code coloured as C, for the lines of hunks of C files. Each hunk is
    lexed as one text (old and new lines interleaved, as sent), so that a comment or string
    spanning lines is coloured across them."""
    out: dict[int, Markup] = {}
    hunk: list[int] = []

    def flush():
        if hunk:
            texts = [diff.text[i][1:] for i in hunk]
            for i, html in zip(hunk, _highlight(texts)):
                out[i] = html
            hunk.clear()

    for index, info in enumerate(diff.lines):
        if info.kind in (ADDED, REMOVED, CONTEXT) and is_c_path(info.path):
            hunk.append(index)
        elif info.kind == HUNK or hunk:
            flush()
    flush()
    return out


def _highlight(texts: list[str]) -> list[Markup]:
    rows: list[list[Markup]] = [[]]
    for token, value in _LEXER.get_tokens("\n".join(texts)):
        css = _css(token)
        for i, piece in enumerate(value.split("\n")):
            if i:
                rows.append([])
            if piece:
                rows[-1].append(Markup('<span class="{}">{}</span>').format(css, piece) if css
                                else escape(piece))
    return [Markup("").join(row) for row in rows[:len(texts)]]


def _css(token) -> str:
    while token not in STANDARD_TYPES:
        token = token.parent
    short = STANDARD_TYPES[token]
    return f"t-{short}" if short else ""
