"""The one HTTP client of the forge modules: JSON in and out, pages followed, retries with
backoff, and errors that say what was refused without ever showing the token.

Retried: connection failures, 429, 5xx and a 403 that is a rate limit (GitHub's
`X-RateLimit-Remaining: 0` or a "rate limit" message), waiting as long as `Retry-After` (or
`X-RateLimit-Reset`) says. Refused (401, 403, other 4xx): one line, exit 2.
"""

from __future__ import annotations

import time

import requests

from reviewbot.errors import ReviewbotError, Unavailable

ATTEMPTS = 5
FIRST_BACKOFF = 1.0  # seconds; doubled on each retry
MAX_WAIT = 300.0  # seconds: a server asking for longer than this is given up on
TIMEOUT = 30.0


class Refused(ReviewbotError):
    """The server understood and said no: a bad token, a missing permission, a bad request."""

    http_status = 502
    kind = "refused"


class Api:
    """Requests to one server, `name` (github, gitlab, patchwork) in messages. `headers` holds
    the token; it goes into requests and nowhere else."""

    def __init__(self, name: str, base_url: str, headers: dict[str, str], sleep=time.sleep):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers.update({"Accept": "application/json",
                                     "User-Agent": "reviewbot-ci", **headers})
        self.sleep = sleep

    def call(self, method: str, path: str, payload: dict | None = None,
             params: dict | None = None):
        """The JSON answer (None when there is no body)."""
        answer = self._send(method, self._url(path), payload, params)
        return answer.json() if answer.content else None

    def get_all(self, path: str, params: dict | None = None) -> list:
        """Every item of a listing, page by page (the Link header's `next`)."""
        items, url = [], self._url(path)
        params = {"per_page": 100, **(params or {})}
        while url:
            answer = self._send("GET", url, None, params)
            items.extend(answer.json())
            url, params = answer.links.get("next", {}).get("url"), None
        return items

    def _url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"

    def _send(self, method: str, url: str, payload, params) -> requests.Response:
        what = f"{method} {url.removeprefix(self.base_url) or '/'}"
        backoff = FIRST_BACKOFF
        attempt = 1
        while True:
            try:
                answer = self.session.request(method, url, json=payload, params=params,
                                              timeout=TIMEOUT)
            except requests.RequestException as err:
                if attempt == ATTEMPTS:
                    raise Unavailable(self.name, f"{what}: {type(err).__name__}") from None
                wait = backoff
            else:
                if answer.status_code < 400:
                    return answer
                if not _retryable(answer):
                    raise Refused(self.name, f"{what}: {answer.status_code} {_reason(answer)}")
                wait = _wait(answer, backoff)
                if attempt == ATTEMPTS or wait > MAX_WAIT:
                    raise Unavailable(self.name, f"{what}: {answer.status_code} "
                                                 f"{_reason(answer)}, still after {attempt} "
                                                 "attempt(s)")
            self.sleep(wait)
            backoff *= 2
            attempt += 1


def _retryable(answer: requests.Response) -> bool:
    if answer.status_code == 429 or answer.status_code >= 500:
        return True
    return answer.status_code == 403 and (answer.headers.get("X-RateLimit-Remaining") == "0"
                                          or "rate limit" in answer.text.lower())


def _wait(answer: requests.Response, backoff: float) -> float:
    retry_after = answer.headers.get("Retry-After", "")
    if retry_after.isdigit():
        return float(retry_after)
    reset = answer.headers.get("X-RateLimit-Reset", "")
    if reset.isdigit():
        return max(float(reset) - time.time(), 0.0)
    return backoff


def _reason(answer: requests.Response) -> str:
    """The server's own words, on one line: GitHub and GitLab say `message`, patchwork
    `detail`."""
    try:
        data = answer.json()
    except ValueError:
        data = None
    text = ""
    if isinstance(data, dict):
        text = str(data.get("message") or data.get("detail") or data.get("error") or "")
    text = " ".join((text or answer.reason or "").split())[:200]
    if answer.status_code in (401, 403):
        text += " (check the token and what it may do)"
    return text
