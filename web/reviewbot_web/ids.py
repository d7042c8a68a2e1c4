"""Message-ids from the outside world, checked before they reach b4, a URL, SQL or a page."""

from __future__ import annotations

import re

from reviewbot.errors import InputError
from reviewbot.sources.lore import message_id

MAX_INPUT = 2000  # characters of a pasted id or URL
MAX_MSGID = 250  # characters of the message-id itself (real ones are well under 100)
# RFC 5322's atext, dots, the @ and a domain literal's brackets: nothing that needs quoting in
# a shell, and nothing a path or a URL gives a meaning to beyond `/`, which lore quotes
MSGID = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.\[\]]+@[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.\[\]@]+")


def parse_msgid(text: str) -> str:
    """The bare message-id in a pasted `<id>`, id or lore URL; InputError when it is none."""
    shown = text if len(text) <= 80 else text[:77] + "..."
    if len(text) > MAX_INPUT:
        raise InputError(shown, f"too long for a message-id or lore URL (over {MAX_INPUT} characters)")
    msgid = message_id(text)
    if len(msgid) > MAX_MSGID:
        raise InputError(shown, f"too long for a message-id (over {MAX_MSGID} characters)")
    if not MSGID.fullmatch(msgid) or msgid.startswith(".") or ".." in msgid:
        raise InputError(shown, "not a message-id: expected something like "
                                "20240407155758.575216-1-name@example.com")
    return msgid


def parse_revision(text: str | None) -> int:
    """`N` of `-v N`, or 0 (the newest) when not given."""
    if text is None or text.strip() == "":
        return 0
    if not text.strip().isdigit() or not 0 < int(text) <= 999:
        raise InputError(text[:20], "not a revision: expected a number from 1 to 999")
    return int(text)
