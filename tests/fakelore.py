"""A stand-in for lore.kernel.org on 127.0.0.1, answering as public-inbox does for b4/liblore.

It serves threads from mbox files (one file, one thread): `GET /<inbox>/<msgid>/t.mbox.gz`
answers the gzipped thread of any message in it. As the notes on lore measured: the gzip bytes
go out without a `Content-Encoding` header (liblore gunzips them itself), anything unknown is a
404 (an unknown message-id, the HEAD lookup that follows it, a search), and there are no
`X-Archive-*` headers (they would send liblore on to the real lore).
"""

from __future__ import annotations

import email.utils
import gzip
import html
import threading
import urllib.parse
from datetime import datetime, timezone
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import b4


class FakeLore:
    """Use as a context manager: `with FakeLore([mbox]) as lore: ... lore.url ...`.

    `delay`: seconds to wait before each answer, to play a slow archive. `requests` records
    (method, path) of every request, in order.
    """

    def __init__(self, mboxes: list[Path], delay: float = 0.0):
        self.threads: dict[str, bytes] = {}  # message-id -> the mbox bytes of its thread
        for path in mboxes:
            for msg in b4.get_msgs_from_mailbox_or_maildir(str(path)):
                self.threads[b4.LoreMessage.get_clean_msgid(msg)] = Path(path).read_bytes()
        self.lists: dict[str, list[EmailMessage]] = {}  # list -> its messages, as published
        self.thread_root: dict[str, str] = {}  # message-id -> the first message of its thread
        self.thread_mail: dict[str, list[EmailMessage]] = {}  # root -> the thread's messages
        self.feed_failures = 0  # answer this many feed reads with a 500, as a server in trouble
        self.thread_failures = 0  # and this many thread reads
        self.delay = delay
        self.slow: set[str] = set()  # message-ids whose thread comes `slow_delay` s later still
        self.slow_delay = 0.0
        self.requests: list[tuple[str, str]] = []
        self.hosts: list[str] = []  # the Host header of each request
        self.stopping = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler_class())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/all"

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        lore = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self, with_body: bool) -> None:
                lore.requests.append((self.command, self.path))
                lore.hosts.append(self.headers["Host"])
                slow = any(msgid in urllib.parse.unquote(self.path) for msgid in lore.slow)
                if lore.stopping.wait(lore.delay + (lore.slow_delay if slow else 0)):
                    return  # shutting down: the client gave up long ago
                status, body = lore.lookup(self.path)
                self.send_response(status)
                kind = "application/atom+xml" if body.startswith(b"<?xml") else "application/gzip"
                self.send_header("Content-Type", kind if status == 200 else "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if with_body:
                    self.wfile.write(body)

            def do_GET(self) -> None:
                self.answer(with_body=True)

            def do_POST(self) -> None:
                self.answer(with_body=True)

            def do_HEAD(self) -> None:
                self.answer(with_body=False)

            def log_message(self, *args) -> None:
                pass

        return Handler

    def publish(self, name: str, messages: list[EmailMessage]) -> None:
        for msg in messages:
            msgid = msg["Message-ID"].strip("<>")
            parent = (msg["In-Reply-To"] or "").strip("<>")
            root = self.thread_root.get(parent, msgid)
            self.thread_root[msgid] = root
            self.thread_mail.setdefault(root, []).append(msg)
            self.threads[msgid] = b"".join(m.as_bytes(unixfrom=True) + b"\n"
                                           for m in self.thread_mail[root])
            for other in self.thread_mail[root]:  # every message finds the whole thread
                self.threads[other["Message-ID"].strip("<>")] = self.threads[msgid]
            self.lists.setdefault(name, []).append(msg)

    def search(self, name: str, query: dict[str, list[str]]) -> tuple[int, bytes]:
        if self.feed_failures > 0:
            self.feed_failures -= 1
            return 500, b"500 Internal Server Error\n"
        since = query.get("q", [""])[0].removeprefix("dt:").removesuffix("..")
        start = datetime.strptime(since, "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
        offset = int(query.get("o", ["0"])[0])
        found = [m for m in self.lists.get(name, []) if _date(m) >= start]
        found.sort(key=_date, reverse=True)
        return 200, atom(self.url.rsplit("/", 1)[0], name, found[offset:offset + 200])

    def lookup(self, path: str) -> tuple[int, bytes]:
        split = urllib.parse.urlsplit(path)
        parts = split.path.split("/")
        if len(parts) == 3 and parts[2] == "" and "x=A" in split.query:
            return self.search(parts[1], urllib.parse.parse_qs(split.query))
        # ["", inbox, quoted message-id, "t.mbox.gz"]
        if len(parts) == 4 and parts[3] == "t.mbox.gz" and self.thread_failures > 0:
            self.thread_failures -= 1
            return 500, b"500 Internal Server Error\n"
        if len(parts) == 4 and parts[3] == "t.mbox.gz":
            thread = self.threads.get(urllib.parse.unquote_plus(parts[2]))
            if thread is not None:
                return 200, gzip.compress(thread)
        return 404, b"404 Not Found\n"

    def __enter__(self) -> FakeLore:
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


def _date(msg: EmailMessage) -> datetime:
    return email.utils.parsedate_to_datetime(msg["Date"]).astimezone(timezone.utc)


def atom(base: str, name: str, messages: list[EmailMessage]) -> bytes:
    """An Atom feed of `messages` as public-inbox writes one for a list."""
    def url(msgid: str) -> str:
        return html.escape(f"{base}/{name}/{urllib.parse.quote(msgid, safe='@')}/")

    entries = []
    for msg in messages:
        msgid = msg["Message-ID"].strip("<>")
        author, address = email.utils.parseaddr(msg["From"])
        parent = (msg["In-Reply-To"] or "").strip("<>")
        reply = f'<thr:in-reply-to ref="urn:uuid:{html.escape(parent)}" href="{url(parent)}"/>' \
            if parent else ""
        body = msg.get_content() if not msg.is_multipart() else ""
        entries.append(
            f"<entry><author><name>{html.escape(author)}</name><email>{html.escape(address)}"
            f"</email></author><title>{html.escape(msg['Subject'])}</title>"
            f"<updated>{_date(msg).strftime('%Y-%m-%dT%H:%M:%SZ')}</updated>"
            f'<link href="{url(msgid)}"/><id>urn:uuid:{html.escape(msgid)}</id>{reply}'
            f'<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">'
            f'<pre style="white-space:pre-wrap">{html.escape(body)}</pre></div></content></entry>')
    return ('<?xml version="1.0" encoding="us-ascii"?>\n'
            '<feed xmlns="http://www.w3.org/2005/Atom" '
            'xmlns:thr="http://purl.org/syndication/thread/1.0">'
            f"<title>{html.escape(name)}</title><id>mailto:{html.escape(name)}@lists.invalid</id>"
            + "".join(entries) + "</feed>").encode("utf-8", "xmlcharrefreplace")
