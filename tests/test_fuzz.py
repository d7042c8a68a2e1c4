"""Property-based fuzzing of reviewbot's inputs: mails, diffs and kernel-style C.

Whatever the generators make, reviewbot answers with a documented exit status (0, 1 or 2),
no traceback, one line for bad input, within a bounded time and memory (tests/hostile.py).
Beyond that, each generator knows something of what it made: a diff it corrupted must be
bad input in every mode (never silently dropped), an intact one must be reviewed in every
mode, a C file is always read.

CI runs a fixed budget of examples (derandomized: the same inputs every run). For a bigger
run: REVIEWBOT_FUZZ_EXAMPLES=2000 ./dev test tests/test_fuzz.py -s
"""

from __future__ import annotations

import difflib
import functools
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile import MEMORY_GROWTH, Tally, check_outcome, max_rss, run_cli

ON_DEMAND = int(os.environ.get("REVIEWBOT_FUZZ_EXAMPLES", "0"))
# reviewbot.c raises the recursion limit once, for the first C it analyses: hypothesis notices
pytestmark = pytest.mark.filterwarnings("ignore:The recursion limit will not be reset")
TALLIES: dict[str, Tally] = {}


def budget(ci_examples: int):
    """The example budget: a fixed, small one in CI; REVIEWBOT_FUZZ_EXAMPLES on demand."""
    return settings(max_examples=ON_DEMAND or ci_examples, deadline=None, database=None,
                    derandomize=not ON_DEMAND, suppress_health_check=list(HealthCheck))


def tally(name: str) -> Tally:
    return TALLIES.setdefault(name, Tally(name))


# ---- kernel-style C ----

STRUCT = ("struct drv {\n\tint users;\n\tint state;\n\tunsigned long flags;\n\tspinlock_t lock;\n"
          "\tstruct mutex mutex;\n\tatomic_t count;\n\tstruct list_head list;\n};\n")
SIMPLE = st.sampled_from([
    "d->users++;", "d->users--;", "d->state = DRV_OPEN;", "d->state = d->state + 1;",
    "set_bit(DRV_BUSY, &d->flags);", "clear_bit(DRV_BUSY, &d->flags);",
    "spin_lock(&d->lock);", "spin_unlock(&d->lock);", "mutex_lock(&d->mutex);",
    "mutex_unlock(&d->mutex);", "atomic_inc(&d->count);", "atomic_dec(&d->count);",
    "if (!d)\n\t\treturn -EINVAL;", "goto out;", "return 0;", "DRV_TOUCH(d);", "break;",
    'pr_info("caf\u00e9 %d\\n", d->users);', "/* a comment { with a brace */",
    "// a line comment }", "n = d->users ? : 1;", "list_for_each_entry(e, &d->list, node)\n\t\te->users++;",
    "#ifdef CONFIG_DRV", "#endif", "#define DRV_TOUCH(a) do { (a)->users++; } while (0)",
    "do { d->users++; } while (0);", "{", "}", "(", "READ_ONCE(d->state);",
    "WRITE_ONCE(d->state, 2);", "scoped_guard(spinlock, &d->lock) d->users++;",
    "guard(mutex)(&d->mutex);", "d->users += sizeof(struct drv);", "\u00e9t\u00e9 = 1;",
    "d->users += " + "9" * 5000 + ";", "d->state = 0x" + "f" * 64 + "ULL;",
])
CONDITIONS = st.sampled_from(["d->users", "!d->state", "test_bit(DRV_BUSY, &d->flags)",
                              "spin_trylock(&d->lock)", "likely(n > 0)", "d"])


def block(children):
    return st.one_of(
        st.builds(lambda c, s: f"if ({c}) {{\n{s}\n}}", CONDITIONS, children),
        st.builds(lambda c, s, e: f"if ({c}) {{\n{s}\n}} else {{\n{e}\n}}", CONDITIONS, children,
                  children),
        st.builds(lambda c, s: f"while ({c}) {{\n{s}\n}}", CONDITIONS, children),
        st.builds(lambda s: f"switch (d->state) {{\ncase 1:\n{s}\n\tbreak;\ndefault:\n\tbreak;\n}}",
                  children),
        st.lists(children, min_size=1, max_size=4).map("\n".join))


