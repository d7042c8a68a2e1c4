"""The renderers, on a Review built by hand: a two-patch series of a small invented driver with
one finding of every status, mutation tables and transitions."""

from __future__ import annotations

import json
import mailbox
from pathlib import Path

import jsonschema
import pytest
from b4.review._review import _extract_comments_from_quoted_reply  # b4's reader of list replies

from reviewbot.checks.base import Rule
from reviewbot.findings import FIXED, PREEXISTING, Finding
from reviewbot.report import json as json_report
from reviewbot.report import RenderOptions, mail, sarif, text
from reviewbot.review import ADDED, REMOVED, FunctionTable, Review, TableRow, Transition
from reviewbot.series import Patch, Reply, Series

SARIF_SCHEMA = Path(__file__).resolve().parents[2] / "shared" / "schemas" / "sarif-schema-2.1.0.json"

PATCH1_DIFF = """\
diff --git a/drivers/foo/core.c b/drivers/foo/core.c
index 1a2b3c4..5d6e7f8 100644
--- a/drivers/foo/core.c
+++ b/drivers/foo/core.c
@@ -12,6 +12,7 @@ static int foo_stat(struct foo_file *ff)
 {
 	struct foo_dev *fd = ff->dev;
 
+	fd->stats.calls++;
 	return fd->mode;
 }
 
@@ -40,15 +41,17 @@ static int foo_mmap(struct foo_file *ff)
 {
 	struct foo_dev *fd = ff->dev;
 	int err;
 
 	/*
 	 * The first mapping switches the device to cached mode;
 	 * later ones find it there already and must not count
 	 * themselves again.
 	 */
-	err = foo_cache_open(fd, ff);
-	if (err)
-		return err;
+	if (READ_ONCE(ff->mode) != FOO_CACHED) {
+		err = foo_cache_open(fd, ff);
+		if (err)
+			return err;
+	}
 
 	return foo_map(ff);
 }
"""

PATCH2_DIFF = """\
diff --git a/drivers/foo/mode.c b/drivers/foo/mode.c
index 9a8b7c6..5e4d3c2 100644
--- a/drivers/foo/mode.c
+++ b/drivers/foo/mode.c
@@ -25,9 +25,14 @@ int foo_cache_open(struct foo_dev *fd, struct foo_file *ff)
 	spin_lock(&fd->lock);
 	ff->mode = FOO_CACHED;
 	spin_unlock(&fd->lock);
 	return 0;
 }
 
+void foo_backing_start(struct foo_dev *fd)
+{
+	set_bit(FOO_BACKING, &fd->flags);
+}
+
 void foo_mode_release(struct foo_file *ff)
 {
 	ff->mode = FOO_NONE;
"""

PATCH3_DIFF = """\
diff --git a/drivers/foo/Makefile b/drivers/foo/Makefile
index 0a1b2c3..4d5e6f7 100644
--- a/drivers/foo/Makefile
+++ b/drivers/foo/Makefile
@@ -1,2 +1,2 @@
-obj-y += core.o
+obj-y += core.o mode.o
 obj-y += mode_old.o
"""

AUTHOR = "Ann Author <ann@example.org>"
SENDER = "Rita Reviewer <rita@example.org>"
COVER = "20250303100000.1-1-ann@example.org"

THEN_ACT = "`ff->mode` is read without `foo_dev.lock` and decides a call that changes it under that lock"
THEN_ACT_EVIDENCE = [
    "`foo_file.mode` is changed under `foo_dev.lock` at 2 of 2 sites: drivers/foo/mode.c:26, "
    "drivers/foo/mode.c:40",
    "foo_cache_open does not re-check `ff->mode` under the lock",
]
BACKING = "`FOO_BACKING` is set in foo_backing_start and cleared nowhere in the series"
BACKING_EVIDENCE = ["set_bit(FOO_BACKING, &fd->flags) at drivers/foo/mode.c:33",
                    "no clear_bit(FOO_BACKING, ...) in the files the series touches"]
HUNK_ONLY_SUMMARY = "3 new, 1 pre-existing, 1 fixed, 2 suppressed; hunk-only mode"
NOTE = "hunk-only mode: the lock state where a hunk starts is unknown"

