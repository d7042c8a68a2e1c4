"""Following a mailing list: what a public-inbox feed says, and which series its messages make.

No I/O here: `parse_feed` reads the Atom text a public-inbox server sends for a list
(`{base}/{list}/new.atom`, or a search with `x=A`), `collect` groups messages into series
revisions (cover letter and N/M patches; revisions of one series tied by change-id, by a new
revision sent in reply to an older one, else by author and title), and `due` says when a
revision is to be reviewed: once complete, or once it has waited long enough.
`reviewbot watch` (reviewbot.commands.watch) does the fetching, storing and queueing.
"""

from __future__ import annotations

import re
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from liblore.series import parse_patch_subject

ATOM = "{http://www.w3.org/2005/Atom}"
THREAD = "{http://purl.org/syndication/thread/1.0}"
# b4 ends a cover letter (or a single patch) with "change-id: <id>", the same in every revision
CHANGE_ID = re.compile(r"^change-id:\s*(\S+)\s*$", re.MULTILINE)
OVERLAP = timedelta(minutes=10)  # read again before the position: mail arrives late
WINDOW = 14 * 24 * 3600.0  # seconds a message counts for series and replies after it arrived


class FeedError(ValueError):
    """The feed is not Atom as public-inbox writes it."""


@dataclass(frozen=True)
class Message:
    """One message of a list, as its feed entry shows it."""

    msgid: str
    subject: str
    author: str
    date: str  # ISO 8601, UTC: the feed's <updated>
    in_reply_to: str | None = None
    change_id: str | None = None


@dataclass
class Revision:
    """One revision of a series as far as it has arrived."""

    root: str  # the cover letter's message-id, or the first patch's
    series_key: str  # the same for every revision of one series
    revision: int
    subject: str
    expected: int
    counters: set[int] = field(default_factory=set)  # patch numbers received (0: the cover)
    replies: int = 0

    @property
    def received(self) -> int:
        return len(self.counters - {0})

    @property
    def complete(self) -> bool:
        return all(n in self.counters for n in range(1, self.expected + 1))


