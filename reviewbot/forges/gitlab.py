"""GitLab, from the environment of GitLab CI.

In a merge request pipeline: one discussion per inline comment on a line of the merge
request's diff, then one summary note, found again by its marker and edited on later runs. On
a branch pipeline: a comment on the commit that introduced each finding. Discussions are posted
one by one, so a run that dies half way leaves some; the next run posts only those missing.
The token (a project or personal access token with the `api` scope) is read from
REVIEWBOT_GITLAB_TOKEN, else GITLAB_TOKEN.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import quote

from reviewbot.errors import InputError
from reviewbot.forges import (comments, diff_patch, head_lines, markers_in, plan,
                              post_commit_comments, upsert_summary)
from reviewbot.forges.http import Api
from reviewbot.review import Review
from reviewbot.workspace import file_paths

TOKEN_VARIABLES = ("REVIEWBOT_GITLAB_TOKEN", "GITLAB_TOKEN")


@dataclass(frozen=True)
class Context:
    api_url: str
    project: str  # the project's id (or url-encoded path)
    token: str
    merge_request: str | None  # its iid, in a merge request pipeline
    sha: str

    @classmethod
    def from_environment(cls, environ=os.environ) -> Context:
        token = next((environ[name] for name in TOKEN_VARIABLES if environ.get(name)), "")
        missing = [name for name in ("CI_API_V4_URL", "CI_PROJECT_ID") if not environ.get(name)]
        if not token:
            missing.append(" or ".join(TOKEN_VARIABLES))
        if missing:
            raise InputError("gitlab", f"{', '.join(missing)} not set (run in GitLab CI, with "
                                       "an access token of `api` scope in a masked variable)")
        return cls(environ["CI_API_V4_URL"], environ["CI_PROJECT_ID"], token,
                   environ.get("CI_MERGE_REQUEST_IID") or None, environ.get("CI_COMMIT_SHA", ""))

    def api(self) -> Api:
        return Api("gitlab", self.api_url, {"PRIVATE-TOKEN": self.token})


def post(review: Review, context: Context, mr_diff: str, max_inline: int, api: Api) -> list[str]:
    project = f"/projects/{quote(context.project, safe='')}"
    if context.merge_request is None:
        return post_commit_comments(review, max_inline, api, CommitComments(project))
    mr = f"{project}/merge_requests/{context.merge_request}"
    refs = api.call("GET", mr)["diff_refs"]
    placeable, at_head, lines = head_lines(review, mr_diff)
    old_paths = {new: old for new, old in (reversed(file_paths(pf))
                                           for pf in diff_patch(mr_diff).patchset)}
    planned = plan(comments(review), placeable, max_inline)
    posted = markers_in(note["body"] for discussion in api.get_all(f"{mr}/discussions")
                        for note in discussion["notes"])
    count = 0
    for comment in planned.inline:
        if comment.key in posted:
            continue
        path, line = at_head(comment)
        spot = lines.lines[lines.index_of(path, line)]
        position = {"position_type": "text", "base_sha": refs["base_sha"],
                    "start_sha": refs["start_sha"], "head_sha": refs["head_sha"],
                    "new_path": path, "old_path": old_paths.get(path) or path, "new_line": line}
        if spot.old_line is not None:  # a context line: GitLab wants both sides
            position["old_line"] = spot.old_line
        api.call("POST", f"{mr}/discussions", {"body": comment.body(), "position": position})
        count += 1
    done = [f"gitlab: {count} discussion(s) on merge request !{context.merge_request}"]
    done.append(upsert_summary(review, planned, api, f"{mr}/notes",
                               lambda note: ("PUT", f"{mr}/notes/{note}")))
    return done


class CommitComments:
    """GitLab's comments on a commit, on a line of the file after it (`line_type` new)."""

    name = "gitlab"

    def __init__(self, project: str):
        self.path = f"{project}/repository/commits/{{sha}}/comments"

    def existing(self, api: Api, sha: str) -> list[str]:
        return [c["note"] for c in api.get_all(self.path.format(sha=sha))]

    def payload(self, body: str, path: str | None, spot) -> dict:
        if spot is None:
            return {"note": body}
        line, _position = spot
        return {"note": body, "path": path, "line": line.new_line, "line_type": "new"}

    def create(self, api: Api, sha: str, payload: dict) -> None:
        api.call("POST", self.path.format(sha=sha), payload)