RULES = {name: Rule(name, severity, f"finds {name}", f"# {name}\n\nWhat {name} finds, and why.")
         for name, severity in [("check-then-act", "high"), ("lock-imbalance", "high"),
                                ("state-imbalance", "medium"), ("unlocked-read", "medium"),
                                ("unlocked-write", "high")]}


def make_patch(number, subject, diff, msgid, replies=()):
    return Patch(number, 3, subject, AUTHOR, f"2025-03-03 10:00:0{number} +0000", msgid,
                 f"{subject}.\n\nSigned-off-by: {AUTHOR}", diff, replies=list(replies),
                 recipients=["Max Maintainer <max@example.org>", "foo-devel@lists.example.org",
                             AUTHOR])


def make_review(mode="hunk-only", base=None, findings=None) -> Review:
    patches = [
        make_patch(1, "foo: map without reopening the cache", PATCH1_DIFF,
                   "20250303100000.1-2-ann@example.org",
                   [Reply("r1@example.org", "Rob Reviewer <rob@example.org>", "", "Re: x", "Odd.")]),
        make_patch(2, "foo: keep the backing flag while a backing file is in use", PATCH2_DIFF,
                   "20250303100000.1-3-ann@example.org"),
        make_patch(3, "foo: build mode.c", PATCH3_DIFF, "20250303100000.1-4-ann@example.org"),
    ]
    series = Series("foo.mbox", "foo: mapping fixes", patches=patches, cover_msgid=COVER)
    if findings is None:
        findings = [
            Finding("state-imbalance", "medium", "drivers/foo/mode.c", 33, "foo_backing_start",
                    BACKING, BACKING_EVIDENCE, subject="foo_dev.flags:FOO_BACKING", patch=2),
            Finding("check-then-act", "high", "drivers/foo/core.c", 50, "foo_mmap", THEN_ACT,
                    THEN_ACT_EVIDENCE, subject="foo_file.mode", patch=1),
            Finding("unlocked-read", "medium", "drivers/foo/core.c", 16, "foo_stat",
                    "`fd->mode` is read without `foo_dev.lock`",
                    ["`foo_dev.mode` is read under `foo_dev.lock` at 3 of 4 sites"],
                    subject="foo_dev.mode", status=PREEXISTING),
            Finding("lock-imbalance", "high", "drivers/foo/core.c", 48, "foo_mmap",
                    "`foo_dev.lock` is still held on the error return", subject="foo_dev.lock",
                    status=FIXED, patch=1),
            Finding("unlocked-write", "low", "drivers/foo/core.c", 15, "foo_stat",
                    "`fd->stats.calls` is written without `foo_dev.lock`",
                    subject="foo_dev.stats.calls", patch=1),
        ]
    tables = [
        FunctionTable("drivers/foo/core.c", "foo_mmap", 1, [
            TableRow("foo_file.mode", "read", None, 50, ("?",), ("READ_ONCE",), ADDED),
            TableRow("foo_file.mode", "assign", "FOO_CACHED", 51, ("?", "foo_dev.lock")),
            TableRow("foo_dev.users", "inc", None, None, ("?",), change=REMOVED),
        ]),
        FunctionTable("drivers/foo/mode.c", "foo_backing_start", 2, [
            TableRow("foo_dev.flags:FOO_BACKING", "set_bit", "set_bit", 33, (), change=ADDED),
        ]),
    ]
    transitions = [
        Transition("foo_file.mode", "FOO_NONE", "FOO_CACHED", "foo_cache_open",
                   "drivers/foo/mode.c", 26),
        Transition("foo_dev.state", "*", "FOO_IDLE", "foo_reset", "drivers/foo/mode.c", 60, REMOVED),
        Transition("foo_file.mode", "*", "FOO_NONE", "foo_mode_release", "drivers/foo/mode.c", 40,
                   ADDED),
    ]
    return Review(series, mode, base, findings, suppressed=2, tables=tables,
                  transitions=transitions, notes=[NOTE])


# text