BODIES = st.recursive(SIMPLE, block, max_leaves=24)
DEPTH = st.integers(0, 200 if ON_DEMAND else 30)  # item 3 of issue 11 makes deeper safe
ENCODINGS = st.sampled_from(["utf-8", "latin-1", "noise"])


@st.composite
def kernel_c(draw) -> tuple[bytes, list[str]]:
    """A C file of kernel style: a struct, a function of nested blocks, macros; in some
    encoding, sometimes with noise, sometimes cut short. Returns (bytes, features)."""
    depth = draw(DEPTH)
    body = draw(BODIES)
    functions = draw(st.integers(1, 3))
    text = STRUCT + "".join(
        f"\nstatic int drv_fn{n}(struct drv *d)\n{{\n\tint n = 0;\n" + "if (d) {\n" * depth
        + body + "\n" + "}\n" * depth + "out:\n\treturn n;\n}\n" for n in range(functions))
    encoding = draw(ENCODINGS)
    data = text.encode("latin-1" if encoding == "latin-1" else "utf-8", errors="replace")
    features = [f"depth {'0' if not depth else '1-9' if depth < 10 else '10+'}", encoding]
    if encoding == "noise":
        spot = draw(st.integers(0, len(data)))
        data = data[:spot] + draw(st.binary(min_size=1, max_size=16)) + data[spot:]
    if draw(st.booleans()):
        data = data[:draw(st.integers(0, len(data)))]
        features.append("truncated")
    return data, features


