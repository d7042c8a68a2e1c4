"""The one way from a source spec to a Review: the CLI, the web, `ci` and the job workers call
this module and nothing deeper.

    spec = SourceSpec(("20240407155758.575216-1-amir73il@gmail.com",), lore_url=...)
    review = service.review(spec, progress=print_step, time_limit=300)

A caller learns how far the work is through `progress(step, done, total)` (steps: fetching,
applying, parsing, checking) and stops it with a time limit or a `threading.Event`; what goes
wrong arrives as one of the typed errors of reviewbot.errors. Nothing here changes
process-wide state per call, so threads of a server can review side by side.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from reviewbot.errors import Cancelled, InputError, TimedOut
from reviewbot.knowledge.config import load_config
from reviewbot.review import Review, review_series
from reviewbot.series import Series
from reviewbot.sources import load_series, lore
from reviewbot.workspace import Workspace, build_workspace

FETCHING, APPLYING, PARSING, CHECKING = "fetching", "applying", "parsing", "checking"

Progress = Callable[[str, int, int], None]  # step, done, total


@dataclass(frozen=True)
class SourceSpec:
    """What to review and how: everything a user can say about a series."""

    inputs: tuple[str, ...]  # a message-id or lore URL, an mbox, a patch directory, patch files, A..B
    tree: str | None = None  # a git tree for whole files; None: hunk-only (a git range has its own)
    base: str | None = None  # the commit to apply the series on (with `tree`)
    hunks_only: bool = False  # only what the hunks show, even with a tree
    revision: int | None = None  # vN of a lore thread or mbox; None: the newest
    msgid: str | None = None  # the thread to take from an mbox holding several
    lore_url: str | None = None  # the public-inbox archive; None: the config's, else lore.kernel.org
    lore_timeout: float | None = None  # seconds for the whole fetch; None: [limits] fetch_seconds
    # the one input is a message-id or lore URL, never a local path or git range (a server
    # taking input from strangers must not read its own files)
    lore_only: bool = False
    # review the patches of an incomplete revision that are there (a list watcher that waited
    # long enough for the rest), instead of refusing it (lore_only inputs)
    partial: bool = False


@dataclass(frozen=True)
class Limits:
    """How big a thread a caller accepts (a server's defence against a thread made to exhaust
    it): checked once the thread is fetched, before anything is applied or parsed."""

    messages: int | None = None  # cover letter, patches and replies
    bytes: int | None = None  # the text of all of them: bodies, commit messages, diffs


@dataclass(frozen=True)
class Loaded:
    """A series and the versions of its files: what `show` needs, and what a review reads."""

    series: Series
    workspace: Workspace


class Budget:
    """The time limit and cancellation of one call: checked between steps, so that a review
    stops at the next step once its time is up or its caller has given up."""

    def __init__(self, time_limit: float | None = None, cancel: threading.Event | None = None,
                 progress: Progress | None = None):
        self.deadline = None if time_limit is None else time.monotonic() + time_limit
        self.time_limit = time_limit
        self.cancel = cancel
        self.progress = progress

    def remaining(self) -> float | None:
        return None if self.deadline is None else max(self.deadline - time.monotonic(), 0.0)

    def step(self, name: str, done: int = 0, total: int = 0, source: str = "review") -> None:
        """Say how far the work is, then stop it if it has to stop."""
        if self.progress is not None:
            self.progress(name, done, total)
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled(source, "the review was cancelled")
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TimedOut(source, f"the review took longer than its limit of {self.time_limit:g}s "
                                   f"(it was {name})")


def load(spec: SourceSpec, *, progress: Progress | None = None, time_limit: float | None = None,
         cancel: threading.Event | None = None, limits: Limits = Limits()) -> Loaded:
    """The series `spec` names and the versions of its files, without reviewing it."""
    return _load(spec, Budget(time_limit, cancel, progress), limits)


def review(spec: SourceSpec, *, progress: Progress | None = None, time_limit: float | None = None,
           cancel: threading.Event | None = None, limits: Limits = Limits()) -> Review:
    """The review of the series `spec` names: findings per patch, tables and transitions."""
    budget = Budget(time_limit, cancel, progress)
    loaded = _load(spec, budget, limits)
    # the top of the git tree (--tree, or the one a git range came from) holds the config
    config = load_config(loaded.workspace.tree)
    return review_series(loaded.series, loaded.workspace, config,
                         progress=lambda step, done, total: budget.step(step, done, total, _name(spec)))


def _load(spec: SourceSpec, budget: Budget, limits: Limits) -> Loaded:
    source = _name(spec)
    budget.step(FETCHING, 0, 1, source)
    bounds = load_config(spec.tree).limits  # what any input may cost (docs/limits.md)
    timeout = spec.lore_timeout
    remaining = budget.remaining()
    if remaining is not None:  # a fetch never outlives the review's own limit
        timeout = max(min(timeout or remaining, remaining), 0.001)
    if spec.lore_only:
        series = lore.load(" ".join(spec.inputs), lore_url=spec.lore_url, tree=spec.tree,
                           revision=spec.revision, timeout=timeout, limits=bounds,
                           cancel=budget.cancel, partial=spec.partial)
    else:
        series = load_series(list(spec.inputs), tree=spec.tree, lore_url=spec.lore_url,
                             revision=spec.revision, msgid=spec.msgid, lore_timeout=timeout,
                             limits=bounds, cancel=budget.cancel)
    _check_size(series, limits, source)
    budget.step(APPLYING, 0, len(series.patches), source)
    # Only a git range brings its own tree; reviewbot never takes the cwd for a kernel tree.
    workspace = build_workspace(series, tree=spec.tree or series.tree, base=spec.base,
                                hunks_only=spec.hunks_only, limits=bounds)
    budget.step(APPLYING, len(series.patches), len(series.patches), source)
    return Loaded(series, workspace)


def _check_size(series: Series, limits: Limits, source: str) -> None:
    replies = [*series.cover_replies, *(r for p in series.patches for r in p.replies)]
    messages = (1 if series.cover_msgid else 0) + len(series.patches) + len(replies)
    if limits.messages is not None and messages > limits.messages:
        raise InputError(source, f"the thread is too large to review here: {messages} messages "
                                 f"(the limit is {limits.messages})")
    size = sum(len(text.encode("utf-8", "surrogatepass")) for text in [
        series.cover_body, *(r.body for r in replies),
        *(part for p in series.patches for part in (p.message, p.diff))])
    if limits.bytes is not None and size > limits.bytes:
        raise InputError(source, f"the thread is too large to review here: {size} bytes of text "
                                 f"(the limit is {limits.bytes})")


def _name(spec: SourceSpec) -> str:
    return " ".join(spec.inputs) or "review"
