"""Mail messages -> Series, shared by every source.

b4 parses the mail (subjects, counters, cover letters, revisions, trailers, body parts); this
module only maps its view onto reviewbot's Series, Patch and Reply. Two shapes of input:
- a thread (messages with Message-IDs, as lore or an mbox gives them): b4's LoreMailbox
  sorts out revisions, the cover letter and the follow-ups;
- patch mails in a known order (patch files, a git range): no thread to untangle, the order
  is the one given, or the [PATCH n/N] counters when every patch has one.
"""

from __future__ import annotations

import argparse
import email.utils
import logging
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage

import b4
import liblore.utils

from reviewbot.errors import InputError
from reviewbot.files import check_file
from reviewbot.limits import Limits
from reviewbot.series import Patch, Reply, Series

# b4 and liblore log their progress and complaints; reviewbot reports a bad input itself, in one
# line. Without a handler of their own, Python would print their warnings on stderr.
for _logger_name in ("b4", "liblore"):
    logging.getLogger(_logger_name).addHandler(logging.NullHandler())


_b4_lock = threading.Lock()
_b4_configured_for: list[str | None] = []  # the lore base b4 was set up with, once it is


def setup_b4(lore_base: str | None = None) -> None:
    """Load b4's configuration (the user's git config) with reviewbot's overrides, once per
    process: b4 keeps it in module globals, which threads of a server share.

    Attestation is off: checking DKIM signatures means DNS lookups, and reviewbot does not act
    on them. `lore_base` points b4's own lookups at the archive reviewbot fetches from; it is
    set again only when a caller names another archive (a server always names the same).
    """
    with _b4_lock:
        if _b4_configured_for and (lore_base is None or _b4_configured_for[0] == lore_base):
            return
        config = {"b4.attestation-policy": "off"}
        if lore_base:
            config["b4.midmask"] = f"{lore_base}/%s"
        b4.setup_config(argparse.Namespace(config=config))
        _b4_configured_for[:] = [lore_base]


def read_mbox(path: str, limits: Limits = Limits()) -> list[EmailMessage]:
    """The messages of an mbox file, a maildir, or a file holding one mail saved on its own
    (no mbox `From ` line); InputError when there are none."""
    # Checked first: Python's mailbox module would create a missing file, and block on a FIFO
    # (in a maildir too)
    mails = ([os.path.join(path, sub, name) for sub in ("cur", "new")
              if os.path.isdir(os.path.join(path, sub))
              for name in sorted(os.listdir(os.path.join(path, sub)))]
             if os.path.isdir(path) else [path])
    for mail in mails:
        check_file(mail, limits.mail_bytes, "mail_bytes")
    try:
        messages = b4.get_msgs_from_mailbox_or_maildir(path)
        if not messages and os.path.isfile(path):
            with open(path, "rb") as f:
                messages = [liblore.utils.parse_message(f.read())]
    except OSError as err:
        raise InputError(path, err.strerror or str(err)) from None
    check_headers(messages, path)
    messages = [msg for msg in messages if msg["From"] and msg["Subject"]]
    if not messages:
        raise InputError(path, "no mail messages in it (not an mbox or a git format-patch file)")
    return messages


def check_headers(messages: list[EmailMessage], source: str) -> None:
    """Parse every header of every message once, up front. Python's email package should
    only note a defect in a malformed header, but a few make it raise (an IndexError for
    `From: <<<@@>`), wherever the header is first read; here, that is an InputError. So is a
    subject whose [PATCH n/N] counters b4 cannot read (Python's int() refuses thousands of
    digits)."""
    for msg in messages:
        for name, raw in msg.raw_items():
            try:
                value = msg.policy.header_fetch_parse(name, raw)
                if name.lower() == "subject":
                    b4.LoreSubject(str(value))
            except Exception:  # whichever bug of the email package it is, the header is bad
                raise InputError(source, "a mail has a header that cannot be read: "
                                         f"{name}: {' '.join(raw.split())[:200]}") from None


