"""What a job's state means to a caller: its HTTP status, and for a failure what to do."""

from __future__ import annotations

from reviewbot.errors import (Cancelled, DoesNotApply, InputError, NotFound, TimedOut,
                              Unavailable)
from reviewbot_web.jobs import INTERNAL
from reviewbot_web.store import EXPIRED, EXPIRED_MESSAGE, Job

HTTP_STATUS = {error.kind: error.http_status
               for error in (InputError, NotFound, DoesNotApply, Unavailable, TimedOut, Cancelled)}
HTTP_STATUS[INTERNAL] = 500
HTTP_STATUS[EXPIRED] = 404

ADVICE = {
    EXPIRED: "The server keeps reviews for a limited time. Request it again to review the "
             "series anew.",
    InputError.kind: "Check what you pasted: a message-id from a Message-ID header, or a lore "
                     "URL of a message of the series. A thread larger than this server's limits "
                     "can be reviewed locally: `reviewbot check` on a saved mbox.",
    NotFound.kind: "The archive has no message with this id. Check it for typos; a series sent "
                   "minutes ago may not be in the archive yet, so try again later.",
    DoesNotApply.kind: "A patch does not apply to this server's tree at the series' base. Review "
                       "it from the hunks alone with `reviewbot check --hunks-only`, or in a "
                       "tree that has the base commit.",
    Unavailable.kind: "The archive could not be asked. Try again in a few minutes.",
    TimedOut.kind: "The archive or the review took too long. Try again later; a very large "
                   "series may need `reviewbot check` on your own machine.",
    Cancelled.kind: "The server stopped while this review ran. Try again.",
    INTERNAL: "This is a bug in reviewbot, not in the series. Please report it with the "
              "message-id; other series are not affected.",
}


def http_status(job: Job) -> int:
    """200 for a reviewed job, 202 for a running one, the error's status for a failed one."""
    if job.running:
        return 202
    if job.expired is not None:
        return HTTP_STATUS[EXPIRED]
    if job.failed:
        return HTTP_STATUS.get(job.error_kind, 500)
    return 200


def advice(job: Job) -> str:
    return ADVICE.get(EXPIRED if job.expired is not None else job.error_kind, ADVICE[INTERNAL])


def progress(job: Job) -> dict:
    """The job's state as the API and the page's progress poll show it."""
    out = {"status": job.status, "step": job.step, "done": job.done, "total": job.total}
    if job.expired is not None:
        out.update(status=EXPIRED, error={"kind": EXPIRED, "message": EXPIRED_MESSAGE,
                                          "path": None, "advice": advice(job)})
    elif job.failed:
        out["error"] = {"kind": job.error_kind, "message": job.error_message,
                        "path": job.error_path, "advice": advice(job)}
    return out
