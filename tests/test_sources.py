"""Series sources: lore (through the fake lore), mbox, patch files, git ranges, and their errors."""

from __future__ import annotations

import gzip
import mailbox
import socket
import subprocess
import threading
import time
import urllib.parse
from email.message import EmailMessage

import b4
import pytest
from conftest import FIXTURES, SEED_COVER, SEED_MBOX
from fakelore import FakeLore
from fixture_repo import SERIES, make_minifs_repo

from reviewbot.errors import InputError, NotFound, TimedOut, Unavailable
from reviewbot.sources import load_series
from reviewbot.sources.lore import message_id

SEED_PATCHES = [f"20240407155758.575216-{n}-amir73il@gmail.com" for n in (2, 3, 4)]
SEED_SUBJECTS = [
    "fuse: fix wrong ff->iomode state changes from parallel dio write",
    "fuse: fix parallel dio write on file open in passthrough mode",
    "fuse: prepare for long lived reference on backing file",
]
# The six review replies, oldest first: each answers the one before, the first answers 1/3.
SEED_REPLIES = [
    "CAJfpegs+Uc=hrE508Wkif6BbYOMTp3wjQwrbo==FkL2r6sr0Uw@mail.gmail.com",
    "CAOQ4uxgFBqfpU=w6qBvHCWXYzrfG6VXtxi_wMaJTtjnDAmZs3Q@mail.gmail.com",
    "CAJfpegtFB8k+_Bq+NB9ykewrNZ-j5vdZJ9WaBZ_P2m-_8sZ5EQ@mail.gmail.com",
    "CAOQ4uxjtDAuMezRXCiVpBPoTXt6d5G0TWJxb=3QVCvp1+VN59w@mail.gmail.com",
    "CAOQ4uxi4Sm7X6bJ44tpkZBhKm-XHGFW-EuYZHcNKMp59E+ybTg@mail.gmail.com",
    "CAJfpegue9QByOVKy1aehh8oanK4BuDBEvksdtjA0-x7t+X1thA@mail.gmail.com",
]
MINIFS_COVER = b4.LoreMessage.get_clean_msgid(
    b4.get_msgs_from_mailbox_or_maildir(str(SERIES / "0000-cover-letter.patch"))[0])
MINIFS_SUBJECTS = [
    "minifs: rename cached io start/end to open/release",
    "minifs: show inode io modes in debugfs",
    "minifs: keep a long lived backing file reference",
]


@pytest.fixture
def fake_lore():
    with FakeLore([SEED_MBOX]) as lore:
        yield lore


@pytest.fixture
def repo(tmp_path):
    return make_minifs_repo(tmp_path / "repo")


def seed_messages() -> list[EmailMessage]:
    return b4.get_msgs_from_mailbox_or_maildir(str(SEED_MBOX))


def by_msgid(messages: list[EmailMessage]) -> dict[str, EmailMessage]:
    return {b4.LoreMessage.get_clean_msgid(msg): msg for msg in messages}


def write_mbox(path, messages: list[EmailMessage]) -> str:
    box = mailbox.mbox(str(path))
    for msg in messages:
        box.add(msg)
    box.close()
    return str(path)


def set_header(msg: EmailMessage, name: str, value: str) -> None:
    del msg[name]
    msg[name] = value


def problem(inputs: list[str], kind=InputError, **kwargs) -> tuple[str, str]:
    """(source, problem) of the error loading `inputs` raises, which must be a `kind`."""
    with pytest.raises(kind) as caught:
        load_series(inputs, **kwargs)
    return caught.value.source, caught.value.problem


def git(repo, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, text=True,
                          capture_output=True).stdout.strip()


# ---- mbox ----

