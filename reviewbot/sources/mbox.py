"""An mbox file (or maildir) as a series source: its one thread, or the thread of --msgid."""

from __future__ import annotations

import b4
import liblore.series

from reviewbot.errors import InputError
from reviewbot.limits import Limits
from reviewbot.series import Series
from reviewbot.sources.mail import (PatchMail, read_mbox, series_from_patch_mails,
                                    series_from_thread, setup_b4)


def load(path: str, *, msgid: str | None = None, revision: int | None = None,
         limits: Limits = Limits()) -> Series:
    setup_b4()
    messages = read_mbox(path, limits)
    if not any(b4.LoreMessage.get_clean_msgid(msg) for msg in messages):
        # `git format-patch --stdout` writes no Message-IDs: patches in file order, no thread.
        return series_from_patch_mails([PatchMail(msg, path) for msg in messages], path)
    if msgid is not None:
        wanted = msgid.strip().strip("<>")
        thread = b4.get_strict_thread(messages, wanted)
        if not thread:
            raise InputError(path, f"no message <{wanted}> in it")
        return series_from_thread(thread, path, revision)
    threads = liblore.series.summarize_threads(messages)
    if len(threads) > 1:
        listing = "; ".join(f"<{thread.msgid}> {thread.subject}" for thread in threads)
        raise InputError(path, f"{len(threads)} threads in it, pick one with --msgid: {listing}")
    return series_from_thread(messages, path, revision)