def test_text_shows_the_new_findings_with_evidence_then_the_summary():
    assert text.render(make_review(), RenderOptions()).splitlines() == [
        "drivers/foo/core.c:15: low: `fd->stats.calls` is written without `foo_dev.lock` "
        "[unlocked-write] (patch 1/3)",
        f"drivers/foo/core.c:50: high: {THEN_ACT} [check-then-act] (patch 1/3)",
        f"    {THEN_ACT_EVIDENCE[0]}",
        f"    {THEN_ACT_EVIDENCE[1]}",
        f"drivers/foo/mode.c:33: medium: {BACKING} [state-imbalance] (patch 2/3)",
        f"    {BACKING_EVIDENCE[0]}",
        f"    {BACKING_EVIDENCE[1]}",
        HUNK_ONLY_SUMMARY,
        f"note: {NOTE}",
    ]


def test_text_all_adds_fixed_and_preexisting_findings_marked_as_such():
    lines = text.render(make_review(), RenderOptions(show_all=True)).splitlines()
    assert lines[7:11] == [
        "drivers/foo/core.c:48: high: `foo_dev.lock` is still held on the error return "
        "[lock-imbalance] (fixed by patch 1/3)",
        "drivers/foo/core.c:16: medium: `fd->mode` is read without `foo_dev.lock` "
        "[unlocked-read] (pre-existing)",
        "    `foo_dev.mode` is read under `foo_dev.lock` at 3 of 4 sites",
        HUNK_ONLY_SUMMARY,
    ]


def test_text_tree_mode_summary_names_the_base():
    review = make_review(mode="tree", base="0123456789ab", findings=[])
    assert text.render(review, RenderOptions()).splitlines()[0] == (
        "0 new, 0 pre-existing, 0 fixed, 2 suppressed; tree mode, base 0123456789ab")


def test_text_tables_show_mutation_tables_and_transitions_with_change_marks():
    lines = text.render(make_review(), RenderOptions(tables=True)).splitlines()
    start = lines.index("")
    assert lines[start:] == [
        "",
        "Mutation tables (+ added by the patch, - removed by it; locks ? = not knowable in "
        "hunk-only mode):",
        "drivers/foo/core.c: foo_mmap (patch 1/3)",
        "     line  field          op                 locks",
        "  +  50    foo_file.mode  read [READ_ONCE]   ?",
        "     51    foo_file.mode  assign FOO_CACHED  ?, foo_dev.lock",
        "  -  ?     foo_dev.users  inc                ?",
        "drivers/foo/mode.c: foo_backing_start (patch 2/3)",
        "     line  field                      op       locks",
        "  +  33    foo_dev.flags:FOO_BACKING  set_bit  none",
        "",
        "Transitions (+ added by the series, - removed by it; * = from any value):",
        "foo_dev.state",
        "  -  *  ->  FOO_IDLE  foo_reset  drivers/foo/mode.c:60",
        "foo_file.mode",
        "     FOO_NONE  ->  FOO_CACHED  foo_cache_open    drivers/foo/mode.c:26",
        "  +  *         ->  FOO_NONE    foo_mode_release  drivers/foo/mode.c:40",
        "",
        HUNK_ONLY_SUMMARY,
        f"note: {NOTE}",
    ]


def test_text_tables_say_so_when_there_are_none():
    review = make_review(findings=[])
    review.tables, review.transitions = [], []
    lines = text.render(review, RenderOptions(tables=True)).splitlines()
    assert "  no function a patch touches uses a tracked field" in lines
    assert "  no enum-like tracked field changes state" in lines


# json

def test_json_document_has_the_versioned_schema_and_the_new_findings():
    doc = json.loads(json_report.render(make_review(), RenderOptions()))
    assert doc["schema"] == 1
    assert doc["mode"] == "hunk-only"
    assert doc["base"] is None
    assert doc["summary"] == {"new": 3, "fixed": 1, "preexisting": 1, "suppressed": 2}
    assert doc["notes"] == [NOTE]
    assert doc["series"]["cover_msgid"] == COVER
    assert doc["series"]["patches"][1] == {
        "number": 2, "subject": "foo: keep the backing flag while a backing file is in use",
        "author": AUTHOR, "msgid": "20250303100000.1-3-ann@example.org", "commit": None,
        "files": ["drivers/foo/mode.c"]}
    assert [f["rule"] for f in doc["findings"]] == ["unlocked-write", "check-then-act",
                                                   "state-imbalance"]
    expected = make_review().findings[1]
    assert doc["findings"][1] == {
        "rule": "check-then-act", "severity": "high", "file": "drivers/foo/core.c", "line": 50,
        "function": "foo_mmap", "message": THEN_ACT, "status": "new", "patch": 1,
        "fingerprint": expected.fingerprint, "evidence": THEN_ACT_EVIDENCE}