def test_seed_mbox_gives_the_series_with_replies_under_the_patch_they_answer():
    series = load_series([str(SEED_MBOX)])
    assert series.source == str(SEED_MBOX)
    assert series.subject == "FUSE passthrough fixes"
    assert series.revision == 1
    assert series.cover_msgid == SEED_COVER
    assert series.author == "Amir Goldstein <amir73il@gmail.com>"
    assert series.date == "2024-04-07 18:57:55 +0300"
    assert series.base_commit is None and series.change_id is None
    assert [p.subject for p in series.patches] == SEED_SUBJECTS
    assert [(p.number, p.total) for p in series.patches] == [(1, 3), (2, 3), (3, 3)]
    assert [p.msgid for p in series.patches] == SEED_PATCHES
    assert [r.msgid for r in series.patches[0].replies] == SEED_REPLIES
    assert [len(p.replies) for p in series.patches[1:]] == [0, 0]
    assert series.cover_replies == []
    first = series.patches[0].replies[0]
    assert (first.author, first.date, first.first_line) == (
        "Miklos Szeredi <miklos@szeredi.hu>", "2024-04-09 15:33:21 +0200", "Okay.")
    assert first.in_reply_to == SEED_PATCHES[0]


def test_seed_patch_carries_its_message_trailers_and_diff():
    patch = load_series([str(SEED_MBOX)]).patches[0]
    assert patch.author == "Amir Goldstein <amir73il@gmail.com>"
    assert patch.date == "2024-04-07 18:57:56 +0300"
    assert patch.trailers == [
        ("Fixes", '205c1d802683 ("fuse: allow parallel dio writes with FUSE_DIRECT_IO_ALLOW_MMAP")'),
        ("Signed-off-by", "Amir Goldstein <amir73il@gmail.com>"),
    ]
    assert patch.message.startswith("There is a confusion with fuse_file_uncached_io_{start,end}")
    assert patch.message.endswith("Signed-off-by: Amir Goldstein <amir73il@gmail.com>")
    assert patch.files == ["fs/fuse/file.c", "fs/fuse/fuse_i.h", "fs/fuse/inode.c",
                           "fs/fuse/iomode.c"]
    assert [(f.added, f.removed) for f in patch.patchset] == [(11, 7), (4, 3), (1, 0), (40, 19)]
    assert patch.commit is None
    assert patch.recipients == [
        "Miklos Szeredi <miklos@szeredi.hu>", "Bernd Schubert <bernd.schubert@fastmail.fm>",
        "Sweet Tea Dorminy <sweettea-kernel@dorminy.me>", "linux-fsdevel@vger.kernel.org"]


def test_reply_whose_parent_is_missing_is_placed_by_its_references(tmp_path):
    messages = by_msgid(seed_messages())
    reply = messages[SEED_REPLIES[0]]
    set_header(reply, "In-Reply-To", "<not-in-this-thread@example.com>")
    set_header(reply, "References", f"<{SEED_COVER}> <{SEED_PATCHES[2]}> "
                                    "<not-in-this-thread@example.com>")
    series = load_series([write_mbox(tmp_path / "t.mbox", list(messages.values()))])
    assert [r.msgid for r in series.patches[2].replies] == [SEED_REPLIES[0]]
    # the later replies still reach 1/3 up their In-Reply-To chain
    assert [r.msgid for r in series.patches[0].replies] == SEED_REPLIES[1:]


def test_reply_to_the_cover_letter_goes_under_the_cover(tmp_path):
    messages = by_msgid(seed_messages())
    set_header(messages[SEED_REPLIES[-1]], "In-Reply-To", f"<{SEED_COVER}>")
    set_header(messages[SEED_REPLIES[-1]], "References", f"<{SEED_COVER}>")
    series = load_series([write_mbox(tmp_path / "t.mbox", list(messages.values()))])
    assert [r.msgid for r in series.cover_replies] == [SEED_REPLIES[-1]]
    assert [r.msgid for r in series.patches[0].replies] == SEED_REPLIES[:-1]


def with_v2(messages: list[EmailMessage]) -> list[EmailMessage]:
    """The thread plus a v2 of the series sent in reply to the v1 cover letter, a week later."""
    resent = seed_messages()[:4]  # fresh copies of the cover letter and the three patches
    for msg in resent:
        msgid = b4.LoreMessage.get_clean_msgid(msg)
        set_header(msg, "Subject", msg["Subject"].replace("[PATCH ", "[PATCH v2 "))
        set_header(msg, "Message-Id", f"<v2-{msgid}>")
        set_header(msg, "Date", msg["Date"].replace("7 Apr", "14 Apr"))
        set_header(msg, "In-Reply-To", f"<{SEED_COVER}>" if msgid == SEED_COVER
                   else f"<v2-{SEED_COVER}>")
        set_header(msg, "References", f"<{SEED_COVER}>")
    return messages + resent


