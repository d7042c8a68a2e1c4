"""The list watcher: reading a public-inbox feed, grouping messages into series revisions, and
`reviewbot watch` on a fake lore list with the embedded job pool and SQLite."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from fakelore import FakeLore, atom
from listseries import generate, mail, replies
from reviewbot.watch import FeedError, Message, collect, due, newest, parse_feed, search_since

START = datetime(2026, 1, 6, 10, 0, tzinfo=timezone.utc)


def feed_of(messages) -> list[Message]:
    return sorted(parse_feed(atom("http://127.0.0.1:1", "minifs", messages)), key=lambda m: m.date)


def test_feed_entries_give_message_ids_threading_and_change_id():
    v1, v2 = generate(5, START)[3:5]  # s3v1 and its v2, tied by change-id
    [patch] = feed_of(v2.messages)
    assert patch.msgid == v2.root and patch.subject == "[PATCH v2] minifs: file.c notes 3"
    assert patch.change_id == "20260101-notes-3-0123456789ab"
    assert patch.author == "reviewbot fixtures" and patch.date.endswith("Z")
    s2 = generate(3, START)[2]
    cover, *patches = feed_of(s2.messages)
    assert cover.in_reply_to is None and {p.in_reply_to for p in patches} == {cover.msgid}


@pytest.mark.parametrize("text, problem", [
    (b"<feed", "not XML"),
    (b"<html><body>rate limited</body></html>", "not an Atom feed"),
    (b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>x</title></entry></feed>',
     "no link"),
])
def test_a_feed_that_is_not_public_inbox_atom_is_a_feed_error(text, problem):
    with pytest.raises(FeedError, match=problem):
        parse_feed(text)


def test_series_revisions_complete_incomplete_and_tied_to_their_older_revision():
    series = generate(20, START)
    messages = feed_of([m for s in series for m in s.messages]
                       + replies(series, START + timedelta(hours=1)))
    revisions = {r.root: r for r in collect(messages)}
    assert sorted(revisions) == sorted(s.root for s in series)
    for s in series:
        rev = revisions[s.root]
        assert (rev.revision, rev.expected, rev.complete) == (s.revision, s.expected, s.complete)
        assert rev.received == s.expected - (not s.complete)
        assert rev.replies == (1 if s in series[::3] else 0)
    by_name = {s.name: revisions[s.root] for s in series}
    assert by_name["s3v2"].series_key == by_name["s3v1"].series_key  # by change-id
    assert by_name["s8v2"].series_key == by_name["s8v1"].series_key  # v2 answers v1
    assert len({r.series_key for r in revisions.values()}) == 16  # 20 revisions of 16 series


def test_patches_whose_cover_has_not_arrived_wait_under_it():
    s2 = generate(3, START)[2]
    cover, *patches = s2.messages
    [early] = collect(feed_of(patches))
    assert early.root == s2.root and early.received == 3 and 0 not in early.counters
    [later] = collect(feed_of(s2.messages))
    assert later.root == s2.root and later.subject == "minifs: notes 2"


def test_a_reply_to_a_reply_counts_for_the_series_and_talk_is_no_series():
    s0 = generate(1, START)[0]
    first = mail("r1@x", "Re: [PATCH] minifs: file.c notes 0", "ok", START, s0.root, 0)
    second = mail("r2@x", "Re: [PATCH] minifs: file.c notes 0", "ok", START, "r1@x", 0)
    talk = mail("t@x", "minifs: a question", "why?", START, None, 0)
    [rev] = collect(feed_of([*s0.messages, first, second, talk]))
    assert rev.replies == 2


def test_due_when_complete_or_after_the_wait():
    s7 = generate(8, START)[7]  # incomplete
    [rev] = collect(feed_of(s7.messages))
    assert not rev.complete
    assert not due(rev, first_seen=100.0, now=159.0, wait=60)
    assert due(rev, first_seen=100.0, now=160.0, wait=60)


def test_search_starts_before_the_position_and_the_position_only_moves_on():
    assert search_since("2026-01-06T10:00:00Z") == "dt:20260106095000.."
    assert newest([], "2026-01-06T10:00:00Z") == "2026-01-06T10:00:00Z"
    late = Message("a@x", "s", "a", "2026-01-06T09:00:00Z")
    assert newest([late], "2026-01-06T10:00:00Z") == "2026-01-06T10:00:00Z"


def watch(lore: FakeLore, data, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reviewbot", "watch", "--list", "minifs",
                           "--lore-url", lore.url.removesuffix("/all"), "--data", str(data),
                           "--once", "--wait", "1000", *extra],
                          capture_output=True, text=True, timeout=120)


def test_watch_with_the_embedded_pool_reviews_each_series_once_across_restarts(tmp_path):
    from reviewbot_web.deploy import open_store
    from reviewbot_web.store import REVIEWED

    with FakeLore([]) as lore:
        assert watch(lore, tmp_path).returncode == 0  # follows the list from now on
        series = generate(6, datetime.now(timezone.utc))
        lore.publish("minifs", [m for s in series for m in s.messages])
        lore.feed_failures = 1
        failed = watch(lore, tmp_path)
        assert failed.returncode == 0 and "cannot read the feed of minifs" in failed.stderr
        done = watch(lore, tmp_path, "--log-format", "json")  # what the failed read missed
        assert done.returncode == 0, done.stderr
        logged = [json.loads(line) for line in done.stderr.splitlines()]
        queued = [entry for entry in logged if "queued" in entry["message"]]
        assert len(queued) == len(series) and queued[0]["logger"] == "reviewbot.watch"
        again = watch(lore, tmp_path)
        assert "queued" not in again.stderr
    store = open_store(None, tmp_path)
    rows = store.series("minifs")
    complete = [s for s in series if s.complete]
    assert sorted(row.root for row in rows.values() if row.job) == sorted(s.root for s in complete)
    for s in complete:
        job = store.get(rows[s.root].job)
        assert job.status == REVIEWED and job.runs == 1
    assert store.feed_errors() == 1


def test_forged_reply_loops_and_long_chains_end():
    loop = [mail("a@x", "[PATCH 1/2] x", "", START, "b@x", 0),
            mail("b@x", "[PATCH 2/2] x", "", START, "a@x", 0),
            mail("c@x", "[PATCH v2 0/1] x", "", START, "d@x", 0),
            mail("d@x", "[PATCH v3 0/1] x", "", START, "c@x", 0)]
    revisions = collect(feed_of(loop))
    assert sorted(r.root for r in revisions) == ["a@x", "c@x", "d@x"]
    chain = [mail(f"{n}@x", f"[PATCH {n}/1500] x", "", START, f"{n - 1}@x" if n > 1 else None, 0)
             for n in range(1, 1501)]
    [long] = collect(feed_of(chain))
    assert long.root == "1@x" and long.complete