def new_file_diff(path: str, data: bytes) -> bytes:
    """The diff git writes for a new file holding `data` (lines split on \\n, as git does)."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
        end = b""
    else:
        end = b"\\ No newline at end of file\n"
    head = (f"diff --git a/{path} b/{path}\nnew file mode 100644\nindex 0000000..1234567\n"
            f"--- /dev/null\n+++ b/{path}\n").encode()
    if not lines:
        return head.split(b"--- ")[0]
    return head + f"@@ -0,0 +1,{len(lines)} @@\n".encode() + b"".join(
        b"+" + line + b"\n" for line in lines) + end


def patch_mail(diff: bytes, subject: str = "[PATCH] drv: change", msgid: str = "<f@example.org>",
               extra: str = "") -> bytes:
    head = (f"From: reviewbot tests <tests@reviewbot.invalid>\nSubject: {subject}\n"
            f"Date: Tue, 6 Jan 2026 10:01:00 +0000\nMessage-Id: {msgid}\n{extra}"
            "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
            "Content-Transfer-Encoding: 8bit\n\nA change.\n\n"
            "Signed-off-by: reviewbot tests <tests@reviewbot.invalid>\n---\n").encode()
    return head + diff + b"-- \n2.40.0\n\n"


@budget(25)
@given(kernel_c())
def test_kernel_style_c(tmp_path_factory, source):
    data, features = source
    directory = tmp_path_factory.mktemp("c")
    path = directory / "drv.c"
    path.write_bytes(data)
    facts = run_cli("facts", str(path))
    tally("fuzz kernel-style C").add(facts, *features)
    check_outcome(facts)
    assert facts.status == 0, facts  # any bytes in a regular file are C to be read
    patch = directory / "drv.patch"
    patch.write_bytes(patch_mail(new_file_diff("drv.c", data)))
    review = run_cli("check", "--fail-on", "never", str(patch))
    tally("fuzz kernel-style C").add(review, "as a new file in a patch")
    check_outcome(review)
    if not any(byte < 0x20 and byte not in b"\t\n" for byte in data):
        assert review.status == 0, review  # a well-formed patch, whatever its C


# ---- diffs, in hunk-only and tree mode ----

BASE = [f"\t{line}" for line in (
    "int a = 0;", "spin_lock(&d->lock);", "d->users++;", "spin_unlock(&d->lock);", "return 0;",
    "}", "", "static void drv_close(struct drv *d)", "{", "mutex_lock(&d->mutex);",
    "d->state = DRV_CLOSED;", "mutex_unlock(&d->mutex);", "atomic_dec(&d->count);", "}")] * 4
BASE_TEXT = STRUCT + "static int drv_open(struct drv *d)\n{\n" + "\n".join(BASE) + "\n"
NEW_LINES = st.sampled_from(["\td->users--;", "\td->state = DRV_OPEN;", "\tspin_lock(&d->lock);",
                             "\tspin_unlock(&d->lock);", "", "\tREAD_ONCE(d->state);", "}", "{"])
# what each mutation does to an intact diff, and whether git apply could still take it
CORRUPTING = {"count off", "huge line", "line zero", "drop a line", "repeat a line"}
MUTATIONS = st.sampled_from(["none", "crlf", "no newline at end", *sorted(CORRUPTING)])


@pytest.fixture(scope="module")
def base_tree(tmp_path_factory) -> Path:
    tree = tmp_path_factory.mktemp("tree")
    (tree / "drv").mkdir()
    (tree / "drv" / "drv.c").write_text(BASE_TEXT)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "base"]):
        subprocess.run(["git", "-C", str(tree), *args], check=True, env=env, capture_output=True)
    return tree


@st.composite
def edited_diffs(draw) -> tuple[str, str]:
    """(a diff of BASE_TEXT as difflib writes it, with one mutation; the mutation's name)."""
    base = BASE_TEXT.splitlines()
    lines = list(base)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["replace", "insert", "delete"]))
        if op == "delete":
            del lines[at]
        else:
            lines[at:at + (op == "replace")] = [draw(NEW_LINES)]
    # three lines of context, as git format-patch writes (git apply wants them)
    hunks = list(difflib.unified_diff(base, lines, "a/drv/drv.c", "b/drv/drv.c", n=3,
                                      lineterm=""))
    if not hunks:  # the edits undid each other
        return "", "nothing"
    body = hunks[2:]
    mutation = draw(MUTATIONS)
    headers = [i for i, line in enumerate(body) if line.startswith("@@")]
    target = draw(st.sampled_from(headers))
    if mutation == "count off":
        old = body[target]
        spans = old.split(" ")[1:3]
        side = draw(st.integers(0, 1))
        start, _, length = spans[side][1:].partition(",")
        shift = draw(st.sampled_from([-2, -1, 1, 2]))
        new_length = int(length or 1) + shift
        if new_length < 0:
            return "", "nothing"
        spans[side] = f"{spans[side][0]}{start},{new_length}"
        body[target] = f"@@ {spans[0]} {spans[1]} @@"
    elif mutation == "huge line":
        body[target] = "@@ -99999999999999999999999,3 +99999999999999999999999,3 @@"
    elif mutation == "line zero":
        spans = body[target].split(" ")[1:3]
        if spans[0].endswith(",0") or spans[1].endswith(",0"):
            return "", "nothing"
        body[target] = f"@@ -0,{spans[0].partition(',')[2] or 1} +0,{spans[1].partition(',')[2] or 1} @@"
    elif mutation in ("drop a line", "repeat a line"):
        inside = [i for i in range(target + 1, len(body)) if not body[i].startswith("@@")]
        inside = inside[:next((k for k, i in enumerate(inside) if i != inside[0] + k), len(inside))]
        at = draw(st.sampled_from(inside))
        body[at:at + 1] = [] if mutation == "drop a line" else [body[at], body[at]]
    text = "diff --git a/drv/drv.c b/drv/drv.c\nindex 1111111..2222222 100644\n" + \
        "\n".join(hunks[:2] + body) + "\n"
    if mutation == "crlf":
        text = text.replace("\n", "\r\n")
    elif mutation == "no newline at end":
        text += "\\ No newline at end of file\n"
    return text, mutation


