"""The JSON APIs: reviews as docs/json-schema.md documents, and the patchset shape `b4 review`
reads from a review service (`b4.sashiko-url`)."""

from __future__ import annotations

import json

from flask import Blueprint, jsonify, request, url_for

from reviewbot.checks import RULES
from reviewbot.errors import InputError
from reviewbot.findings import FIXED, PREEXISTING
from reviewbot.report import json as json_report
from reviewbot.report import mail
from reviewbot.review import Review
from reviewbot_web import services, status
from reviewbot_web.ids import parse_msgid, parse_revision
from reviewbot_web.jobs import Busy
from reviewbot_web.store import (EXPIRED, EXPIRED_MESSAGE, FAILED_TO_APPLY, FETCHING, NEWEST,
                                 QUEUED, REVIEWED, Job)

bp = Blueprint("api", __name__, url_prefix="/api")

# a job's status in b4's words: it waits while a patchset is Pending or In Review
PATCHSET_STATUS = {QUEUED: "Pending", FETCHING: "Pending", FAILED_TO_APPLY: "Failed To Apply",
                   REVIEWED: "Reviewed"}
# reviewbot's severities in the review service's (which has no `info`)
SERVICE_SEVERITY = {"critical": "critical", "high": "high", "medium": "medium", "low": "low",
                    "info": "low"}


@bp.post("/review")
def start_review():
    """Start or join the review of {"id": msgid, "revision": N}: 202 with a Location while it
    runs, the document once it is done."""
    if not request.is_json:
        return _error(415, "bad-input", "send a JSON object: {\"id\": \"<message-id>\"}")
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        return _error(400, "bad-input", "send a JSON object: {\"id\": \"<message-id>\"}")
    revision = body.get("revision")
    try:
        msgid = parse_msgid(body["id"])
        revision = parse_revision(None if revision is None else str(revision))
        job = services().jobs.submit(msgid, revision, retry=True)
    except InputError as err:
        return _error(400, err.kind, str(err))
    except Busy as err:
        return _error(503, "busy", f"the server is busy: {err}; try again in a minute")
    return _review_answer(job, msgid, revision)


@bp.get("/review")
def get_review():
    """The review of ?id= (and ?v=N) as a docs/json-schema.md document; ?all=1 also lists
    fixed and pre-existing findings."""
    try:
        msgid, revision = _asked()
    except InputError as err:
        return _error(400, err.kind, str(err))
    job = services().store.find(msgid, revision)
    if job is None:
        return _error(404, "not-found", "no review of this message-id here: POST /api/review "
                                        "{\"id\": ...} starts one")
    return _review_answer(job, msgid, revision)


@bp.get("/status")
def get_status():
    """How far the job of ?id= is: what the series page polls while it waits."""
    try:
        msgid, revision = _asked()
    except InputError as err:
        return _error(400, err.kind, str(err))
    job = services().store.find(msgid, revision)
    if job is None:
        return _error(404, "not-found", "no review of this message-id here")
    return jsonify(status.progress(job))


@bp.get("/patchset")
def patchset():
    """The series of ?id= (the cover's or any patch's message-id) as a review service answers
    `b4 review`: Pending while the review runs (an id never seen starts one)."""
    try:
        msgid = parse_msgid(request.args.get("id", ""))
        job = services().jobs.submit(msgid, NEWEST)
    except InputError as err:
        return _error(400, err.kind, str(err))
    except Busy as err:
        return _error(503, "busy", f"the server is busy: {err}; try again in a minute")
    if job.expired is not None:
        return _error(404, EXPIRED, EXPIRED_MESSAGE)
    if job.failed and status.http_status(job) == 404:
        return _error(404, job.error_kind, job.error_message)
    if job.status != REVIEWED:
        return jsonify(id=job.id, message_id=msgid, status=PATCHSET_STATUS.get(
            job.status, "Failed" if job.failed else "In Review"), result=job.error_message,
            patches=[], reviews=[])
    review = services().store.review(job.id)
    if review is None:  # pruned since the job was read
        return _error(404, EXPIRED, EXPIRED_MESSAGE)
    return jsonify(service_patchset(job, review))


def service_patchset(job: Job, review: Review) -> dict:
    """A reviewed series in the review service's shape: per patch a review whose `output` is
    a JSON string of its findings and whose `inline_review` is reviewbot's list-style reply."""
    series = review.series
    ids = {p.number: job.id * 1000 + p.number for p in series.patches}
    replies = {msg["In-Reply-To"].strip("<>"): msg.get_content()
               for msg in mail.replies(review) if msg["In-Reply-To"]}
    findings: dict[int, list] = {n: [] for n in ids}
    for finding in review.findings:
        if finding.status == FIXED:
            continue
        # a pre-existing finding belongs with the first patch that touches its file
        number = finding.patch or next((p.number for p in series.patches
                                        if finding.file in p.files), None)
        if number is None:
            continue
        rule = RULES.get(finding.rule)
        findings[number].append({
            "problem": f"{finding.message} [{finding.rule}]",
            "severity": SERVICE_SEVERITY.get(finding.severity, "low"),
            "severity_explanation": rule.summary if rule else "",
            "preexisting": finding.status == PREEXISTING,
            "locations": [{"file": finding.file, "line": finding.line}],
            "evidence": list(finding.evidence),
        })
    return {
        "id": job.id,
        "message_id": series.cover_msgid or (series.patches[0].msgid if series.patches else None),
        "subject": series.subject,
        "status": "Reviewed",
        "url": url_for("pages.series", msgid=job.msgid, _external=True),
        "patches": [{"id": ids[p.number], "message_id": p.msgid, "subject": p.subject,
                     "part": p.number} for p in series.patches],
        "reviews": [{"id": ids[p.number], "patch_id": ids[p.number], "status": "Reviewed",
                     "result": f"{len(findings[p.number])} finding(s)",
                     "output": json.dumps({"findings": findings[p.number]}),
                     "inline_review": replies.get(p.msgid, "")}
                    for p in series.patches],
    }


def _asked() -> tuple[str, int]:
    return parse_msgid(request.args.get("id", "")), parse_revision(request.args.get("v"))


def _review_answer(job: Job, msgid: str, revision: int):
    location = url_for("api.get_review", id=msgid, v=revision or None)
    if job.status == REVIEWED and job.expired is None:
        review = services().store.review(job.id)
        if review is None:  # pruned since the job was read
            return _error(404, EXPIRED, EXPIRED_MESSAGE)
        show_all = request.args.get("all") in ("1", "true", "yes")
        response = jsonify(json_report.document(review, show_all))
    else:
        response = jsonify({"id": msgid, **status.progress(job)})
    response.status_code = status.http_status(job)
    if job.running:
        response.headers["Location"] = location
    return response


def _error(code: int, kind: str, message: str):
    return jsonify(status="error", error={"kind": kind, "message": message}), code
