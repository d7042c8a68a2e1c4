"""Running reviewbot on hostile input as a user would, bounded: the fuzz suite and the corpus
share this. An outcome is the exit status and what was printed; `check_outcome` asserts what
every outcome must be (no traceback, a documented exit status, one line for an error)."""

from __future__ import annotations

import io
import resource
import signal
from collections import Counter
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass

from reviewbot import cli

SECONDS = 30  # one run on one hostile input; reviewbot takes well under a second on these
MEMORY_GROWTH = 1 << 30  # bytes the process may grow by over a whole suite of hostile inputs
DOCUMENTED = {0: "no finding", 1: "findings", 2: "bad input"}  # 3 would be a bug in reviewbot


class Hang(BaseException):
    """A run took longer than SECONDS: a BaseException, so that reviewbot cannot catch it."""


@contextmanager
def time_bound(seconds: float):
    def expire(signum, frame):
        raise Hang(f"still running after {seconds}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass(frozen=True)
class Outcome:
    status: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"exit {self.status}, stderr {self.err[-2000:]!r}"


def run_cli(*args: str, seconds: float = SECONDS) -> Outcome:
    """`reviewbot ARGS` in this process, its output captured, stopped after `seconds`."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err), time_bound(seconds):
        status = cli.main(list(args))
    return Outcome(status, out.getvalue(), err.getvalue())


def check_outcome(outcome: Outcome) -> None:
    """What any input must give: a documented exit status, no traceback, and for bad input
    one line on stderr."""
    assert "Traceback" not in outcome.err, outcome
    assert outcome.status in DOCUMENTED, outcome
    if outcome.status == 2:
        assert outcome.err.startswith("reviewbot: ") and outcome.err.count("\n") == 1, outcome


# what an error says, by the words that tell the kinds of bad input apart
PROBLEMS = ("malformed diff", "no mail messages", "a mail has a header", "no patches",
            "not a patch", "incomplete", "does not apply", "threads in it", "not a regular file",
            "symbolic link", "more than the limit", "not a file", "no such", "not a C file",
            "not a message-id", "not a valid URL", "missing from this thread", "empty range",
            "not UTF-8", "a file name git would not write", "sent a broken answer", "answered HTTP",
            "is not a public-inbox archive", "broken gzipped mbox", "unpacks to more than",
            "redirected more than", "sent more than", "did not send the thread", "cannot reach",
            "sent no thread")


def outcome_class(outcome: Outcome) -> str:
    """`exit 2: malformed diff`, `exit 1`, ...: the classes a suite counts as covered."""
    if outcome.status != 2:
        return f"exit {outcome.status}"
    return "exit 2: " + next((p for p in PROBLEMS if p in outcome.err), "other")


def max_rss() -> int:
    """The most memory this process has held so far, in bytes (Linux counts kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Tally:
    """Inputs tried and classes covered (outcomes and the features of the inputs), printed
    at the end of a suite."""

    def __init__(self, name: str):
        self.name = name
        self.tried = 0
        self.classes: Counter[str] = Counter()

    def add(self, outcome: Outcome, *features: str) -> None:
        self.tried += 1
        self.classes[outcome_class(outcome)] += 1
        self.classes.update(f"input: {feature}" for feature in features)

    def report(self) -> str:
        listing = ", ".join(f"{name} x{count}" for name, count in sorted(self.classes.items()))
        return f"{self.name}: {self.tried} inputs tried, {len(self.classes)} classes covered: {listing}"
