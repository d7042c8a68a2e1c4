"""The pages: the paste box and feed, the series page, the rule docs."""

from __future__ import annotations

import re
import secrets
import threading
from collections import OrderedDict

from flask import (Blueprint, abort, current_app, redirect, render_template, request, session,
                   url_for)
from markupsafe import Markup, escape

from reviewbot.checks import RULES
from reviewbot.errors import InputError
from reviewbot.findings import SEVERITIES
from reviewbot_web import diagram, render, services, status
from reviewbot_web.ids import parse_msgid, parse_revision
from reviewbot_web.jobs import Busy

bp = Blueprint("pages", __name__)


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


@bp.app_context_processor
def template_helpers():
    return {"csrf_token": csrf_token, "severities": SEVERITIES, "clip": render.clip,
            "mail_blocks": render.mail_blocks}


@bp.get("/")
def index():
    return _index()


@bp.post("/")
def start():
    """Start (or join) the review of what was pasted, then show its page."""
    sent = request.form.get("csrf", "")
    if not sent or not secrets.compare_digest(sent, session.get("csrf", "")):
        return _index("The form expired or did not come from this page: paste the id again.", 400)
    text = request.form.get("id", "")
    try:
        msgid = parse_msgid(text)
        revision = parse_revision(request.form.get("v"))
    except InputError as err:
        return _index(str(err), 400, text)
    try:
        services().jobs.submit(msgid, revision, retry=True)
    except Busy:
        return _index("The server is busy with other reviews: try again in a minute.", 503, text)
    return redirect(_series_url(msgid, revision), code=303)


@bp.get("/r/<path:msgid>")
def series(msgid: str):
    try:
        msgid = parse_msgid(msgid)
        revision = parse_revision(request.args.get("v"))
    except InputError as err:
        return render_template("error.html", status=400, message=str(err)), 400
    try:  # a permalink whose review is not stored (yet, or any more) starts it
        job = services().jobs.submit(msgid, revision)
    except Busy:
        return render_template("error.html", status=503, message="The server is busy with other "
                               "reviews: reload this page in a minute."), 503
    if job.expired is not None:
        return _expired_page(msgid, revision)
    if not job.running and not job.failed:
        # a stored review never changes (a new run updates the job): its page is made once
        key = (job.id, job.updated, msgid, revision)
        try:
            return _reviewed_pages().get(key, lambda: _reviewed_page(job, msgid, revision))
        except Expired:  # pruned since the job was read
            return _expired_page(msgid, revision)
    return (render_template("progress.html", job=job, msgid=msgid, revision=revision,
                            advice=status.advice(job) if job.failed else None),
            200 if job.running else status.http_status(job))


class PageCache:
    """The last pages made, by key: the series page of a stored review is the same for every
    reader, and colouring its diffs is most of its cost (50 readers at once would make it 50
    times over). Bounded by count; threads share it."""

    def __init__(self, size: int = 32):
        self.size = size
        self._pages: OrderedDict[tuple, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, make) -> str:
        with self._lock:
            if key in self._pages:
                self._pages.move_to_end(key)
                return self._pages[key]
        page = make()  # outside the lock: two first readers may both make it, once each
        with self._lock:
            self._pages[key] = page
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)
        return page


def _reviewed_pages() -> PageCache:
    return current_app.extensions.setdefault("reviewbot-pages", PageCache())


class Expired(Exception):
    """The stored review is gone: the store's retention dropped it."""


def _expired_page(msgid: str, revision: int):
    return render_template("expired.html", msgid=msgid, revision=revision), 404


def _reviewed_page(job, msgid: str, revision: int) -> str:
    review = services().store.review(job.id)
    if review is None:
        raise Expired(job.id)
    views = render.patch_views(review)
    anchors = render.Anchors.of(views)
    cover, cover_cut = render.clip(review.series.cover_body)
    return render_template(
        "series.html", job=job, msgid=msgid, revision=revision, review=review, views=views,
        link=lambda finding, text: render.linked(text, finding, anchors),
        preexisting=render.preexisting(review), cover=cover, cover_cut=cover_cut,
        diagrams=diagram.diagrams(review.transitions))


@bp.get("/patchset/<int:job_id>")
def patchset(job_id: int):
    """Where b4's links to a review service (`#/patchset/<id>`) land, by way of app.js."""
    job = services().store.get(job_id)
    if job is None:
        abort(404, description="no such review here: it may have expired (the server keeps "
                               "reviews for a limited time); paste its message-id to review it again")
    return redirect(_series_url(job.msgid, job.revision))


@bp.get("/rules/")
def rules():
    return render_template("rules.html", rules=sorted(RULES.values(), key=lambda r: r.name))


@bp.get("/rules/<name>")
def rule(name: str):
    found = RULES.get(name)
    if found is None:
        abort(404, description=f"no rule named {name!r}")
    return render_template("rule.html", rule=found, doc=markdown(found.doc))


def _index(error: str | None = None, code: int = 200, pasted: str = ""):
    return render_template("index.html", error=error, pasted=pasted,
                           jobs=services().store.recent()), code


def _series_url(msgid: str, revision: int) -> str:
    return url_for("pages.series", msgid=msgid, v=revision or None)


def markdown(text: str) -> Markup:
    """The little markdown the rule docs use: `## ` headings, paragraphs, ``` blocks,
    **bold** and `code`. The docs are reviewbot's own, and are escaped all the same."""
    out: list[Markup] = []
    lines: list[str] = []
    fenced = False

    def paragraph():
        if lines:
            block = "\n".join(lines)
            if block.startswith("## "):
                out.append(Markup("<h2>{}</h2>").format(block[3:]))
            else:
                html = str(escape(block))
                html = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html)
                html = re.sub(r"`([^`]+)`", r"<code>\1</code>", html)
                out.append(Markup(f"<p>{html}</p>"))
            lines.clear()

    for line in text.strip().splitlines():
        if line.startswith("```"):
            if fenced:
                out.append(Markup("<pre>{}</pre>").format("\n".join(lines)))
                lines.clear()
            else:
                paragraph()
            fenced = not fenced
        elif fenced or line.strip():
            lines.append(line)
        else:
            paragraph()
    paragraph()
    return Markup("\n").join(out)