def mail_date(msg: EmailMessage) -> str:
    """The Date header, in one shape: `2024-04-07 18:57:56 +0300` (the sender's time zone)."""
    try:
        return email.utils.parsedate_to_datetime(str(msg["Date"])).strftime("%Y-%m-%d %H:%M:%S %z")
    except (TypeError, ValueError):
        return ""


def mail_author(msg: EmailMessage, use_inbody: bool = False) -> str:
    """`Name <address>` of the sender; with `use_inbody`, of the author a patch names in an
    in-body `From:` line (as git am records it)."""
    name, address = liblore.utils.msg_get_author(msg, use_inbody=use_inbody)
    return f"{name} <{address}>" if name else address


@dataclass
class PatchMail:
    """A patch mail with what its source knows about it beyond the mail itself."""

    msg: EmailMessage
    label: str  # names the mail in errors: its file, or its commit
    commit: str | None = None


def make_patch(msg: EmailMessage, number: int, total: int, *, commit: str | None = None,
               followup_trailers: Iterable[b4.LoreTrailer] = ()) -> Patch:
    """A Patch from one patch mail: b4 splits the body into message, trailers and diff."""
    body, _charset = b4.LoreMessage.get_payload(msg)
    _headers, message, trailers, basement, _signature = b4.LoreMessage.get_body_parts(body)
    commit_message = "\n\n".join(part for part in (
        message.strip("\n"), "\n".join(t.as_string(omit_extinfo=True) for t in trailers)) if part)
    return Patch(
        number=number,
        total=total,
        subject=b4.LoreSubject(msg.get("Subject", "")).subject,
        author=mail_author(msg, use_inbody=True),
        date=mail_date(msg),
        msgid=b4.LoreMessage.get_clean_msgid(msg),
        message=commit_message,
        diff=basement,
        trailers=[(t.name, t.value) for t in [*trailers, *followup_trailers]],
        commit=commit,
        recipients=mail_recipients(msg),
    )


def mail_recipients(msg: EmailMessage) -> list[str]:
    """Everyone the mail was sent to (To, then Cc), each `Name <address>` once."""
    pairs = email.utils.getaddresses([str(v) for v in msg.get_all("To", []) + msg.get_all("Cc", [])])
    seen, recipients = set(), []
    for name, address in pairs:
        if address and address.lower() not in seen:
            seen.add(address.lower())
            recipients.append(email.utils.formataddr((name, address)))
    return recipients


def make_reply(lmsg: b4.LoreMessage) -> Reply:
    return Reply(
        msgid=lmsg.msgid,
        author=mail_author(lmsg.msg),
        date=mail_date(lmsg.msg),
        subject=lmsg.full_subject,
        body=lmsg.body,
        in_reply_to=lmsg.in_reply_to,
    )


def series_from_thread(messages: list[EmailMessage], source: str,
                       revision: int | None = None, partial: bool = False) -> Series:
    """The series in one mail thread: the newest revision unless `revision` is given. A
    revision missing patches is an error, unless `partial` (then the patches there are it)."""
    mailbox = b4.LoreMailbox()
    for msg in messages:
        if b4.LoreMessage.get_clean_msgid(msg):
            mailbox.add_message(msg)
    if not mailbox.series:
        raise InputError(source, "no patches in this thread")
    if revision is not None and revision not in mailbox.series:
        have = ", ".join(f"v{n}" for n in sorted(mailbox.series))
        raise InputError(source, f"no v{revision} in this thread (it has {have})")
    lseries = mailbox.get_series(revision, codereview_trailers=False)
    if lseries is None:
        raise InputError(source, "every patch of the series is missing from this thread")
    missing = [str(n) for n, lmsg in enumerate(lseries.patches) if n and lmsg is None]
    if missing and not partial:
        raise InputError(source, f"v{lseries.revision} is incomplete: patch "
                         f"{', '.join(missing)} of {lseries.expected} is not in this thread")

    cover = lseries.patches[0] if lseries.has_cover else None
    total = len(lseries.patches) - 1
    series = Series(
        source=source,
        subject=lseries.subject,
        revision=lseries.revision,
        patches=[make_patch(lmsg.msg, number, total, followup_trailers=lmsg.followup_trailers)
                 for number, lmsg in enumerate(lseries.patches[1:], start=1) if lmsg is not None],
        base_commit=lseries.base_commit,
        change_id=lseries.change_id,
    )
    if cover is not None:
        series.cover_msgid = cover.msgid
        series.cover_author = mail_author(cover.msg)
        series.cover_date = mail_date(cover.msg)
        series.cover_body = cover.body
    attach_replies(series, mailbox)
    return series


