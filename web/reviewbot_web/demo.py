"""A public-inbox archive of a few local mbox files, served by the application itself under
`/demo-lore/<inbox>/`: `reviewbot serve --demo` reviews the bundled seed thread from it, with
no network. It answers as lore does for liblore: the gzipped thread of any of its messages at
`<msgid>/t.mbox.gz` (no Content-Encoding header: liblore gunzips itself), 404 for anything
else, and no X-Archive-* headers (they would send liblore on to the real lore).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import b4
from flask import Blueprint, Response, abort

PREFIX = "/demo-lore"


def blueprint(directory: Path) -> Blueprint:
    threads: dict[str, bytes] = {}  # message-id -> the gzipped mbox of its thread
    for path in sorted(directory.glob("*.mbox")):
        packed = gzip.compress(path.read_bytes())
        for msg in b4.get_msgs_from_mailbox_or_maildir(str(path)):
            threads[b4.LoreMessage.get_clean_msgid(msg)] = packed
    bp = Blueprint("demo", __name__, url_prefix=PREFIX)

    @bp.get("/<inbox>/<path:msgid>/t.mbox.gz")
    def thread(inbox: str, msgid: str):
        packed = threads.get(msgid)
        if packed is None:
            abort(404)
        return Response(packed, mimetype="application/gzip")

    @bp.route("/<path:anything>", methods=["GET", "HEAD", "POST"])
    def nothing(anything: str):  # searches and list lookups: "no results", as lore says it
        abort(404)

    return bp


def seed_messages(directory: Path) -> list[str]:
    """The message-ids of the threads' first messages (the cover letters): what to review."""
    firsts = []
    for path in sorted(directory.glob("*.mbox")):
        msgs = b4.get_msgs_from_mailbox_or_maildir(str(path))
        if msgs:
            firsts.append(b4.LoreMessage.get_clean_msgid(msgs[0]))
    return firsts