def test_newest_revision_unless_one_is_asked_for(tmp_path):
    path = write_mbox(tmp_path / "t.mbox", with_v2(seed_messages()))
    newest = load_series([path])
    assert newest.revision == 2
    assert [p.msgid for p in newest.patches] == [f"v2-{m}" for m in SEED_PATCHES]
    assert [len(p.replies) for p in newest.patches] == [0, 0, 0]  # they answer v1
    first = load_series([path], revision=1)
    assert first.revision == 1
    assert [p.msgid for p in first.patches] == SEED_PATCHES
    assert [r.msgid for r in first.patches[0].replies] == SEED_REPLIES
    assert problem([path], revision=3) == (path, "no v3 in this thread (it has v1, v2)")


def test_mbox_with_several_threads_needs_msgid(tmp_path):
    minifs = [msg for p in sorted(SERIES.glob("*.patch"))
              for msg in b4.get_msgs_from_mailbox_or_maildir(str(p))]
    path = write_mbox(tmp_path / "two.mbox", seed_messages() + minifs)
    assert problem([path]) == (path, (
        f"2 threads in it, pick one with --msgid: <{SEED_COVER}> [PATCH 0/3] FUSE passthrough "
        f"fixes; <{MINIFS_COVER}> [PATCH 0/3] minifs: io mode cleanups and a long lived "
        "backing file"))
    assert [p.subject for p in load_series([path], msgid=f"<{MINIFS_COVER}>").patches] \
        == MINIFS_SUBJECTS
    # any message of a thread picks that thread
    assert load_series([path], msgid=SEED_REPLIES[3]).cover_msgid == SEED_COVER
    assert problem([path], msgid="nowhere@example.com") == (
        path, "no message <nowhere@example.com> in it")


def test_mbox_without_message_ids_is_patches_in_file_order(tmp_path, repo):
    path = tmp_path / "series.mbox"
    path.write_text(git(repo.path, "format-patch", "--stdout", "base..topic") + "\n")
    series = load_series([str(path)])
    assert [p.subject for p in series.patches] == MINIFS_SUBJECTS
    assert [p.msgid for p in series.patches] == [None, None, None]
    assert series.cover_msgid is None


def test_maildir(tmp_path):
    box = mailbox.Maildir(str(tmp_path / "thread"))
    for msg in seed_messages():
        box.add(msg)
    series = load_series([str(tmp_path / "thread")])
    assert [p.msgid for p in series.patches] == SEED_PATCHES
    assert [r.msgid for r in series.patches[0].replies] == SEED_REPLIES


def test_incomplete_series_is_an_error(tmp_path):
    messages = [m for m in seed_messages()
                if b4.LoreMessage.get_clean_msgid(m) != SEED_PATCHES[1]]
    path = write_mbox(tmp_path / "t.mbox", messages)
    assert problem([path]) == (path, "v1 is incomplete: patch 2 of 3 is not in this thread")


# ---- patch files ----

def test_patch_directory(repo):
    series = load_series([str(SERIES)])
    assert series.source == str(SERIES)
    assert series.subject == "minifs: io mode cleanups and a long lived backing file"
    assert series.cover_msgid == MINIFS_COVER
    assert series.base_commit == repo.base  # the base-commit: line of the cover letter
    assert [p.subject for p in series.patches] == MINIFS_SUBJECTS
    assert [(p.number, p.total) for p in series.patches] == [(1, 3), (2, 3), (3, 3)]
    assert [p.files for p in series.patches] == [
        ["file.c", "iomode.c", "minifs.h"], ["Makefile", "debugfs.c", "minifs.h"],
        ["file.c", "inode.c", "iomode.c", "minifs.h"]]
    assert series.patches[1].author == "reviewbot fixtures <fixtures@reviewbot.invalid>"
    assert series.patches[1].date == "2026-01-06 10:02:00 +0000"


def test_patch_files_are_ordered_by_their_counters():
    paths = sorted(str(p) for p in SERIES.glob("000[123]-*.patch"))
    series = load_series(list(reversed(paths)))
    assert [p.subject for p in series.patches] == MINIFS_SUBJECTS
    assert series.cover_msgid is None


