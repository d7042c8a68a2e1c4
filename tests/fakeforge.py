"""A small forge API on 127.0.0.1 with the shapes reviewbot ci uses of GitHub, GitLab and
patchwork, keeping what is posted and recording every request.

Collections are kept by path: a POST to a listing path adds an item (with an `id`), a GET
answers the items page by page (`per_page`, `page`, a Link header to the next page), a PATCH or
PUT to `<listing>/<id>` (GitHub's `issues/comments/<id>`, GitLab's `notes/<id>`) edits the
item; pages hold at most `page_size` items, so that clients have to follow the links. A GitHub
review adds its comments to the pull request's review comments. `fail` queues answers to give
instead of the next requests (a 429 with Retry-After, a 500, ...); `fail_post` maps n to the
answer for the n-th POST, PATCH or PUT. A request without the expected token is answered 401.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Request:
    method: str
    path: str
    query: dict
    payload: object
    auth: str | None  # the Authorization or PRIVATE-TOKEN header
    at: float = field(default_factory=time.monotonic)


GITHUB_REVIEWS = re.compile(r"^/repos/[^/]+/[^/]+/pulls/(\d+)/reviews$")
GITHUB_COMMENT_EDIT = re.compile(r"^(/repos/[^/]+/[^/]+/issues)/comments/(\d+)$")
GITLAB_NOTE_EDIT = re.compile(r"^(.*/merge_requests/\d+/notes)/(\d+)$")
GITLAB_MR = re.compile(r"^/api/v4/projects/[^/]+/merge_requests/\d+$")


class FakeForge:
    """`with FakeForge(token="Bearer secret") as forge: ... forge.url ...`"""

    def __init__(self, token: str, diff_refs: dict | None = None,
                 patchwork_patches: dict[str, int] | None = None):
        self.token = token
        self.diff_refs = diff_refs or {}
        self.patchwork_patches = patchwork_patches or {}  # message-id -> patch id
        self.collections: dict[str, list[dict]] = {}
        self.requests: list[Request] = []
        self.fail: list[tuple[int, dict, dict]] = []  # (status, headers, json body)
        self.fail_post: dict[int, tuple[int, dict, dict]] = {}
        self.page_size = 2
        self.next_id = 1
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler_class())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def items(self, path: str) -> list[dict]:
        return self.collections.get(path, [])

    def posts(self) -> list[Request]:
        return [r for r in self.requests if r.method != "GET"]

    def handle(self, method: str, raw_path: str, payload, auth) -> tuple[int, dict, object]:
        parts = urllib.parse.urlsplit(raw_path)
        path = parts.path.rstrip("/") or "/"
        query = dict(urllib.parse.parse_qsl(parts.query))
        with self.lock:
            self.requests.append(Request(method, path, query, payload, auth))
            if self.fail:
                return self.fail.pop(0)
            if method != "GET" and len(self.posts()) in self.fail_post:
                return self.fail_post.pop(len(self.posts()))
            if auth != self.token:
                return 401, {}, {"message": "Bad credentials"}
            if method == "GET":
                return self.get(path, query)
            if method == "POST":
                return 201, {}, self.add(path, payload)
            edit = GITHUB_COMMENT_EDIT.match(path) or GITLAB_NOTE_EDIT.match(path)
            if method in ("PATCH", "PUT") and edit:
                return self.edit(edit.group(1), int(edit.group(2)), payload)
            return 404, {}, {"message": "Not Found"}

    def get(self, path: str, query: dict) -> tuple[int, dict, object]:
        if GITLAB_MR.match(path):
            return 200, {}, {"diff_refs": self.diff_refs}
        if path.endswith("/patches"):
            wanted = query.get("msgid", "").strip("<>")
            return 200, {}, [{"id": pid, "msgid": f"<{msgid}>"}
                             for msgid, pid in self.patchwork_patches.items() if msgid == wanted]
        items = self.collections.get(path, [])
        per_page = min(int(query.get("per_page", 30)), self.page_size)
        page = int(query.get("page", 1))
        headers = {}
        if page * per_page < len(items):
            headers["Link"] = (f'<{self.url}{path}?per_page={per_page}&page={page + 1}>; '
                               'rel="next"')
        return 200, headers, items[(page - 1) * per_page:page * per_page]

    def add(self, path: str, payload: dict) -> dict:
        item = {"id": self.next_id, **payload}
        self.next_id += 1
        if path.endswith("/discussions"):  # GitLab: a discussion holds its first note
            item = {"id": item["id"], "notes": [{"id": item["id"], **payload}]}
        self.collections.setdefault(path, []).append(item)
        review = GITHUB_REVIEWS.match(path)
        if review:
            comments = path.removesuffix("/reviews") + "/comments"
            for comment in payload.get("comments", []):
                self.collections.setdefault(comments, []).append(
                    {"id": self.next_id, "pull_request_review_id": item["id"], **comment})
                self.next_id += 1
        return item

    def edit(self, listing: str, item_id: int, payload: dict) -> tuple[int, dict, object]:
        for path, items in self.collections.items():
            for item in items:
                if item["id"] == item_id and path.startswith(listing):
                    item.update(payload)
                    return 200, {}, item
        return 404, {}, {"message": "Not Found"}

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        forge = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                payload = json.loads(body) if body else None
                auth = self.headers.get("Authorization") or self.headers.get("PRIVATE-TOKEN")
                status, headers, data = forge.handle(self.command, self.path, payload, auth)
                out = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PATCH = do_PUT = answer

            def log_message(self, *args) -> None:
                pass

        return Handler

    def __enter__(self) -> FakeForge:
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