def attach_replies(series: Series, mailbox: b4.LoreMailbox) -> None:
    """Put every reply under the patch (or cover letter) it answers.

    Up the In-Reply-To chain to the first member of the series; when the chain breaks (a
    message in between is not in the thread), the nearest member named in References.
    Replies to other revisions of the series reach no member and are left out.
    """
    replies_of: dict[str, list[Reply]] = {p.msgid: p.replies for p in series.patches}
    if series.cover_msgid:
        replies_of[series.cover_msgid] = series.cover_replies
    for lmsg in sorted(mailbox.followups + mailbox.unknowns, key=lambda m: m.date):
        if lmsg.msgid in replies_of:
            continue
        target = answered_member(lmsg, mailbox.msgid_map, replies_of)
        if target is not None:
            replies_of[target].append(make_reply(lmsg))


def answered_member(lmsg: b4.LoreMessage, by_msgid: dict[str, b4.LoreMessage],
                    members: dict[str, object]) -> str | None:
    seen = {lmsg.msgid}
    parent = lmsg.in_reply_to
    while parent is not None and parent not in seen:
        if parent in members:
            return parent
        if parent not in by_msgid:
            break
        seen.add(parent)
        parent = by_msgid[parent].in_reply_to
    for ref in reversed(lmsg.references):
        if ref in members:
            return ref
    return None


def series_from_patch_mails(mails: list[PatchMail], source: str) -> Series:
    """The series made of patch mails in the order given (a cover letter may be among them)."""
    cover: EmailMessage | None = None
    numbered: list[tuple[b4.LoreSubject, PatchMail]] = []
    for mail in mails:
        subject = b4.LoreSubject(mail.msg.get("Subject", ""))
        body, _charset = b4.LoreMessage.get_payload(mail.msg)
        if b4.DIFF_RE.search(body):
            numbered.append((subject, mail))
        elif subject.counter == 0 and not subject.counters_inferred and cover is None:
            cover = mail.msg
        else:
            raise InputError(mail.label, "not a patch: no diff in it")
    if not numbered:
        raise InputError(source, "no patches in it")
    if not any(subject.counters_inferred for subject, _mail in numbered):
        numbered.sort(key=lambda pair: pair[0].counter)
    patches = [mail for _subject, mail in numbered]
    first = cover or patches[0].msg
    first_body, _charset = b4.LoreMessage.get_payload(first)
    series = Series(
        source=source,
        subject=b4.LoreSubject(first.get("Subject", "")).subject,
        revision=numbered[0][0].revision,
        patches=[make_patch(p.msg, number, len(patches), commit=p.commit)
                 for number, p in enumerate(patches, start=1)],
        base_commit=series_tag(first_body, "base-commit"),
        change_id=series_tag(first_body, "change-id"),
    )
    if cover is not None:
        series.cover_msgid = b4.LoreMessage.get_clean_msgid(cover)
        series.cover_author = mail_author(cover)
        series.cover_date = mail_date(cover)
        series.cover_body = first_body
    return series


def series_tag(body: str, name: str) -> str | None:
    """A `name: value` line that git format-patch or b4 puts in the first mail of a series
    (base-commit, change-id); b4 reads them the same way for threads."""
    match = re.search(rf"^{name}:\s*(\S+)", body, flags=re.I | re.M)
    return match.group(1) if match else None