@budget(30)
@given(edited_diffs())
def test_diffs_in_both_modes(tmp_path_factory, base_tree, edited):
    diff, mutation = edited
    if not diff:
        return
    path = tmp_path_factory.mktemp("diff") / "drv.patch"
    path.write_bytes(patch_mail(diff.encode()))
    for mode, args in (("hunk-only", []), ("tree", ["--tree", str(base_tree), "--base", "HEAD"])):
        outcome = run_cli("check", "--fail-on", "never", *args, str(path))
        tally("fuzz diffs").add(outcome, mutation, mode)
        check_outcome(outcome)
        if mutation in CORRUPTING:  # never silently dropped, in any mode
            assert outcome.status == 2 and "malformed diff" in outcome.err, (mode, diff, outcome)
        elif mutation == "none":  # an intact diff of the base: reviewed in every mode
            assert outcome.status == 0, (mode, diff, outcome)


# ---- mails ----

TRANSFER = st.sampled_from(["8bit", "base64", "quoted-printable", "7bit"])
CHARSETS = st.sampled_from(["utf-8", "iso-8859-1", "x-unknown"])
SUBJECTS = st.sampled_from(["[PATCH {n}/{total}] drv: change {n}", "[PATCH v2 {n}/{total}] drv: {n}",
                            "[RFC PATCH] drv: change {n}", "drv: change {n}", "[PATCH {n}/0] x",
                            "=?utf-8?q?=5BPATCH=5D_caf=C3=A9_{n}?=", "[PATCH {total}/{n}] drv",
                            "[PATCH " + "9" * 5000 + "/{total}] drv: change {n}"])


@st.composite
def mboxes(draw) -> tuple[bytes, list[str]]:
    """An mbox of a series: a cover letter or none, patches in some encoding and charset,
    threaded or not; sometimes with noise, sometimes cut short. Returns (bytes, features)."""
    import base64
    import quopri

    total = draw(st.integers(1, 3))
    features = [f"{total} patches"]
    mails = []
    if draw(st.booleans()):
        mails.append((f"[PATCH 0/{total}] drv: changes", b"Two changes.\n", "<c0@example.org>", ""))
        features.append("cover letter")
    for n in range(1, total + 1):
        diff = new_file_diff(f"drv/f{n}.c", draw(kernel_c())[0][:400])
        msgid = draw(st.sampled_from([f"<p{n}@example.org>", "<p1@example.org>", ""]))
        reply = draw(st.sampled_from(["", "In-Reply-To: <c0@example.org>\n",
                                      f"In-Reply-To: <p{n}@example.org>\n"]))
        body = b"A change.\n\nSigned-off-by: reviewbot tests <tests@reviewbot.invalid>\n---\n" + diff + b"-- \n2.40\n"
        mails.append((draw(SUBJECTS).format(n=n, total=total), body, msgid, reply))
    out = b""
    for subject, body, msgid, reply in mails:
        transfer, charset = draw(TRANSFER), draw(CHARSETS)
        features += [transfer, charset]
        encoded = (base64.encodebytes(body) if transfer == "base64"
                   else quopri.encodestring(body) if transfer == "quoted-printable" else body)
        out += (f"From nobody Mon Sep 17 00:00:00 2001\nFrom: reviewbot tests <tests@reviewbot.invalid>\n"
                f"Subject: {subject}\nDate: Tue, 6 Jan 2026 10:01:00 +0000\n"
                + (f"Message-Id: {msgid}\n" if msgid else "") + reply
                + f"MIME-Version: 1.0\nContent-Type: text/plain; charset={charset}\n"
                f"Content-Transfer-Encoding: {transfer}\n\n").encode() + encoded + b"\n"
    if draw(st.booleans()):
        spot = draw(st.integers(0, len(out)))
        out = out[:spot] + draw(st.binary(min_size=1, max_size=32)) + out[spot:]
        features.append("noise")
    if draw(st.booleans()):
        out = out[:draw(st.integers(0, len(out)))]
        features.append("truncated")
    return out, features