def test_json_all_includes_fixed_and_preexisting_findings():
    doc = json.loads(json_report.render(make_review(), RenderOptions(show_all=True)))
    assert [(f["status"], f["patch"]) for f in doc["findings"]] == [
        ("new", 1), ("new", 1), ("new", 2), ("fixed", 1), ("preexisting", None)]


def test_json_carries_the_mutation_tables_and_transitions():
    doc = json.loads(json_report.render(make_review(), RenderOptions()))
    assert [(t["file"], t["function"], t["patch"]) for t in doc["functions"]] == [
        ("drivers/foo/core.c", "foo_mmap", 1), ("drivers/foo/mode.c", "foo_backing_start", 2)]
    assert doc["functions"][0]["rows"][0] == {
        "key": "foo_file.mode", "op": "read", "value": None, "line": 50, "locks": ["?"],
        "marks": ["READ_ONCE"], "change": "added"}
    assert doc["functions"][0]["rows"][2]["line"] is None
    assert doc["transitions"][1] == {
        "key": "foo_dev.state", "from": "*", "to": "FOO_IDLE", "function": "foo_reset",
        "file": "drivers/foo/mode.c", "line": 60, "change": "removed"}


# sarif

@pytest.fixture(scope="module")
def sarif_schema():
    if not SARIF_SCHEMA.is_file():
        pytest.skip(f"the official SARIF 2.1.0 schema is not at {SARIF_SCHEMA} (it is read in "
                    "place from the shared directory beside the project, never copied in)")
    return json.loads(SARIF_SCHEMA.read_text())


@pytest.mark.parametrize("show_all", [False, True])
def test_sarif_validates_against_the_official_schema(sarif_schema, show_all):
    doc = sarif.document(make_review(), show_all, rules=RULES)
    jsonschema.Draft4Validator(sarif_schema).validate(doc)


def test_sarif_rules_carry_the_rule_docs_and_results_point_at_them():
    run = sarif.document(make_review(), show_all=True, rules=RULES)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == sorted(RULES)
    assert rules[0] == {
        "id": "check-then-act", "shortDescription": {"text": "finds check-then-act"},
        "help": {"text": "# check-then-act\n\nWhat check-then-act finds, and why.",
                 "markdown": "# check-then-act\n\nWhat check-then-act finds, and why."},
        "defaultConfiguration": {"level": "error"}, "properties": {"severity": "high"}}
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_sarif_results_map_severity_status_and_fingerprint():
    review = make_review()
    run = sarif.document(review, show_all=True, rules=RULES)["runs"][0]
    assert [(r["ruleId"], r["level"], r["baselineState"]) for r in run["results"]] == [
        ("unlocked-write", "note", "new"), ("check-then-act", "error", "new"),
        ("state-imbalance", "warning", "new"), ("lock-imbalance", "error", "absent"),
        ("unlocked-read", "warning", "unchanged")]
    then_act = run["results"][1]
    assert then_act["partialFingerprints"] == {"reviewbot/v1": review.findings[1].fingerprint}
    assert then_act["message"]["text"] == "\n".join([THEN_ACT, *THEN_ACT_EVIDENCE])
    assert then_act["locations"] == [{
        "physicalLocation": {"artifactLocation": {"uri": "drivers/foo/core.c"},
                             "region": {"startLine": 50}},
        "logicalLocations": [{"name": "foo_mmap", "kind": "function"}]}]


# mail

def test_mail_is_one_reply_per_patch_with_new_findings():
    replies = mail.replies(make_review(), SENDER)
    assert [r["Subject"] for r in replies] == [
        "Re: [PATCH 1/3] foo: map without reopening the cache",
        "Re: [PATCH 2/3] foo: keep the backing flag while a backing file is in use"]