def parse_feed(text: bytes | str) -> list[Message]:
    """The messages of a public-inbox Atom feed, in the feed's order."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise FeedError(f"not XML ({err})") from None
    if root.tag != f"{ATOM}feed":
        raise FeedError(f"not an Atom feed (its root is <{root.tag}>)")
    messages = []
    for entry in root.iter(f"{ATOM}entry"):
        msgid = _msgid_of(entry.find(f"{ATOM}link"))
        if msgid is None:
            raise FeedError("an entry has no link to its message")
        content = entry.find(f"{ATOM}content")
        body = "".join(content.itertext()) if content is not None else ""
        change = CHANGE_ID.search(body)
        messages.append(Message(
            msgid=msgid,
            subject=" ".join((entry.findtext(f"{ATOM}title") or "").split()),
            author=" ".join((entry.findtext(f"{ATOM}author/{ATOM}name") or "").split()),
            date=(entry.findtext(f"{ATOM}updated") or "").strip(),
            in_reply_to=_msgid_of(entry.find(f"{THREAD}in-reply-to")),
            change_id=change.group(1) if change else None,
        ))
    return messages


def _msgid_of(link: ET.Element | None) -> str | None:
    """The message-id in a public-inbox message URL: {base}/{list}/{quoted message-id}/."""
    href = link.get("href") if link is not None else None
    if not href:
        return None
    path = urllib.parse.urlsplit(href).path.rstrip("/")
    return urllib.parse.unquote(path.rsplit("/", 1)[-1]) or None


def search_since(position: str) -> str:
    """The public-inbox search (`q`) for the messages dated from `position` (an ISO 8601
    date from a feed) on, starting a little earlier: late mail is read, and kept once."""
    when = datetime.fromisoformat(position.replace("Z", "+00:00")).astimezone(timezone.utc)
    return f"dt:{(when - OVERLAP).strftime('%Y%m%d%H%M%S')}.."


def newest(messages: list[Message], position: str) -> str:
    """The position after reading `messages`: the latest date seen."""
    return max([position, *(m.date for m in messages)], key=_when)


def _when(date: str) -> datetime:
    if not date:
        return datetime.min.replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(date.replace("Z", "+00:00"))


def collect(messages: list[Message]) -> list[Revision]:
    """The series revisions that `messages` (a list's recent mail, oldest first) make, with
    the replies they have had. A patch whose cover letter has not arrived (yet) counts under
    the message it answers, which is what the cover's message-id will be."""
    mail = _Mail(messages)
    revisions: dict[str, Revision] = {}
    for msg in messages:
        if not mail.is_patch(msg.msgid):
            continue
        subject = mail.subjects[msg.msgid]
        root = mail.root_of(msg.msgid)
        rev = revisions.get(root)
        if rev is None:
            rev = revisions[root] = Revision(root, "", subject.version, subject.title,
                                             subject.expected)
        mail.members.setdefault(root, []).append(msg)
        rev.counters.add(subject.counter)
        rev.expected = max(rev.expected, subject.expected)
        if subject.counter == 0 or (subject.counter == 1 and 0 not in rev.counters):
            rev.subject = subject.title
    for msg in messages:
        if not mail.is_patch(msg.msgid):
            root = mail.answered(msg)
            if root in revisions:
                revisions[root].replies += 1
    for rev in revisions.values():
        rev.series_key = mail.series_key(rev, revisions)
    return list(revisions.values())


class _Mail:
    """The messages of a list by message-id, with their parsed subjects and thread roots."""

    def __init__(self, messages: list[Message]):
        self.by_id = {m.msgid: m for m in messages}
        self.subjects = {m.msgid: parse_patch_subject(m.subject) for m in messages}
        self.roots: dict[str, str] = {}
        self.members: dict[str, list[Message]] = {}  # root -> the patches of its revision

    def is_patch(self, msgid: str | None) -> bool:
        subject = self.subjects.get(msgid)
        return subject is not None and subject.is_patch and not subject.is_reply

    def root_of(self, msgid: str) -> str:
        """The cover letter (or first patch) of the revision patch `msgid` belongs to."""
        path, current = [], msgid
        while current not in self.roots:
            if current in path:  # In-Reply-To headers forged into a loop: stop there
                root = current
                break
            path.append(current)
            current, done = self._up(current)
            if done:
                root = current
                break
        else:
            root = self.roots[current]
        for member in path:
            self.roots[member] = root
        return root

    def _up(self, msgid: str) -> tuple[str, bool]:
        """The patch that `msgid` continues the revision of (False), or its root (True)."""
        subject, parent = self.subjects[msgid], self.by_id[msgid].in_reply_to
        if subject.counter == 0 or not parent:
            return msgid, True
        if parent not in self.by_id:  # its cover (or patch 1) is not here: it is the parent
            return (parent if subject.counter > 1 or subject.expected > 1 else msgid), True
        if self.is_patch(parent) and _same_revision(self.subjects[parent], subject):
            return parent, False
        return msgid, True  # a new revision answering an older one starts its own

    def answered(self, reply: Message) -> str | None:
        """The revision a reply is about: up its thread to the first patch (or cover)."""
        parent, seen = reply.in_reply_to, set()
        while parent in self.by_id and not self.is_patch(parent) and parent not in seen:
            seen.add(parent)
            parent = self.by_id[parent].in_reply_to
        return self.root_of(parent) if self.is_patch(parent) else parent

    def series_key(self, rev: Revision, revisions: dict[str, Revision],
                   seen: frozenset[str] = frozenset()) -> str:
        """What every revision of one series shares: b4's change-id; else the key of the older
        revision the cover (or first patch) answers; else the author and the title."""
        members = self.members[rev.root]
        for msg in members:
            if msg.change_id:
                return f"change-id:{msg.change_id}"
        first = self.by_id.get(rev.root)
        parent = first.in_reply_to if first else None
        older = self.root_of(parent) if self.is_patch(parent) else None
        if older in revisions and older != rev.root and older not in seen:
            return self.series_key(revisions[older], revisions, seen | {rev.root})
        author = first.author if first else members[0].author
        return f"{author}\n{rev.subject}"


def _same_revision(parent, child) -> bool:
    return parent.version == child.version and parent.expected == child.expected


def due(rev: Revision, first_seen: float, now: float, wait: float) -> bool:
    """Whether to review `rev` now: it is complete, or it has waited `wait` seconds since its
    first message arrived (then what arrived is reviewed)."""
    return rev.complete or now - first_seen >= wait