def test_one_patch_file_is_a_series_of_one():
    path = str(next(SERIES.glob("0002-*.patch")))
    series = load_series([path])
    assert [(p.number, p.total, p.subject) for p in series.patches] == [
        (1, 1, "minifs: show inode io modes in debugfs")]
    assert series.subject == "minifs: show inode io modes in debugfs"


def test_unnumbered_patch_files_keep_the_order_given(tmp_path, repo):
    out = tmp_path / "out"
    git(repo.path, "format-patch", "-q", "--no-numbered", "-o", str(out), "base..topic")
    paths = sorted(str(p) for p in out.iterdir())
    series = load_series([paths[2], paths[0], paths[1]])
    assert [p.subject for p in series.patches] == [MINIFS_SUBJECTS[i] for i in (2, 0, 1)]
    assert [p.number for p in series.patches] == [1, 2, 3]


# ---- git range ----

def test_git_range(repo):
    series = load_series(["base..topic"], tree=str(repo.path))
    commits = git(repo.path, "rev-list", "--reverse", "base..topic").split()
    assert [p.commit for p in series.patches] == commits
    assert [p.subject for p in series.patches] == MINIFS_SUBJECTS
    assert series.base_commit == repo.base
    assert series.tree == str(repo.path)
    assert series.patches[0].files == ["file.c", "iomode.c", "minifs.h"]


def test_git_range_defaults_to_the_current_directory(repo, monkeypatch):
    monkeypatch.chdir(repo.path)
    series = load_series(["base.."])
    assert series.tree == str(repo.path)
    assert series.patches[-1].commit == repo.topic


def test_git_range_leaves_out_commits_that_change_nothing(repo):
    me = ["-c", "user.name=A U Thor", "-c", "user.email=author@example.com"]
    git(repo.path, "checkout", "-q", "-b", "prep", "base")
    git(repo.path, *me, "commit", "-q", "--allow-empty", "-m", "cover: the series, as b4 prep keeps it")
    git(repo.path, *me, "cherry-pick", "base..topic")
    git(repo.path, *me, "commit", "-q", "--allow-empty", "-m", "marker: nothing changed")
    series = load_series(["base..prep"], tree=str(repo.path))
    assert [p.subject for p in series.patches] == MINIFS_SUBJECTS
    assert series.base_commit == git(repo.path, "rev-parse", "prep~4")  # the cover commit
    assert problem(["prep~1..prep"], tree=str(repo.path)) == (
        "prep~1..prep", "no commit in this range changes anything")


# ---- lore ----

def test_lore_by_message_id(fake_lore):
    series = load_series([SEED_COVER], lore_url=fake_lore.url)
    assert series.source == SEED_COVER
    assert [p.msgid for p in series.patches] == SEED_PATCHES
    assert [r.msgid for r in series.patches[0].replies] == SEED_REPLIES
    assert fake_lore.requests == [
        ("GET", f"/all/{urllib.parse.quote_plus(SEED_COVER)}/t.mbox.gz")]


@pytest.mark.parametrize("text", [
    f"<{SEED_REPLIES[2]}>",
    f"https://lore.kernel.org/linux-fsdevel/{SEED_PATCHES[0]}/",
    f"https://lore.kernel.org/all/{SEED_COVER}/T/#u",
    f"https://lore.kernel.org/linux-fsdevel/{SEED_REPLIES[2]}/raw",
])
def test_lore_by_bracketed_id_or_pasted_url(fake_lore, text):
    series = load_series([text], lore_url=fake_lore.url)
    assert [p.msgid for p in series.patches] == SEED_PATCHES
    assert [r.msgid for r in series.patches[0].replies] == SEED_REPLIES
    assert len(fake_lore.requests) == 1  # the configured archive, not the URL's host


@pytest.mark.parametrize("text, msgid", [
    ("<a.b@example.com>", "a.b@example.com"),
    (" a.b@example.com ", "a.b@example.com"),
    ("https://lore.kernel.org/r/a.b@example.com", "a.b@example.com"),
    ("https://lore.kernel.org/linux-fsdevel/a%2Bb%3Dc@example.com/t.mbox.gz", "a+b=c@example.com"),
])
def test_message_id_from_input(text, msgid):
    assert message_id(text) == msgid


