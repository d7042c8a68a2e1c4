"""The errors a caller can act on. Each names the input and the problem in one line.

The CLI prints any of them as `reviewbot: <source>: <problem>` and exits 2; the web answers
with `http_status`; a job records the message and `kind`. Anything else that escapes is a bug
in reviewbot (the CLI exits 3, the web shows a failed job).
"""


class ReviewbotError(Exception):
    """A problem a user or an operator can do something about: never a traceback."""

    http_status = 500
    kind = "error"

    def __init__(self, source: str, problem: str):
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


class InputError(ReviewbotError):
    """Bad input from the user (a malformed message-id, a file that is not an mbox, ...)."""

    http_status = 400
    kind = "bad-input"


class NotFound(InputError):
    """What the input names does not exist (no such message in the archive, no such file)."""

    http_status = 404
    kind = "not-found"


class DoesNotApply(InputError):
    """A patch does not apply at the base; `path` is the file that failed, when git says."""

    http_status = 422
    kind = "does-not-apply"

    def __init__(self, source: str, problem: str, path: str | None = None):
        super().__init__(source, problem)
        self.path = path


class Unavailable(ReviewbotError):
    """The archive (or another server) could not be reached or answered with an error."""

    http_status = 502
    kind = "unavailable"


class TimedOut(Unavailable):
    """The archive did not answer in time, or the review ran past its time limit."""

    http_status = 504
    kind = "timed-out"


class Cancelled(ReviewbotError):
    """The caller stopped the review (a job cancelled, a server shutting down)."""

    http_status = 503
    kind = "cancelled"
