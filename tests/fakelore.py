"""A stand-in for lore.kernel.org on 127.0.0.1, answering as public-inbox does for b4/liblore.

It serves threads from mbox files (one file, one thread): `GET /<inbox>/<msgid>/t.mbox.gz`
answers the gzipped thread of any message in it. As the notes on lore measured: the gzip bytes
go out without a `Content-Encoding` header (liblore gunzips them itself), anything unknown is a
404 (an unknown message-id, the HEAD lookup that follows it, a search), and there are no
`X-Archive-*` headers (they would send liblore on to the real lore).
"""

from __future__ import annotations

import gzip
import threading
import urllib.parse
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
        self.delay = delay
        self.requests: list[tuple[str, str]] = []
        self.stopping = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler_class())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/all"

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        lore = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self, with_body: bool) -> None:
                lore.requests.append((self.command, self.path))
                if lore.stopping.wait(lore.delay):
                    return  # shutting down: the client gave up long ago
                status, body = lore.lookup(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/gzip" if status == 200
                                 else "text/plain")
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

    def lookup(self, path: str) -> tuple[int, bytes]:
        parts = urllib.parse.urlsplit(path).path.split("/")
        # ["", inbox, quoted message-id, "t.mbox.gz"]
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