def test_lore_url_from_environment(fake_lore, monkeypatch):
    monkeypatch.setenv("REVIEWBOT_LORE_URL", fake_lore.url + "/")
    assert load_series([SEED_COVER]).cover_msgid == SEED_COVER
    assert len(fake_lore.requests) == 1


def test_lore_url_from_config_file(fake_lore, isolated_home):
    config = isolated_home / ".config" / "reviewbot" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'lore_url = "{fake_lore.url}"\n')
    assert load_series([SEED_COVER]).cover_msgid == SEED_COVER
    assert len(fake_lore.requests) == 1


def test_command_line_lore_url_wins_over_environment(fake_lore, monkeypatch):
    monkeypatch.setenv("REVIEWBOT_LORE_URL", "http://127.0.0.1:9/all")
    assert load_series([SEED_COVER], lore_url=fake_lore.url).cover_msgid == SEED_COVER


# ---- errors: one InputError naming the input and the problem ----

def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_missing_file(tmp_path):
    path = str(tmp_path / "nothing.mbox")
    assert problem([path], NotFound) == (path, "no such file or directory")
    assert not (tmp_path / "nothing.mbox").exists()


def test_garbage_mbox(tmp_path):
    path = tmp_path / "garbage.mbox"
    path.write_bytes(bytes(range(256)) * 8)
    assert problem([str(path)]) == (
        str(path), "no mail messages in it (not an mbox or a git format-patch file)")


def test_mbox_without_patches(tmp_path):
    replies = [by_msgid(seed_messages())[msgid] for msgid in SEED_REPLIES]
    path = write_mbox(tmp_path / "talk.mbox", replies)
    assert problem([path]) == (path, "no patches in this thread")


def test_directory_without_patches(tmp_path):
    assert problem([str(tmp_path)]) == (
        str(tmp_path), "no patch files (.patch, .diff) in this directory")


def test_patch_file_without_a_diff(tmp_path):
    path = tmp_path / "0001-talk.patch"
    path.write_bytes(by_msgid(seed_messages())[SEED_REPLIES[0]].as_bytes())
    assert problem([str(path)]) == (str(path), "not a patch: no diff in it")


def test_mail_saved_without_mbox_line_is_read(tmp_path):
    msg = by_msgid(seed_messages())[SEED_PATCHES[1]]
    set_header(msg, "Subject", f"[PATCH] {SEED_SUBJECTS[1]}")
    path = tmp_path / "patch.eml"
    path.write_bytes(msg.as_bytes())
    assert [p.subject for p in load_series([str(path)]).patches] == [SEED_SUBJECTS[1]]


BAD_FROM = b"From: =?utf-8?b?!!!?= <<<@@>"  # makes Python's email package raise IndexError


def test_mbox_with_a_header_python_cannot_parse(tmp_path):
    path = tmp_path / "bad-from.mbox"
    path.write_bytes(SEED_MBOX.read_bytes().replace(b"From: Amir Goldstein <amir73il@gmail.com>",
                                                    BAD_FROM, 1))
    assert problem([str(path)]) == (str(path), "a mail has a header that cannot be read: "
                                               "From: =?utf-8?b?!!!?= <<<@@>")


def test_lore_thread_with_a_header_python_cannot_parse(tmp_path):
    path = tmp_path / "bad-from.mbox"
    path.write_bytes(SEED_MBOX.read_bytes().replace(b"From: Miklos Szeredi <miklos@szeredi.hu>",
                                                    BAD_FROM, 1))
    with FakeLore([path]) as lore:
        assert problem([SEED_COVER], lore_url=lore.url) == (
            SEED_COVER, "a mail has a header that cannot be read: From: =?utf-8?b?!!!?= <<<@@>")


def test_unknown_message_id(fake_lore):
    assert problem(["nobody@example.com"], NotFound, lore_url=fake_lore.url) == (
        "nobody@example.com", f"no such message on {fake_lore.url} (check the message-id, or --lore-url)")