@budget(30)
@given(mboxes())
def test_mails(tmp_path_factory, mbox):
    data, features = mbox
    path = tmp_path_factory.mktemp("mail") / "series.mbox"
    path.write_bytes(data)
    for command in ("show", "check"):
        outcome = run_cli(command, str(path))
        tally("fuzz mails").add(outcome, *features)
        check_outcome(outcome)


# ---- archives ----

THREAD = (Path(__file__).resolve().parent.parent / "fixtures" / "seed" /
          "fuse-passthrough-fixes.mbox").read_bytes()
SEED_ID = "20240407155758.575216-1-amir73il@gmail.com"


@functools.cache
def bodies() -> dict[str, bytes]:
    import gzip

    thread = gzip.compress(THREAD)
    return {"thread": thread, "cut thread": thread[:2000], "not gzip": b"<html>hello</html>",
            "empty": b"", "bomb": gzip.compress(bytes(64 << 20))}  # 64 MiB unpacked


@st.composite
def archive_answers(draw) -> tuple[dict, list[str]]:
    """How a hostile or broken archive answers: status, redirects, body, encodings."""
    status = draw(st.sampled_from([200, 200, 200, 301, 302, 404, 410, 500, 503]))
    body = draw(st.sampled_from(["thread", "cut thread", "not gzip", "empty", "bomb", "bytes"]))
    data = draw(st.binary(max_size=512)) if body == "bytes" else bodies()[body]
    answer = {"status": status, "body": data, "location": draw(st.sampled_from(["self", "elsewhere"])),
              "encoded": draw(st.booleans()), "chunked": draw(st.booleans()),
              "length": draw(st.sampled_from(["exact", "none", "too long"]))}
    return answer, [f"HTTP {status}", body, *(k for k in ("encoded", "chunked") if answer[k]),
                    f"length {answer['length']}"]


def answer_with(handler, answer: dict) -> None:
    import gzip

    body = gzip.compress(answer["body"]) if answer["encoded"] else answer["body"]
    handler.protocol_version = "HTTP/1.1"
    handler.send_response(answer["status"])
    if answer["status"] in (301, 302):
        handler.send_header("Location", handler.path if answer["location"] == "self" else "/all/x/")
    if answer["encoded"]:
        handler.send_header("Content-Encoding", "gzip")
    if answer["chunked"]:
        handler.send_header("Transfer-Encoding", "chunked")
    elif answer["length"] != "none":
        extra = 100 if answer["length"] == "too long" else 0
        handler.send_header("Content-Length", str(len(body) + extra))
    handler.send_header("Connection", "close")
    handler.end_headers()
    if handler.command == "HEAD":
        return
    if answer["chunked"]:
        handler.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n")
    else:
        handler.wfile.write(body)


@pytest.fixture
def small_mail_limit():
    """A user config bounding a thread at 4 MiB: a bomb stops sooner, as it would anyway."""
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "reviewbot" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[limits]\nmail_bytes = 4194304\n")


@budget(25)
@given(archive_answers())
def test_archives(small_mail_limit, archive):
    from fakelore import FakeLore

    answer, features = archive

    class Hostile(FakeLore):
        def handler_class(self):
            base = super().handler_class()

            class Handler(base):
                def do_GET(self):
                    answer_with(self, answer)

                do_HEAD = do_GET

            return Handler

    with Hostile([]) as lore:
        outcome = run_cli("show", "--lore-url", lore.url, "--lore-timeout", "5", SEED_ID)
    tally("fuzz archives").add(outcome, *features)
    check_outcome(outcome)
    if outcome.status == 2:
        assert lore.url in outcome.err or SEED_ID in outcome.err, outcome


def test_fuzz_counts_and_memory(capsys):
    """Runs after the fuzz tests of this module: prints what they tried and covered."""
    assert max_rss() < MEMORY_GROWTH + (512 << 20)
    assert TALLIES, "run with the fuzz tests above"
    with capsys.disabled():
        for name in sorted(TALLIES):
            print(f"\n{TALLIES[name].report()}")
