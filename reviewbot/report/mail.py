"""Mail: replies in mailing-list style, one mail per patch with new findings, written the way a
reviewer answers on the list. The patch's diff is quoted with `> ` down to each finding's line,
what is left out is marked `[ ... ]`, and the finding follows as a question with its evidence.
The messages are ready for `git send-email`: threaded under the patch by In-Reply-To and
References, no Message-ID or Date of their own (send-email adds those).
"""

from __future__ import annotations

import email.utils
import io
import re
import textwrap
from email.generator import Generator
from email.message import EmailMessage
from email.policy import default as default_policy

from reviewbot import __version__
from reviewbot.findings import Finding
from reviewbot.checks import RULES
from reviewbot.checks.base import Rule
from reviewbot.diffmap import DiffLines
from reviewbot.report import RenderOptions, patch_label, visible_findings
from reviewbot.review import Review
from reviewbot.series import Patch

TRIM = "[ ... ]"
CONTEXT_LINES = 5  # quoted diff lines above a finding's line
WIDTH = 72
MBOX_FROM_LINE = "From reviewbot Mon Sep 17 00:00:00 2001\n"  # git format-patch's form
# Headers unfolded: a Subject or References line stays one line a reader can copy.
POLICY = default_policy.clone(max_line_length=None)
SIGNATURE = f"""\
-- 
reviewbot {__version__}: questions from an automated lock and state analysis, not verdicts.
To answer, reply to all. `reviewbot explain RULE` describes a rule; a comment
`reviewbot: ignore[RULE]` on the line (or the line above) silences it."""


def render(review: Review, options: RenderOptions) -> str:
    return mbox(replies(review, options.sender))


def replies(review: Review, sender: str | None = None) -> list[EmailMessage]:
    """One reply per patch that has new findings, in patch order."""
    new = visible_findings(review)
    replies = []
    for patch in review.series.patches:
        findings = [f for f in new if f.patch == patch.number]
        if findings:
            replies.append(reply(review, patch, findings, sender))
    return replies


def reply(review: Review, patch: Patch, findings: list[Finding], sender: str | None) -> EmailMessage:
    msg = EmailMessage(policy=POLICY)
    if sender:
        msg["From"] = sender
    msg["To"] = patch.author
    # Reply to all, as on the list: the patch's own recipients, then whoever already answered
    # it; each address once, however its name was written
    cc: dict[str, str] = {}
    for person in [*patch.recipients, *(r.author for r in patch.replies)]:
        cc.setdefault(_address(person), person)
    for person in (patch.author, sender):
        cc.pop(_address(person), None)
    if cc:
        msg["Cc"] = ", ".join(cc.values())
    msg["Subject"] = f"Re: {_patch_subject(review, patch)}"
    if patch.msgid:  # patches from a git range have none: the reply then starts a thread
        msg["In-Reply-To"] = f"<{patch.msgid}>"
        chain = [review.series.cover_msgid, patch.msgid] if review.series.cover_msgid else [patch.msgid]
        msg["References"] = " ".join(f"<{msgid}>" for msgid in chain)
    msg.set_content(body(patch, findings), charset="utf-8", cte="8bit")
    return msg


def body(patch: Patch, findings: list[Finding]) -> str:
    """The reply's text: attribution, quoted diff with the questions inline, signature."""
    diff = DiffLines.of(patch)
    comments: dict[int, list[Finding]] = {}  # diff line index -> findings asked below it
    elsewhere = []  # findings on lines this patch's diff does not show
    for finding in findings:
        index = diff.index_of(finding.file, finding.line)
        if index is None:
            elsewhere.append(finding)
        else:
            comments.setdefault(index, []).append(finding)

    lines = [f"On {' '.join(patch.date.split())}, {patch.author} wrote:"]
    previous = None
    for index in diff.quoted(comments, CONTEXT_LINES):
        if previous is None:
            skipped = index > 0 or bool(patch.message.strip())  # the commit message is trimmed too
        else:
            skipped = index > previous + 1
        if skipped:
            lines.append(TRIM)
        lines.append(f"> {diff.text[index]}".rstrip())
        for finding in comments.get(index, []):
            lines.extend(["", *_ask(finding), ""])
        previous = index
    if previous is None or previous < len(diff.text) - 1:
        lines.append(TRIM)
    for finding in elsewhere:
        where = f"{finding.file}:{finding.line}, in {finding.function}(), outside this patch's hunks"
        lines.extend(["", *_ask(finding, (where,))])
    if lines[-1] != "":
        lines.append("")
    lines.append(SIGNATURE)
    return "\n".join(lines) + "\n"


def mbox(messages: list[EmailMessage]) -> str:
    """The messages as one mbox stream (body lines starting with "From " escaped)."""
    out = io.StringIO()
    for msg in messages:
        out.write(MBOX_FROM_LINE)
        Generator(out, mangle_from_=True, policy=POLICY).flatten(msg)
        out.write("\n")
    return out.getvalue()


def eml_name(number: int, msg: EmailMessage) -> str:
    """`0001-re-fuse-fix-wrong-ff-iomode-state-changes.eml`, named the way format-patch names."""
    subject = re.sub(r"^Re:\s*(\[[^]]*\]\s*)?", "", str(msg["Subject"]))
    slug = "-".join(re.findall(r"[a-z0-9]+", subject.lower()))[:52].strip("-")
    return f"{number:04d}-re-{slug}.eml"


def _ask(finding: Finding, location: tuple[str, ...] = ()) -> list[str]:
    """The finding as a question, its evidence (after `location` where the quote shows none)
    indented below, and which rule asks."""
    message = finding.message if finding.message.endswith((".", "?", "!")) else finding.message + "."
    question = RULES[finding.rule].question if finding.rule in RULES else Rule.question
    lines = textwrap.wrap(f"{question} {message}", WIDTH, break_long_words=False,
                          break_on_hyphens=False)
    evidence = [*location, *finding.evidence]
    if evidence:
        lines.append("")
        lines.extend(f"  {item}" for item in evidence)
    lines.extend(["", f"({finding.rule}, {finding.severity})"])
    return lines


def _patch_subject(review: Review, patch: Patch) -> str:
    """The patch's subject with the `[PATCH n/m]` prefix it was sent with (Patch.subject has
    the prefix stripped)."""
    version = f" v{review.series.revision}" if review.series.revision > 1 else ""
    return f"[PATCH{version} {patch_label(review, patch.number)}] {patch.subject}"


def _address(person: str | None) -> str:
    """The bare, lower-case address of `Name <address>`, to compare people."""
    return email.utils.parseaddr(person or "")[1].lower()
