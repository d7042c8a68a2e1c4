"""A lore thread as a series source: a message-id (bare or `<id>`) or a pasted lore URL.

The thread is fetched with liblore from the configured public-inbox archive (`--lore-url`,
else the config's `lore_url`, else lore.kernel.org) and taken apart by b4. URLs are turned
into message-ids here, so that b4 never sees a URL (b4 would re-point its archive at the
URL's host).
"""

from __future__ import annotations

import gzip
import threading
import urllib.parse
import zlib
from email.message import EmailMessage

import b4
import liblore
import requests

from reviewbot.errors import InputError, NotFound, TimedOut, Unavailable
from reviewbot.knowledge.config import Config, load_config
from reviewbot.limits import Limits
from reviewbot.series import Series
from reviewbot.sources.fetch import BoundedSession, one_line
from reviewbot.sources.mail import check_headers, series_from_thread, setup_b4

DEFAULT_LORE_URL = "https://lore.kernel.org/all"


def is_lore_input(text: str) -> bool:
    """A URL, a `<message-id>`, or a bare id (it has an @, and no `..`, which would make it a
    git range such as `@{u}..HEAD`)."""
    text = text.strip()
    return "://" in text or text.startswith("<") or ("@" in text and ".." not in text)


def message_id(text: str) -> str:
    """The bare message-id in `<id>`, `id` or a lore URL (.../<list>/<id>/, /T/#u, /raw, ...)."""
    text = text.strip()
    if "://" in text:
        try:
            path = urllib.parse.urlsplit(text).path
        except ValueError as err:  # urllib's complaint, e.g. "Invalid IPv6 URL"
            raise InputError(text, f"not a valid URL: {err}") from None
        msgid = next((segment for segment in map(urllib.parse.unquote, path.split("/"))
                      if "@" in segment), None)
        if msgid is None:
            raise InputError(text, "no message-id in this URL")
    else:
        msgid = text.strip("<>").strip()
        if not msgid:
            raise InputError(text, "empty message-id")
    # RFC 5322 allows neither in a message-id; asking the archive would only answer 404
    if any(char.isspace() or not char.isprintable() for char in msgid):
        raise InputError(text, "not a message-id: it has spaces or control characters in it")
    return msgid


def lore_base(lore_url: str | None, config: Config) -> str:
    """The archive to fetch from, without a trailing slash: `https://lore.kernel.org/all`.

    `lore_url` (from --lore-url) wins; then $REVIEWBOT_LORE_URL, the tree's .reviewbot.toml and
    the user's config file, as reviewbot's config reads them.
    """
    url = lore_url or config.lore_url or DEFAULT_LORE_URL
    base = url.strip().removesuffix("/%s").rstrip("/")
    try:
        parts = urllib.parse.urlsplit(base)
        if parts.scheme in ("http", "https"):
            # requests fetches from it later: let it judge the URL now, before any request
            requests.models.PreparedRequest().prepare_url(base, None)
    except ValueError as err:  # urllib's and requests' complaints are both ValueErrors
        raise InputError(url, f"not a valid URL: {err}") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(url, "lore URL is not an http(s) URL")
    try:
        # what the connection will do with the name; a bad one would fail there as if the
        # archive had answered wrong
        (parts.hostname or "").encode("idna")
    except UnicodeError:
        raise InputError(url, f"not a valid host name: {parts.hostname} has an empty label or "
                              "one longer than 63 characters") from None
    if not parts.path:
        base += "/all"  # the bare host: ask its `all` inbox, as b4 does
    return base


def fetch_thread(msgid: str, base: str, source: str, limits: Limits,
                 timeout: float | None = None,
                 cancel: threading.Event | None = None) -> list[EmailMessage]:
    """The messages of the thread holding `msgid`, as the archive has them, fetched within
    `timeout` seconds (default: [limits] fetch_seconds) and the byte limits."""
    # only this archive: a partial mirror's upstream would be asked outside the session's bounds
    node = liblore.LoreNode.from_git_config(base, follow_upstream=False)
    with BoundedSession(limits, base, source, timeout, cancel) as session:
        node.set_requests_session(session)
        try:
            mbox = node.get_mbox_by_msgid(msgid, nocache=True)
        except liblore.RemoteError as err:
            if err.status_code == 404:
                raise NotFound(source, f"no such message on {base} (check the message-id, "
                                       "or --lore-url)") from None
            if err.status_code is not None:
                raise Unavailable(source, f"{base} answered HTTP {err.status_code} (try again "
                                          "later)") from None
            if isinstance(err.__cause__, requests.Timeout):
                raise TimedOut(source, f"{base} did not answer in time (try again later, or "
                                       "a longer --lore-timeout)") from None
            raise Unavailable(source, f"cannot reach {base}: {_reason(err)} (check "
                                      "--lore-url and the network)") from None
        except gzip.BadGzipFile:
            raise Unavailable(source, f"{base} is not a public-inbox archive: its answer is not "
                                      "a gzipped mbox (check --lore-url)") from None
        except (EOFError, zlib.error):  # cut short, or corrupt
            raise Unavailable(source, f"{base} sent a broken gzipped mbox (try again "
                                      "later)") from None
        finally:
            node.close()
    messages = b4.split_and_dedupe_pi_results(mbox)
    check_headers(messages, source)
    thread = b4.get_strict_thread(messages, msgid)
    if not thread:
        raise NotFound(source, f"{base} sent no thread for this message (is it a public-inbox "
                               "archive? check --lore-url)")
    return thread


def _reason(err: BaseException) -> str:
    """The system's word for why a connection failed (`Connection refused`), found down the
    chain of errors requests and urllib3 wrap it in."""
    seen, todo, deepest = set(), [err], err
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        deepest = current
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        todo += [e for e in (current.__cause__, current.__context__, getattr(current, "reason", None),
                             *current.args) if isinstance(e, BaseException)]
    return one_line(deepest)


def load(text: str, *, lore_url: str | None = None, tree: str | None = None,
         revision: int | None = None, timeout: float | None = None,
         limits: Limits | None = None, cancel: threading.Event | None = None,
         partial: bool = False) -> Series:
    msgid = message_id(text)
    config = load_config(tree)
    base = lore_base(lore_url, config)
    setup_b4(lore_base=base)
    thread = fetch_thread(msgid, base, text, limits or config.limits, timeout, cancel)
    return series_from_thread(thread, text, revision, partial)
