"""The bounds on what hostile input may cost (docs/limits.md): an archive that stalls,
redirects forever, sends too much or a gzip bomb; odd files as inputs; diffs that lie about
their lines. Each ends in one line naming the input and the problem, and exit 2."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import threading
import time
import zlib

import pytest

from conftest import FIXTURES, SEED_COVER, SEED_MBOX
from fakelore import FakeLore
from reviewbot import cli, service
from reviewbot.errors import Cancelled, InputError, NotFound, TimedOut, Unavailable
from reviewbot.limits import Limits
from reviewbot.service import SourceSpec
from reviewbot.sources import load_series
from reviewbot.sources.fetch import unpacked_size


class HostileLore(FakeLore):
    """A fake lore whose every GET is answered by `serve(handler)`, as a hostile server would."""

    def __init__(self, serve):
        super().__init__([SEED_MBOX])
        self.serve = serve

    def handler_class(self):
        base = super().handler_class()
        lore = self

        class Handler(base):
            def do_GET(self):
                lore.requests.append((self.command, self.path))
                try:
                    lore.serve(self)
                except OSError:
                    pass  # the client hung up, as it should

        return Handler


def problem_of(kind, lore_url: str, **kwargs) -> str:
    with pytest.raises(kind) as caught:
        load_series([SEED_COVER], lore_url=lore_url, **kwargs)
    assert caught.value.source == SEED_COVER
    return caught.value.problem


def redirect_to_itself(handler):
    handler.send_response(302)
    handler.send_header("Location", handler.path)
    handler.send_header("Content-Length", "0")
    handler.end_headers()


def test_a_redirect_loop_stops_at_the_redirect_limit():
    with HostileLore(redirect_to_itself) as lore:
        problem = problem_of(Unavailable, lore.url, limits=Limits(redirects=3))
        assert problem == (f"{lore.url} redirected more than 3 times (a redirect loop? check "
                           "--lore-url; [limits] redirects in the config)")
        assert len(lore.requests) == 4  # the first request and three redirects


def drip(handler):
    """Headers at once, then one byte every 50 ms: each read is quick, the whole is endless."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/gzip")
    handler.end_headers()
    for _ in range(2000):
        handler.wfile.write(b"\x1f")
        handler.wfile.flush()
        time.sleep(0.05)


def drip_headers(handler):
    """The status line, then one header byte every 50 ms."""
    handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
    for _ in range(2000):
        handler.wfile.write(b"X")
        handler.wfile.flush()
        time.sleep(0.05)


@pytest.mark.parametrize("serve", [drip, drip_headers])
def test_the_deadline_is_for_the_whole_fetch_not_each_read(serve):
    with HostileLore(serve) as lore:
        started = time.monotonic()
        problem = problem_of(TimedOut, lore.url, lore_timeout=0.5)
        assert time.monotonic() - started < 3
        assert problem == (f"{lore.url} did not send the thread within 0.5s (try again later, "
                           "or a longer --lore-timeout)")


def endless(handler):
    handler.send_response(200)
    handler.end_headers()
    block = b"x" * 65536
    for _ in range(10_000):  # 640 MB, if nobody stopped it
        handler.wfile.write(block)


def test_an_answer_past_the_byte_limit_stops_there():
    with HostileLore(endless) as lore:
        problem = problem_of(Unavailable, lore.url, limits=Limits(fetch_bytes=1 << 20))
        assert problem == (f"{lore.url} sent more than 1048576 bytes (a thread this big is not "
                           "a patch series; [limits] fetch_bytes in the config)")


