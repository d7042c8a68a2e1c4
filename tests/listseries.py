"""Generated mail of a list: small patch series against the minifs fixture, as they arrive.

`generate(count, start)` makes `count` series revisions (v1s and some v2s of them), each of 1
to 3 patches adding a comment between two functions of one minifs file (quick to review
hunk-only), with a cover letter when there is more than one patch. Some miss their last patch
(incomplete); each v2 is tied to its v1 either by answering the v1's first message or by the
change-id they share. `replies` makes a review reply to the first patch of some of them.
"""

from __future__ import annotations

import difflib
import email.utils
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent / "fixtures" / "minifs" / "base"
FILES = ["file.c", "iomode.c", "inode.c"]
DOMAIN = "lists.reviewbot.invalid"


@dataclass
class Generated:
    name: str  # "s7" or "s9v2"
    revision: int
    expected: int
    root: str  # the message-id the watcher keys it by: the cover's, else patch 1's
    complete: bool
    messages: list[EmailMessage] = field(default_factory=list)


def msgid(name: str, counter: int) -> str:
    return f"{name}-{counter}@{DOMAIN}"


def comment_patch(path: str, slot: int, text: str) -> str:
    """A diff adding a comment line after the `slot`-th blank line of a minifs file."""
    old = (BASE / path).read_text().splitlines(keepends=True)
    blanks = [n for n, line in enumerate(old) if not line.strip()]
    at = blanks[slot % len(blanks)] + 1
    new = old[:at] + [f"/* {text} */\n"] + old[at:]
    hunk = "".join(difflib.unified_diff(old, new, f"a/{path}", f"b/{path}", n=3))
    return f"diff --git a/{path} b/{path}\n{hunk}"


def mail(mid: str, subject: str, body: str, date: datetime, parent: str | None,
         number: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"reviewbot fixtures <fixtures+{number}@reviewbot.invalid>"
    msg["To"] = f"minifs@{DOMAIN}"
    msg["Subject"] = subject
    msg["Date"] = email.utils.format_datetime(date)
    msg["Message-ID"] = f"<{mid}>"
    if parent:
        msg["In-Reply-To"] = f"<{parent}>"
        msg["References"] = f"<{parent}>"
    msg.set_content(body)
    return msg


def generate(count: int, start: datetime) -> list[Generated]:
    out: list[Generated] = []
    clock = iter(start + timedelta(seconds=n) for n in range(10**6))
    for i in range(count):
        v2_of = out[-1] if i % 5 == 4 else None  # every fifth is the next revision of the one before
        number = i - 1 if v2_of else i
        revision = 2 if v2_of else 1
        expected = v2_of.expected if v2_of else 1 + i % 3
        name = f"s{number}v{revision}"
        title = f"minifs: notes {number}"
        tag = f"PATCH v{revision}" if revision > 1 else "PATCH"
        change_id = f"20260101-notes-{number}-0123456789ab" if number % 2 else None
        complete = not (i % 10 == 7 and expected > 1)
        cover = msgid(name, 0) if expected > 1 else None
        series = Generated(name, revision, expected, cover or msgid(name, 1), complete)
        # a v2 answers its v1's first message, except where a change-id ties them
        first_parent = v2_of.root if v2_of and not change_id else None
        if cover:
            body = f"Notes on minifs, part {number}.\n"
            if change_id:
                body += f"\n---\nbase-commit: 0000000000000000000000000000000000000000\nchange-id: {change_id}\n"
            series.messages.append(mail(cover, f"[{tag} 0/{expected}] {title}", body,
                                        next(clock), first_parent, number))
        for k in range(1, expected + 1):
            if k == expected and not complete:
                break
            label = f"[{tag} {k}/{expected}]" if expected > 1 else f"[{tag}]"
            path = FILES[k - 1]
            body = (f"Say what part {number} of {path} is about.\n\n"
                    f"Signed-off-by: reviewbot fixtures <fixtures+{number}@reviewbot.invalid>\n---\n"
                    + comment_patch(path, number + revision, f"notes {number}.{k} v{revision}"))
            if not cover and change_id:
                body += f"\n--\nchange-id: {change_id}\n"
            parent = cover or first_parent
            series.messages.append(mail(msgid(name, k), f"{label} minifs: {path} notes {number}",
                                        body, next(clock), parent, number))
        out.append(series)
    return out


def replies(series: list[Generated], date: datetime) -> list[EmailMessage]:
    """A reply to the first patch of every third series."""
    out = []
    for n, generated in enumerate(series[::3]):
        first = next(m for m in generated.messages if " 0/" not in m["Subject"])
        out.append(mail(f"reply-{generated.name}@{DOMAIN}", f"Re: {first['Subject']}",
                        "> Say what\n\nLooks fine to me.\n", date + timedelta(seconds=n),
                        first["Message-ID"].strip("<>"), 0))
    return out