def test_lore_unreachable():
    url = f"http://127.0.0.1:{closed_port()}/all"
    assert problem([SEED_COVER], Unavailable, lore_url=url, lore_timeout=2) == (
        SEED_COVER, f"cannot reach {url}: Connection refused (check --lore-url and the network)")


def test_lore_too_slow():
    with FakeLore([SEED_MBOX], delay=60) as lore:
        assert problem([SEED_COVER], TimedOut, lore_url=lore.url, lore_timeout=0.2) == (
            SEED_COVER, f"{lore.url} did not send the thread within 0.2s (try again later, or a longer "
                        "--lore-timeout)")


def test_a_stalled_name_lookup_is_cut_at_the_deadline_and_a_name_is_kept_for_the_server(
        monkeypatch):
    real_getaddrinfo = socket.getaddrinfo
    answer = threading.Event()

    def getaddrinfo(host, *args, **kwargs):  # names under .test are this machine's
        if host == "stalled.test":
            answer.wait(30)  # a name server that does not answer
        return real_getaddrinfo("127.0.0.1" if host.endswith(".test") else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with FakeLore([SEED_MBOX]) as lore:
        stalled = lore.url.replace("127.0.0.1", "stalled.test")
        started = time.monotonic()
        try:
            assert problem([SEED_COVER], TimedOut, lore_url=stalled, lore_timeout=0.3) == (
                SEED_COVER, f"{stalled} did not send the thread within 0.3s (try again later, "
                            "or a longer --lore-timeout)")
            assert time.monotonic() - started < 1.3
        finally:
            answer.set()
        assert lore.requests == []
        named = lore.url.replace("127.0.0.1", "archive.test")
        assert load_series([SEED_COVER], lore_url=named, lore_timeout=10).cover_msgid == SEED_COVER
        port = named.split(":")[2].split("/")[0]
        assert lore.hosts and set(lore.hosts) == {f"archive.test:{port}"}


def test_a_server_whose_every_address_hangs_is_given_up_at_the_deadline(monkeypatch):
    """Each address's connect gets what is left of the deadline, not the time left when the
    request began: three addresses that never answer take one deadline, not three."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    waiting = []  # a full accept queue: the kernel drops further connects' SYNs, they hang
    for _ in range(4):
        client = socket.socket()
        client.setblocking(False)
        client.connect_ex(("127.0.0.1", port))
        waiting.append(client)
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host == "hanging.test":  # three addresses, each 127.0.0.1 written another way
            found = real_getaddrinfo("127.0.0.1", *args, **kwargs)[0]
            return [(*found[:4], (spelling, port))
                    for spelling in ("127.0.0.1", "2130706433", "0x7f000001")]
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    url = f"http://hanging.test:{port}/all"
    started = time.monotonic()
    try:
        assert problem([SEED_COVER], TimedOut, lore_url=url, lore_timeout=0.5) == (
            SEED_COVER, f"{url} did not send the thread within 0.5s (try again later, "
                        "or a longer --lore-timeout)")
        assert time.monotonic() - started < 1.2  # three full waits would take 1.5 s
    finally:
        for client in waiting:
            client.close()
        listener.close()


def test_a_server_reached_by_its_resolved_address_is_still_verified_by_its_name(
        monkeypatch, tmp_path):
    """TLS: the certificate is checked against the name asked for, never the address."""
    import http.server
    import ssl

    import requests

    from reviewbot.limits import Limits
    from reviewbot.sources.fetch import BoundedSession

    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=archive.test", "-addext", "subjectAltName=DNS:archive.test",
                    "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
                   check=True, capture_output=True)
    real_getaddrinfo = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *args, **kwargs: real_getaddrinfo(
        "127.0.0.1" if host.endswith(".test") else host, *args, **kwargs))

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        with BoundedSession(Limits(), "archive.test", "x", seconds=10) as session:
            answer = session.get(f"https://archive.test:{port}/", verify=str(tmp_path / "cert.pem"))
            assert answer.status_code == 200 and answer.content == b"ok"
        with BoundedSession(Limits(), "other.test", "x", seconds=10) as session:
            with pytest.raises(requests.exceptions.SSLError, match="other.test"):
                session.get(f"https://other.test:{port}/", verify=str(tmp_path / "cert.pem"))
    finally:
        server.shutdown()
        server.server_close()


class GarbledLore(FakeLore):
    """A fake lore that answers a known thread with `answer` instead of its gzipped mbox."""

    def __init__(self, answer: bytes):
        super().__init__([SEED_MBOX])
        self.answer = answer

    def lookup(self, path: str) -> tuple[int, bytes]:
        status, body = super().lookup(path)
        return (status, self.answer if status == 200 else body)


def corrupted(data: bytes) -> bytes:
    """`data` with its deflate stream scrambled after the gzip header."""
    return data[:20] + bytes(b ^ 0x55 for b in data[20:60]) + data[60:]


@pytest.mark.parametrize("answer, problem_text", [
    (b"<html>a web page</html>\n",
     "is not a public-inbox archive: its answer is not a gzipped mbox (check --lore-url)"),
    (gzip.compress(SEED_MBOX.read_bytes())[:500], "sent a broken gzipped mbox (try again later)"),
    (corrupted(gzip.compress(SEED_MBOX.read_bytes())),
     "sent a broken gzipped mbox (try again later)"),
])
def test_lore_answer_that_is_not_a_gzipped_mbox(answer, problem_text):
    with GarbledLore(answer) as lore:
        assert problem([SEED_COVER], Unavailable, lore_url=lore.url) == (
            SEED_COVER, f"{lore.url} {problem_text}")


def test_lore_url_must_be_http():
    assert problem([SEED_COVER], lore_url="lore.kernel.org") == (
        "lore.kernel.org", "lore URL is not an http(s) URL")


@pytest.mark.parametrize("url, problem_text", [
    ("http://[::1", "not a valid URL: Invalid IPv6 URL"),
    ("http://exa mple.com/all",
     "not a valid URL: Failed to parse: Host 'exa mple.com' contains invalid character ' '"),
    ("http://127.0.0.1:port/all",
     "not a valid URL: Failed to parse: '127.0.0.1:port' is not a valid host or port"),
    (f"https://{'a' * 64}.org/all",
     f"not a valid host name: {'a' * 64}.org has an empty label or one longer than 63 characters"),
    ("https://lore..org/all", "not a valid host name: lore..org has an empty label or one longer than 63 characters"),
])
def test_lore_url_that_cannot_be_fetched_from(url, problem_text):
    assert problem([SEED_COVER], lore_url=url) == (url, problem_text)


@pytest.mark.parametrize("text", [
    "<foo bar@example.com>",
    "https://lore.kernel.org/all/foo%20bar@example.com/",
    "foo\x01bar@example.com",
])
def test_message_id_with_spaces_or_control_characters(fake_lore, text):
    assert problem([text], lore_url=fake_lore.url) == (
        text.strip(), "not a message-id: it has spaces or control characters in it")
    assert fake_lore.requests == []  # rejected before asking the archive


def test_pasted_url_that_is_not_a_url():
    assert problem(["https://[lore/a@b/"]) == ("https://[lore/a@b/", "not a valid URL: Invalid IPv6 URL")


def test_url_without_message_id():
    url = "https://lore.kernel.org/linux-fsdevel/"
    assert problem([url]) == (url, "no message-id in this URL")


def test_not_a_git_repository(tmp_path):
    assert problem(["base..topic"], tree=str(tmp_path)) == (str(tmp_path), "not a git repository")


def test_tree_that_is_not_a_directory(tmp_path, repo):
    missing, file = str(tmp_path / "missing"), str(repo.path / "file.c")
    assert problem(["base..topic"], tree=missing) == (missing, "no such directory")
    assert problem(["base..topic"], tree=file) == (file, "not a directory")


def test_empty_range(repo):
    assert problem(["topic..base"], tree=str(repo.path)) == (
        "topic..base", "empty range: no commits in it")


def test_unknown_revision_in_range(repo):
    assert problem(["base..nosuch"], tree=str(repo.path)) == (
        "base..nosuch", f"unknown revision 'nosuch' in {repo.path}")


def test_several_inputs_must_be_files(tmp_path):
    path = str(next(SERIES.glob("0001-*.patch")))
    assert problem([path, str(FIXTURES / "nothing.patch")]) == (
        str(FIXTURES / "nothing.patch"), "not a file: several inputs must all be patch files")