def gzip_bomb(size: int) -> bytes:
    """A gzip member of `size` zero bytes: about a thousandth of that on the wire."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    return b"".join([*(packer.compress(block) for _ in range(size >> 20)), packer.flush()])


def test_a_gzip_bomb_is_not_unpacked_past_the_limit():
    bomb = gzip_bomb(128 << 20)  # 128 MiB unpacked, 128 kB sent

    def serve(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(bomb)))
        handler.end_headers()
        handler.wfile.write(bomb)

    with HostileLore(serve) as lore:
        problem = problem_of(Unavailable, lore.url, limits=Limits(mail_bytes=8 << 20))
        assert problem == (f"{lore.url} sent a thread that unpacks to more than 8388608 bytes "
                           "([limits] mail_bytes in the config)")


def test_unpacked_size_counts_every_member_and_stops_past_the_cap():
    two = gzip.compress(b"a" * 1000) + gzip.compress(b"b" * 500)
    assert unpacked_size(two, 10_000) == 1500
    assert unpacked_size(gzip_bomb(64 << 20), 1000) == 1001
    assert unpacked_size(b"\x1f\x8bnot gzip", 1000) == 0


def test_a_gzipped_answer_within_the_limits_is_the_thread():
    with FakeLore([SEED_MBOX]) as lore:
        series = load_series([SEED_COVER], lore_url=lore.url,
                             limits=Limits(mail_bytes=len(SEED_MBOX.read_bytes())))
        assert len(series.patches) == 3


def test_network_failures_exit_2_with_one_line(capsys):
    with HostileLore(redirect_to_itself) as lore:
        assert cli.main(["show", "--lore-url", lore.url, SEED_COVER]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "redirected more than 5 times" in err


# ---- files as inputs ----

def fifo(tmp_path):
    path = tmp_path / "series.mbox"
    os.mkfifo(path)
    return path, "a FIFO, not a regular file"


def dangling(tmp_path):
    path = tmp_path / "series.mbox"
    path.symlink_to(tmp_path / "gone.mbox")
    return path, "a symbolic link to a missing file"


def device(tmp_path):
    path = tmp_path / "series.mbox"
    path.symlink_to("/dev/zero")
    return path, "a character device (through a symbolic link), not a regular file"


@pytest.mark.parametrize("make", [fifo, dangling, device])
def test_an_odd_file_as_input_is_bad_input(capsys, tmp_path, make):
    path, problem = make(tmp_path)
    started = time.monotonic()
    assert cli.main(["show", str(path)]) == 2
    assert time.monotonic() - started < 5  # a FIFO is never opened: nothing blocks
    assert capsys.readouterr().err == f"reviewbot: {path}: {problem}\n"


def test_a_file_past_the_size_limit_is_bad_input(tmp_path):
    path = tmp_path / "series.mbox"
    path.write_bytes(SEED_MBOX.read_bytes())
    with pytest.raises(InputError) as caught:
        load_series([str(path)], limits=Limits(mail_bytes=1000))
    assert caught.value.problem == (f"{path.stat().st_size} bytes, more than the limit of 1000 "
                                    "([limits] mail_bytes in the config)")


def test_a_missing_file_is_not_found(tmp_path):
    with pytest.raises(NotFound):
        load_series([str(tmp_path / "none.mbox")])


# ---- diffs as strict as git apply, in both modes ----

def patch_mail(diff: str) -> str:
    return ("From: reviewbot tests <tests@reviewbot.invalid>\nSubject: [PATCH] f: change\n"
            "Date: Tue, 6 Jan 2026 10:01:00 +0000\nMessage-Id: <f@example.org>\n\nA change.\n\n"
            "Signed-off-by: reviewbot tests <tests@reviewbot.invalid>\n---\n" + diff + "-- \n2.40.0\n\n")


F_HEADER = "diff --git a/f.c b/f.c\nindex 1111111..2222222 100644\n--- a/f.c\n+++ b/f.c\n"
LABEL = 'patch 1/1 "f: change": malformed diff: f.c, '


@pytest.fixture
def tree(tmp_path):
    repo = tmp_path / "tree"
    repo.mkdir()
    (repo / "f.c").write_text("int a;\nint b;\nint d;\nint e;\nint f;\n")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "base"]):
        assert cli_git(repo, *args).returncode == 0
    return repo


def cli_git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)


@pytest.mark.parametrize("hunks, problem", [
    ("@@ -99999999999999999999999,3 +99999999999999999999999,3 @@\n a\n-b\n+c\n d\n",
     "hunk @@ -99999999999999999999999,3 +99999999999999999999999,3 @@: lines past line "
     "2000000, the most a file may have ([limits] file_lines in the config)"),
    ("@@ -0,2 +0,2 @@\n a\n-b\n+c\n",
     "hunk @@ -0,2 +0,2 @@: 2 lines from line 0 (the first line is 1)"),
    ("@@ -1,2 +1,2 @@\n a\n-b\n+c\n+x\n d\n",
     "line 9 of the diff: more lines than its hunk header counts (@@ -1,2 +1,2 @@): '+x'"),
    ("@@ -1,4 +1,4 @@\n a\n-b\n+c\n d\n@@ -5,1 +5,1 @@\n-f\n+F\n",
     "line 10 of the diff: Hunk diff line expected: @@ -5,1 +5,1 @@"),
    ("@@ -1,3 +1,3 @@\n a\nXb\n+c\n d\n", "line 7 of the diff: Hunk diff line expected: Xb"),
])
@pytest.mark.parametrize("mode", ["hunk-only", "tree"])
def test_a_malformed_diff_is_bad_input_in_every_mode(capsys, tmp_path, tree, hunks, problem, mode):
    path = tmp_path / "f.patch"
    path.write_text(patch_mail(F_HEADER + hunks))
    started = time.monotonic()
    args = ["--tree", str(tree)] if mode == "tree" else []
    assert cli.main(["check", *args, str(path)]) == 2
    assert time.monotonic() - started < 10  # an absurd line number costs nothing
    assert capsys.readouterr().err == f"reviewbot: {LABEL}{problem}\n"


def binary_and_quoted_diff(tree) -> str:
    """What git itself writes for a new binary file and a new file with a quoted name."""
    (tree / "blob.bin").write_bytes(bytes(range(256)))
    (tree / 'ça "q".c').write_text("int g(void)\n{\n\treturn 0;\n}\n")
    cli_git(tree, "add", "-A")
    diff = cli_git(tree, "diff", "--cached", "--binary").stdout
    cli_git(tree, "reset", "-q", "--hard")
    assert '"b/\\303\\247a \\"q\\".c"' in diff and "GIT binary patch" in diff
    return diff


@pytest.mark.parametrize("mode", ["hunk-only", "tree"])
def test_binary_diffs_and_quoted_names_are_read_in_every_mode(capsys, tmp_path, tree, mode):
    path = tmp_path / "f.patch"
    path.write_text(patch_mail(binary_and_quoted_diff(tree)))
    args = ["--tree", str(tree)] if mode == "tree" else []
    assert cli.main(["show", *args, str(path)]) == 0
    out = capsys.readouterr().out
    assert "  B blob.bin  +0 -0\n" in out and '  A ça "q".c  +4 -0\n' in out
    assert cli.main(["check", "--format", "json", *args, str(path)]) == 0
    loaded = service.load(SourceSpec((str(path),), tree=str(tree) if mode == "tree" else None))
    assert loaded.workspace.after('ça "q".c', 1).text.startswith("int g(void)\n{\n")


# ---- odd files in an indexed tree, and as `facts` and `index` inputs ----

MINIFS_BASE = FIXTURES / "minifs" / "base"


def test_odd_files_in_an_indexed_tree_are_skipped_with_a_note(capsys, tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(MINIFS_BASE, tree)
    os.mkfifo(tree / "fifo.c")
    (tree / "dangling.h").symlink_to(tree / "gone.h")
    (tree / "zero.c").symlink_to("/dev/zero")
    (tree / "big.c").write_text("int x;\n" * 20_000)
    (tree / ".reviewbot.toml").write_text("[limits]\nfile_bytes = 100000\n")
    started = time.monotonic()
    assert cli.main(["index", "--jobs", "1", str(tree)]) == 0
    assert time.monotonic() - started < 60
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        f"reviewbot: {tree / 'big.c'}: skipped: 140000 bytes, more than the limit of 100000 "
        "([limits] file_bytes in the config)",
        f"reviewbot: {tree / 'dangling.h'}: skipped: a symbolic link to a missing file",
        f"reviewbot: {tree / 'fifo.c'}: skipped: a FIFO, not a regular file",
        f"reviewbot: {tree / 'zero.c'}: skipped: a character device (through a symbolic link), "
        "not a regular file"]
    assert "files            4\n" in out  # the four files of minifs


@pytest.mark.parametrize("command", ["facts", "index"])
def test_an_odd_file_named_to_facts_or_index_is_bad_input(capsys, tmp_path, command):
    path = tmp_path / "fifo.c"
    os.mkfifo(path)
    assert cli.main([command, str(path)]) == 2
    assert capsys.readouterr().err == f"reviewbot: {path}: a FIFO, not a regular file\n"


def test_limits_come_from_the_config_and_bad_values_are_named(tmp_path):
    from reviewbot.knowledge.config import load_config
    (tmp_path / ".reviewbot.toml").write_text("[limits]\nfetch_seconds = 5\nfile_lines = 100\n")
    limits = load_config(str(tmp_path)).limits
    assert (limits.fetch_seconds, limits.file_lines, limits.redirects) == (5.0, 100, Limits().redirects)
    for bad, problem in [("redirects = 1.5", "[limits] redirects must be a whole number above 0, not 1.5"),
                         ("file_bytes = 0", "[limits] file_bytes must be a whole number above 0, not 0"),
                         ("fetch_seconds = nan", "[limits] fetch_seconds must be a number above 0, not nan"),
                         ("depth = 3", "[limits]: unknown key 'depth' (known: cache_bytes, fetch_bytes, fetch_seconds, "
                                       "file_bytes, file_lines, mail_bytes, redirects)")]:
        (tmp_path / ".reviewbot.toml").write_text(f"[limits]\n{bad}\n")
        with pytest.raises(InputError) as caught:
            load_config(str(tmp_path))
        assert caught.value.problem == problem


def test_the_line_limit_of_the_config_applies_to_hunks(tmp_path, capsys):
    (tmp_path / ".reviewbot.toml").write_text("[limits]\nfile_lines = 10\n")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    path = tmp_path / "f.patch"
    path.write_text(patch_mail(F_HEADER + "@@ -9,3 +9,3 @@\n a\n-b\n+c\n d\n"))
    assert cli.main(["check", "--hunks-only", "--tree", str(tmp_path), str(path)]) == 2
    assert capsys.readouterr().err == (f"reviewbot: {LABEL}hunk @@ -9,3 +9,3 @@: lines past line 10, "
                                       "the most a file may have ([limits] file_lines in the config)\n")


THREAD_GZ = gzip.compress(SEED_MBOX.read_bytes())


def chunked(handler):
    handler.protocol_version = "HTTP/1.1"
    handler.send_response(200)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    for start in range(0, len(THREAD_GZ), 1000):
        part = THREAD_GZ[start:start + 1000]
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
    handler.wfile.write(b"0\r\n\r\n")


def content_encoded(handler):
    body = gzip.compress(THREAD_GZ)
    handler.send_response(200)
    handler.send_header("Content-Encoding", "gzip")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.mark.parametrize("serve", [chunked, content_encoded])
def test_a_thread_sent_in_chunks_or_content_encoded_is_read_whole(serve):
    with HostileLore(serve) as lore:
        assert len(load_series([SEED_COVER], lore_url=lore.url).patches) == 3


def cut_short(handler):
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(THREAD_GZ) * 2))
    handler.end_headers()
    handler.wfile.write(THREAD_GZ)  # and hang up, half-way


def bad_chunks(handler):
    handler.protocol_version = "HTTP/1.1"
    handler.send_response(200)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    handler.wfile.write(b"zz\r\nnot a chunk\r\n")


def bad_content_encoding(handler):
    handler.send_response(200)
    handler.send_header("Content-Encoding", "gzip")
    handler.send_header("Content-Length", "20")
    handler.end_headers()
    handler.wfile.write(b"\x1f\x8bnot gzip at all!!")


def header_flood(handler):
    handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Flood: " + b"x" * 200_000 + b"\r\n\r\n")


@pytest.mark.parametrize("serve", [cut_short, bad_chunks, bad_content_encoding, header_flood])
def test_a_broken_answer_is_one_line_and_exit_2(capsys, serve):
    with HostileLore(serve) as lore:
        assert cli.main(["show", "--lore-url", lore.url, SEED_COVER]) == 2
        err = capsys.readouterr().err
    assert err.startswith(f"reviewbot: {SEED_COVER}: ") and err.count("\n") == 1
    assert lore.url in err and ("(try again later)" in err or "(check --lore-url" in err)


def test_a_fifo_in_a_maildir_is_bad_input_not_a_hang(capsys, tmp_path):
    maildir = tmp_path / "maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "cur" / "1.mail").write_bytes(SEED_MBOX.read_bytes().split(b"\nFrom ", 1)[0])
    os.mkfifo(maildir / "new" / "2.mail")
    assert cli.main(["show", str(maildir)]) == 2
    assert capsys.readouterr().err == f"reviewbot: {maildir / 'new' / '2.mail'}: a FIFO, not a regular file\n"


def redirect_with_an_endless_body(handler):
    handler.send_response(302)
    handler.send_header("Location", handler.path)
    handler.end_headers()
    block = b"x" * 65536
    for _ in range(100_000):  # 6.5 GB, if anybody read it
        handler.wfile.write(block)


def test_a_redirect_body_is_never_read():
    with HostileLore(redirect_with_an_endless_body) as lore:
        started = time.monotonic()
        problem = problem_of(Unavailable, lore.url, limits=Limits(redirects=2))
        assert time.monotonic() - started < 10
    assert problem.startswith(f"{lore.url} redirected more than 2 times")


def test_cancelling_stops_a_fetch_in_progress():
    """A server shutting down cancels its jobs: one waiting on a stalled archive stops now,
    not at the fetch's deadline."""
    cancel = threading.Event()
    with FakeLore([SEED_MBOX], delay=60) as lore:
        threading.Timer(0.3, cancel.set).start()
        started = time.monotonic()
        with pytest.raises(Cancelled):
            service.load(SourceSpec((SEED_COVER,), lore_url=lore.url, lore_timeout=30),
                         cancel=cancel)
        assert time.monotonic() - started < 5


def test_index_stats_skips_odd_files_with_a_note(capsys, tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(MINIFS_BASE, tree)
    os.mkfifo(tree / "fifo.c")
    assert cli.main(["index", "--stats", "--jobs", "1", str(tree)]) == 0
    out, err = capsys.readouterr()
    assert err == f"reviewbot: {tree / 'fifo.c'}: skipped: a FIFO, not a regular file\n"
    assert out.splitlines()[-1].split()[-2:] == ["4/4", "100.00%"]  # the four files of minifs
