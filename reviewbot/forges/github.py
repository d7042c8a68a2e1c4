"""GitHub, from the environment of GitHub Actions.

On a pull request: one review holding the inline comments on lines of the pull request's diff
(posted in one request, so it is all there or not at all), then one summary comment, found
again by its marker and edited on later runs. On a push: a comment on the commit that
introduced each finding. What is already there (by marker) is never posted again.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from reviewbot.errors import InputError
from reviewbot.forges import (comments, head_lines, markers_in, plan, post_commit_comments,
                              upsert_summary)
from reviewbot.forges.http import Api
from reviewbot.review import Review

API_VERSION = "2022-11-28"
PULL_REQUEST_EVENTS = ("pull_request", "pull_request_target")


@dataclass(frozen=True)
class Context:
    api_url: str
    repository: str  # owner/name
    token: str
    event_name: str
    event: dict
    sha: str

    @classmethod
    def from_environment(cls, environ=os.environ) -> Context:
        missing = [name for name in ("GITHUB_REPOSITORY", "GITHUB_TOKEN", "GITHUB_EVENT_NAME")
                   if not environ.get(name)]
        if missing:
            raise InputError("github", f"{', '.join(missing)} not set (run in GitHub Actions, "
                                       "with the token passed as GITHUB_TOKEN)")
        event = {}
        if environ.get("GITHUB_EVENT_PATH"):
            try:
                with open(environ["GITHUB_EVENT_PATH"], encoding="utf-8") as f:
                    event = json.load(f)
            except (OSError, ValueError) as err:
                raise InputError(environ["GITHUB_EVENT_PATH"], f"unreadable event: {err}") from None
        return cls(environ.get("GITHUB_API_URL", "https://api.github.com"),
                   environ["GITHUB_REPOSITORY"], environ["GITHUB_TOKEN"],
                   environ["GITHUB_EVENT_NAME"], event, environ.get("GITHUB_SHA", ""))

    def api(self) -> Api:
        return Api("github", self.api_url, {"Authorization": f"Bearer {self.token}",
                                            "Accept": "application/vnd.github+json",
                                            "X-GitHub-Api-Version": API_VERSION})


def post(review: Review, context: Context, pr_diff: str, max_inline: int, api: Api) -> list[str]:
    """Post the review; what was done, one line each. `pr_diff`: the pull request's diff
    (base...head), on which inline comments must sit."""
    if context.event_name in PULL_REQUEST_EVENTS:
        pull = context.event.get("pull_request") or {}
        if "number" not in pull:
            raise InputError("github", f"the {context.event_name} event names no pull request")
        return _post_pull_request(review, context, pull, pr_diff, max_inline, api)
    if context.event_name == "push":
        return post_commit_comments(review, max_inline, api, CommitComments(context.repository))
    raise InputError("github", f"event {context.event_name!r} is neither a pull request nor a push")


def _post_pull_request(review, context, pull, pr_diff, max_inline, api) -> list[str]:
    repo, number = context.repository, pull["number"]
    placeable, at_head, _lines = head_lines(review, pr_diff)
    planned = plan(comments(review), placeable, max_inline)
    done = []
    posted = markers_in(c["body"] for c in api.get_all(f"/repos/{repo}/pulls/{number}/comments"))
    fresh = [c for c in planned.inline if c.key not in posted]
    if fresh:
        payload = {"commit_id": pull.get("head", {}).get("sha") or context.sha, "event": "COMMENT",
                   "body": f"reviewbot: {len(fresh)} inline comment(s); the summary is below.",
                   "comments": [{"path": at_head(c)[0], "line": at_head(c)[1], "side": "RIGHT",
                                 "body": c.body()} for c in fresh]}
        api.call("POST", f"/repos/{repo}/pulls/{number}/reviews", payload)
        done.append(f"github: review with {len(fresh)} inline comment(s) on pull request #{number}")
    done.append(upsert_summary(review, planned, api, f"/repos/{repo}/issues/{number}/comments",
                               lambda note: ("PATCH", f"/repos/{repo}/issues/comments/{note}")))
    return done


class CommitComments:
    """GitHub's comments on a commit, on a line of its diff (`position`)."""

    name = "github"

    def __init__(self, repository: str):
        self.path = f"/repos/{repository}/commits/{{sha}}/comments"

    def existing(self, api: Api, sha: str) -> list[str]:
        return [c["body"] for c in api.get_all(self.path.format(sha=sha))]

    def payload(self, body: str, path: str | None, spot) -> dict:
        """`spot`: the (diff line, index in the file's diff) a comment sits at, or None."""
        if spot is None:
            return {"body": body}
        _line, position = spot
        return {"body": body, "path": path, "position": position}

    def create(self, api: Api, sha: str, payload: dict) -> None:
        api.call("POST", self.path.format(sha=sha), payload)