def test_mail_headers_thread_the_reply_under_the_patch():
    reply = mail.replies(make_review(), SENDER)[0]
    assert reply["From"] == SENDER
    assert reply["To"] == AUTHOR
    # reply to all: the list and the maintainer the patch went to, then who already answered
    assert reply["Cc"] == ("Max Maintainer <max@example.org>, foo-devel@lists.example.org, "
                           "Rob Reviewer <rob@example.org>")
    assert reply["In-Reply-To"] == "<20250303100000.1-2-ann@example.org>"
    assert reply["References"] == f"<{COVER}> <20250303100000.1-2-ann@example.org>"
    assert reply["Message-ID"] is None  # git send-email makes one


def test_mail_cc_names_each_address_once():
    review = make_review()
    patch = review.series.patches[0]
    patch.replies.append(Reply("r2@example.org", "Max <MAX@example.org>", "", "Re: x", "Hm."))
    assert mail.replies(review, SENDER)[0]["Cc"] == (
        "Max Maintainer <max@example.org>, foo-devel@lists.example.org, "
        "Rob Reviewer <rob@example.org>")


def test_mail_subject_carries_the_revision():
    review = make_review()
    review.series.revision = 2
    assert mail.replies(review, SENDER)[1]["Subject"] == (
        "Re: [PATCH v2 2/3] foo: keep the backing flag while a backing file is in use")


def test_mail_body_quotes_the_hunk_down_to_the_finding_and_asks():
    body = mail.replies(make_review(), SENDER)[1].get_content()
    assert body.splitlines() == [
        f"On 2025-03-03 10:00:02 +0000, {AUTHOR} wrote:",
        "[ ... ]",
        "> diff --git a/drivers/foo/mode.c b/drivers/foo/mode.c",
        "> index 9a8b7c6..5e4d3c2 100644",
        "> --- a/drivers/foo/mode.c",
        "> +++ b/drivers/foo/mode.c",
        "> @@ -25,9 +25,14 @@ int foo_cache_open(struct foo_dev *fd, struct foo_file *ff)",
        ">  \tspin_lock(&fd->lock);",
        ">  \tff->mode = FOO_CACHED;",
        ">  \tspin_unlock(&fd->lock);",
        ">  \treturn 0;",
        ">  }",
        ">",
        "> +void foo_backing_start(struct foo_dev *fd)",
        "> +{",
        "> +\tset_bit(FOO_BACKING, &fd->flags);",
        "",
        "Where is this undone? `FOO_BACKING` is set in foo_backing_start and",
        "cleared nowhere in the series.",
        "",
        f"  {BACKING_EVIDENCE[0]}",
        f"  {BACKING_EVIDENCE[1]}",
        "",
        "(state-imbalance, medium)",
        "",
        "[ ... ]",
        "",
        *mail.SIGNATURE.splitlines(),
    ]


def test_mail_trims_the_hunks_between_the_file_header_and_the_finding():
    review = make_review(findings=[make_review().findings[1]])
    body = mail.replies(review, SENDER)[0].get_content().splitlines()
    assert body[1:9] == [
        "[ ... ]",
        "> diff --git a/drivers/foo/core.c b/drivers/foo/core.c",
        "> index 1a2b3c4..5d6e7f8 100644",
        "> --- a/drivers/foo/core.c",
        "> +++ b/drivers/foo/core.c",
        "[ ... ]",
        "> @@ -40,15 +41,17 @@ static int foo_mmap(struct foo_file *ff)",
        ">  {",
    ]


def test_mail_asks_each_finding_below_its_line_and_quotes_short_gaps():
    body = mail.replies(make_review(), SENDER)[0].get_content().splitlines()
    first = body.index("Does this write need the lock? `fd->stats.calls` is written without")
    second = body.index("Can this check race with a concurrent change? `ff->mode` is read without")
    assert body[first - 2:second] == [
        "> +\tfd->stats.calls++;",
        "",
        "Does this write need the lock? `fd->stats.calls` is written without",
        "`foo_dev.lock`.",
        "",
        "(unlocked-write, low)",
        "",
        ">  \treturn fd->mode;",
        ">  }",
        ">",
        "> @@ -40,15 +41,17 @@ static int foo_mmap(struct foo_file *ff)",
        ">  {",
        ">  \tstruct foo_dev *fd = ff->dev;",
        ">  \tint err;",
        ">",
        ">  \t/*",
        ">  \t * The first mapping switches the device to cached mode;",
        ">  \t * later ones find it there already and must not count",
        ">  \t * themselves again.",
        ">  \t */",
        "> -\terr = foo_cache_open(fd, ff);",
        "> -\tif (err)",
        "> -\t\treturn err;",
        "> +\tif (READ_ONCE(ff->mode) != FOO_CACHED) {",
        "",
    ]


