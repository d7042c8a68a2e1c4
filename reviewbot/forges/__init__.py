"""What `reviewbot ci` posts, whatever it posts to: the findings grouped into comments, each
carrying a hidden marker with its fingerprint, the per-patch cap on inline comments, and the
summary that is found again by its marker and edited on the next run.

The forge modules (github, gitlab, patchwork, smtp) know their server's API; what is posted,
and when, is decided here, through their `Api` (reviewbot.forges.http).
A rerun never posts a comment twice: every comment ends in a marker `<!-- reviewbot:KEY -->`,
the forge module reads back what is already there, and posts only the keys that are missing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from reviewbot.findings import NEW, SEVERITIES, Finding
from reviewbot.report import at_or_above, patch_label, visible_findings
from reviewbot.review import Review
from reviewbot.series import Patch
from reviewbot.diffmap import DiffLines
from reviewbot.errors import InputError
from reviewbot.workspace import file_paths

MAX_INLINE = 10  # inline comments per patch; the rest go to the summary
SUMMARY_KEY = "summary"
FIXED_PREFIX = "fixed:"
MARKER_RE = re.compile(r"<!-- reviewbot:([\w:-]+) -->")
SUMMARY_LINE_RE = re.compile(r"^- (.*) <!-- reviewbot:((?:fixed:)?\w+) -->$", re.M)
FOOTER = ("<sub>reviewbot asks, it does not judge: `reviewbot explain {rule}` describes the rule; "
          "`reviewbot: ignore[{rule}]` in a comment on the line silences it.</sub>")


def marker(key: str) -> str:
    return f"<!-- reviewbot:{key} -->"


def markers_in(texts) -> set[str]:
    """The keys of the markers in these comment bodies."""
    return {key for text in texts for key in MARKER_RE.findall(text or "")}


@dataclass
class Comment:
    """One comment: the findings of one rule in one function of one patch (a rule's repeats
    there are one comment, anchored at the first)."""

    key: str  # stable across reruns and rebases: rule, file and function, no line numbers
    patch: Patch
    findings: list[Finding]

    @property
    def first(self) -> Finding:
        return self.findings[0]

    @property
    def severity(self) -> str:
        return min((f.severity for f in self.findings), key=SEVERITIES.index)

    def body(self) -> str:
        first = self.first
        lines = [f"**reviewbot** · {self.severity} · `{first.rule}` in `{first.function}()`", "",
                 first.message, ""]
        lines.extend(f"- {item}" for item in first.evidence)
        if len(self.findings) > 1:
            others = ", ".join(str(f.line) for f in self.findings[1:])
            lines.extend(["", f"The same in this function at line(s) {others} of `{first.file}`."])
        lines.extend(["", FOOTER.format(rule=first.rule), marker(self.key)])
        return "\n".join(lines)

    def summary_line(self, review: Review, where: str) -> str:
        first = self.first
        repeats = f" (and {len(self.findings) - 1} more)" if len(self.findings) > 1 else ""
        return (f"- **{self.severity}** `{first.rule}` in `{first.function}()` at "
                f"`{first.file}:{first.line}`{repeats}, patch {patch_label(review, self.patch.number)}"
                f" ({where}): {first.message} {marker(self.key)}")


def comments(review: Review) -> list[Comment]:
    """The new findings as comments, in patch and line order."""
    groups: dict[tuple, Comment] = {}
    patches = {patch.number: patch for patch in review.series.patches}
    for finding in visible_findings(review):
        ident = (finding.patch, finding.rule, finding.file, finding.function)
        if ident not in groups:
            key = hashlib.sha256("\0".join(ident[1:]).encode()).hexdigest()[:16]
            groups[ident] = Comment(key, patches[finding.patch], [])
        groups[ident].findings.append(finding)
    return list(groups.values())


@dataclass
class Plan:
    """Which comments go inline and which only into the summary."""

    inline: list[Comment] = field(default_factory=list)
    summary_only: list[Comment] = field(default_factory=list)


def plan(found: list[Comment], placeable: Callable[[Comment], bool],
         max_inline: int = MAX_INLINE) -> Plan:
    """Inline where the forge can show the line, at most `max_inline` per patch (the most
    severe first); the rest in the summary."""
    result = Plan()
    per_patch: dict[int, int] = {}
    for comment in sorted(found, key=lambda c: SEVERITIES.index(c.severity)):
        if placeable(comment) and per_patch.get(comment.patch.number, 0) < max_inline:
            per_patch[comment.patch.number] = per_patch.get(comment.patch.number, 0) + 1
            result.inline.append(comment)
        else:
            result.summary_only.append(comment)
    order = {id(c): i for i, c in enumerate(found)}
    result.inline.sort(key=lambda c: order[id(c)])
    result.summary_only.sort(key=lambda c: order[id(c)])
    return result


def summary(review: Review, planned: Plan, previous: str | None) -> str:
    """The summary comment: counts, every current finding (inline or not), and the findings
    an earlier run listed that are gone now, marked fixed. `previous` is the summary as the
    last run left it, if there is one."""
    current = {c.key for c in planned.inline + planned.summary_only}
    fixed = []
    for text, key in SUMMARY_LINE_RE.findall(previous or ""):
        bare = key.removeprefix(FIXED_PREFIX)
        if bare in current:
            continue
        if not key.startswith(FIXED_PREFIX):
            text = f"~~{text}~~ fixed"
        fixed.append(f"- {text} {marker(FIXED_PREFIX + bare)}")
    new = [f for f in review.findings if f.status == NEW]
    high = sum(at_or_above(f.severity, "high") for f in new)
    lines = [f"### reviewbot: {len(new)} new finding(s), {high} high or above", ""]
    everything = sorted(planned.inline + planned.summary_only,
                        key=lambda c: (c.patch.number, c.first.file, c.first.line))
    inline = {id(c) for c in planned.inline}
    lines.extend(c.summary_line(review, "inline" if id(c) in inline else "only here")
                 for c in everything)
    if not everything:
        lines.append("No new findings.")
    if fixed:
        lines.extend(["", "Fixed since an earlier run:", *fixed])
    lines.extend(f"\n_note: {note}_" for note in review.notes)
    lines.extend(["", marker(SUMMARY_KEY)])
    return "\n".join(lines)


def carried_line(path: str, line: int, later: list[Patch]) -> tuple[str, int] | None:
    """Where line `line` of `path` after one patch is after the `later` patches too; None when
    one of them removes it."""
    for patch in later:
        for patched in patch.patchset:
            old, new = file_paths(patched)
            if old != path:
                continue
            if new is None:
                return None
            path, delta, moved = new, 0, None
            for hunk in patched:
                if line < hunk.source_start:
                    break
                if line >= hunk.source_start + hunk.source_length:
                    delta += hunk.target_length - hunk.source_length
                    continue
                moved = next((l.target_line_no for l in hunk if l.source_line_no == line
                              and not l.is_removed), -1)
                break
            if moved == -1:
                return None
            line = moved if moved is not None else line + delta
            break
    return path, line


def diff_patch(diff: str) -> Patch:
    """A whole diff (a pull request's) as a Patch, so DiffLines can map lines into it."""
    return Patch(number=0, total=0, subject="", author="", date="", msgid=None, message="",
                 diff=diff)


def head_lines(review: Review, diff: str):
    """For a pull or merge request whose whole diff is `diff`: a test of whether a comment's
    line, carried to the head of the series, is a line of that diff (where a forge takes
    inline comments); the function giving that (path, line); and the diff's lines."""
    lines = DiffLines.of(diff_patch(diff))
    patches = review.series.patches

    def at_head(comment: Comment) -> tuple[str, int] | None:
        return carried_line(comment.first.file, comment.first.line,
                            patches[comment.patch.number:])

    def placeable(comment: Comment) -> bool:
        spot = at_head(comment)
        return spot is not None and lines.index_of(*spot) is not None

    return placeable, at_head, lines


def upsert_summary(review: Review, planned: Plan, api, listing: str, edit) -> str:
    """Post the summary to `listing`, or edit the one an earlier run posted there (found by
    its marker) with the request `edit(id)` gives."""
    ours = [c for c in api.get_all(listing) if SUMMARY_KEY in markers_in([c["body"]])]
    previous = ours[0] if ours else None
    body = summary(review, planned, previous["body"] if previous else None)
    if previous is None:
        api.call("POST", listing, {"body": body})
        return f"{api.name}: summary comment posted"
    if previous["body"] != body:
        api.call(*edit(previous["id"]), {"body": body})
        return f"{api.name}: summary comment updated"
    return f"{api.name}: summary comment unchanged"


def post_commit_comments(review: Review, max_inline: int, api, forge) -> list[str]:
    """On a push: each comment on its patch's commit, at its line when the commit's diff shows
    it; a patch's comments beyond the cap go into one more comment on that commit. `forge`
    knows the server's commit comments: existing(api, sha), payload(body, path, spot),
    create(api, sha, payload), where spot is (DiffLine, index below the file's first @@)."""
    diffs = {p.number: DiffLines.of(p) for p in review.series.patches}

    def spot(comment: Comment):
        diff = diffs[comment.patch.number]
        index = diff.index_of(comment.first.file, comment.first.line)
        if index is None:
            return None
        header_lines, _hunk = diff.anchors[index]
        return diff.lines[index], index - header_lines.stop  # GitHub counts from the first @@

    planned = plan(comments(review), lambda c: spot(c) is not None, max_inline)
    count = 0
    for patch in review.series.patches:
        if not patch.commit:
            raise InputError(forge.name, "commit comments need a git range (--base/--head)")
        mine = [c for c in planned.inline if c.patch is patch]
        rest = [c for c in planned.summary_only if c.patch is patch]
        if not mine and not rest:
            continue
        posted = markers_in(forge.existing(api, patch.commit))
        for comment in mine:
            if comment.key not in posted:
                forge.create(api, patch.commit, forge.payload(comment.body(), comment.first.file,
                                                             spot(comment)))
                count += 1
        overflow_key = f"more-{patch.commit[:12]}"
        if rest and overflow_key not in posted:
            body = "\n".join(["**reviewbot**: more findings of this commit", "",
                              *(c.summary_line(review, "not inline") for c in rest), "",
                              marker(overflow_key)])
            forge.create(api, patch.commit, forge.payload(body, None, None))
            count += 1
    return [f"{forge.name}: {count} commit comment(s) posted"]
