"""Patchwork: one check per patch through its REST API, as the bots maintainers read there do.

A patch is found by its Message-ID (so the series has to be the one sent to the list). Its
check: context `reviewbot`, state fail (a new high or critical finding), warning (other new
findings) or success, a description with the counts, and a link to the review page when a web
base URL is configured. A check already there with the same content is not posted again.
"""

from __future__ import annotations

from urllib.parse import quote

from reviewbot.errors import InputError
from reviewbot.findings import NEW
from reviewbot.forges.http import Api
from reviewbot.report import at_or_above
from reviewbot.review import Review
from reviewbot.series import Patch

CONTEXT = "reviewbot"
TOKEN_VARIABLE = "REVIEWBOT_PATCHWORK_TOKEN"


def api(url: str, token: str) -> Api:
    return Api("patchwork", url, {"Authorization": f"Token {token}"})


def check(review: Review, patch: Patch) -> tuple[str, str]:
    """(state, description) of the patch's check."""
    new = [f for f in review.findings if f.status == NEW and f.patch == patch.number]
    high = sum(at_or_above(f.severity, "high") for f in new)
    fixed = sum(1 for f in review.findings if f.status != NEW and f.patch == patch.number)
    state = "fail" if high else "warning" if new else "success"
    return state, f"{len(new)} new finding(s), {high} high or above; {fixed} fixed"


def review_url(web_url: str | None, review: Review) -> str | None:
    msgid = review.series.cover_msgid or (review.series.patches[0].msgid
                                          if review.series.patches else None)
    if not web_url or not msgid:
        return None
    version = f"?v={review.series.revision}" if review.series.revision > 1 else ""
    return f"{web_url.rstrip('/')}/r/{quote(msgid, safe='@')}{version}"


def post(review: Review, api: Api, project: str | None, web_url: str | None) -> list[str]:
    target = review_url(web_url, review)
    done = []
    for patch in review.series.patches:
        if not patch.msgid:
            raise InputError("patchwork", f"patch {patch.number} has no Message-ID: give the "
                                          "series as sent to the list (a message-id or mbox)")
        query = {"msgid": patch.msgid, **({"project": project} if project else {})}
        found = api.get_all("/patches/", query)
        if not found:
            done.append(f"patchwork: patch {patch.number} <{patch.msgid}> is not in patchwork")
            continue
        patch_id = found[0]["id"]
        state, description = check(review, patch)
        wanted = {"state": state, "context": CONTEXT, "description": description,
                  "target_url": target}
        there = api.get_all(f"/patches/{patch_id}/checks/")
        if any(all(c.get(k) == v for k, v in wanted.items()) for c in there):
            done.append(f"patchwork: patch {patch_id} already has this check ({state})")
            continue
        api.call("POST", f"/patches/{patch_id}/checks/",
                 {k: v for k, v in wanted.items() if v is not None})
        done.append(f"patchwork: check {state} on patch {patch_id}")
    return done