def test_mail_trims_a_long_stretch_inside_a_hunk():
    added = [f"+\tstats->slot[{i}] = 0;" for i in range(20)]
    diff = ("diff --git a/drivers/foo/stats.c b/drivers/foo/stats.c\n"
            "new file mode 100644\nindex 0000000..1234567\n"
            "--- /dev/null\n+++ b/drivers/foo/stats.c\n@@ -0,0 +1,23 @@\n"
            "+void foo_stats_reset(struct foo_stats *stats)\n+{\n" + "\n".join(added) + "\n+}\n")
    review = make_review(findings=[Finding("unlocked-write", "high", "drivers/foo/stats.c", 22,
                                           "foo_stats_reset", "`stats->slot` is written unlocked",
                                           patch=3)])
    review.series.patches[2].diff = diff
    body = mail.replies(review, SENDER)[0].get_content().splitlines()
    hunk = body.index("> @@ -0,0 +1,23 @@")
    assert body[hunk + 1:hunk + 9] == ["[ ... ]", *[f"> {line}" for line in added[-6:]], ""]


def test_mail_comments_land_on_their_lines_for_b4():
    """b4 review reads a reply's comments back onto diff lines (sashiko's inline_review)."""
    replies = mail.replies(make_review(), SENDER)
    assert [[(c["path"], c["line"], c["text"].split("?")[0])
             for c in _extract_comments_from_quoted_reply(reply.get_content())]
            for reply in replies] == [
        [("b/drivers/foo/core.c", 15, "Does this write need the lock"),
         ("b/drivers/foo/core.c", 50, "Can this check race with a concurrent change")],
        [("b/drivers/foo/mode.c", 33, "Where is this undone")]]


def test_mail_asks_about_a_line_outside_the_hunks_with_its_location():
    review = make_review(findings=[Finding(
        "refcount-leak", "high", "drivers/foo/mode.c", 90, "foo_get", "the error path keeps the "
        "reference", ["foo_get takes a reference at drivers/foo/mode.c:85"], patch=2)])
    body = mail.replies(review, SENDER)[0].get_content().splitlines()
    assert body[:6] == [
        f"On 2025-03-03 10:00:02 +0000, {AUTHOR} wrote:",
        "[ ... ]",
        "",
        "Does this path leak a reference? the error path keeps the reference.",
        "",
        "  drivers/foo/mode.c:90, in foo_get(), outside this patch's hunks",
    ]


def test_mail_mbox_stream_reads_back_as_the_replies(tmp_path):
    path = tmp_path / "replies.mbox"
    path.write_text(mail.mbox(mail.replies(make_review(), SENDER)))
    box = mailbox.mbox(path)
    assert [(m["Subject"], m["In-Reply-To"]) for m in box] == [
        ("Re: [PATCH 1/3] foo: map without reopening the cache",
         "<20250303100000.1-2-ann@example.org>"),
        ("Re: [PATCH 2/3] foo: keep the backing flag while a backing file is in use",
         "<20250303100000.1-3-ann@example.org>")]
    assert "> +\tset_bit(FOO_BACKING, &fd->flags);" in box[1].get_payload()


def test_mail_eml_names_follow_format_patch():
    reply = mail.replies(make_review(), SENDER)[1]
    assert mail.eml_name(2, reply) == "0002-re-foo-keep-the-backing-flag-while-a-backing-file-is-in.eml"


def test_mail_for_a_patch_without_message_id_starts_its_own_thread():
    review = make_review()
    review.series.patches[1].msgid = None
    reply = mail.replies(review, SENDER)[1]
    assert (reply["In-Reply-To"], reply["References"]) == (None, None)
    assert reply["Subject"] == "Re: [PATCH 2/3] foo: keep the backing flag while a backing file is in use"
