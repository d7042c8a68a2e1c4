"""`reviewbot check`, `rules` and `explain` as a user runs them: output, files, exit status."""

from __future__ import annotations

import json
import mailbox
import os
import re
import stat
from pathlib import Path

import jsonschema
import pytest
from b4.review._review import _extract_comments_from_quoted_reply  # b4's reader of list replies

from conftest import SEED_COVER, SEED_MBOX
from fixture_repo import make_minifs_repo
from reviewbot import cli
from reviewbot.checks import RULES
from reviewbot.commands.check import failing
from reviewbot.findings import FIXED, NEW, PREEXISTING, Finding
from reviewbot.review import HUNK_ONLY_NOTE, Review
from reviewbot.series import Series

SARIF_SCHEMA = Path(__file__).resolve().parents[2] / "shared" / "schemas" / "sarif-schema-2.1.0.json"
SEED_PATCH1 = "20240407155758.575216-2-amir73il@gmail.com"
MMAP_LINE = 2580  # `if (READ_ONCE(ff->iomode) != IOM_CACHED) {` in fs/fuse/file.c after 1/3


def review_with(*findings: Finding) -> Review:
    return Review(Series("x.mbox", "x"), "hunk-only", None, list(findings))


def finding(severity: str, status: str = NEW) -> Finding:
    return Finding("unlocked-write", severity, "a.c", 3, "f", "m", status=status,
                   patch=None if status == PREEXISTING else 1)


# --fail-on, on hand-built reviews

@pytest.mark.parametrize("fail_on, expected", [
    ("critical", 0), ("high", 1), ("medium", 2), ("low", 3), ("never", 0)])
def test_fail_on_counts_new_findings_at_or_above_the_level(fail_on, expected):
    review = review_with(finding("high"), finding("medium"), finding("low"), finding("info"))
    assert len(failing(review, fail_on)) == expected


def test_fail_on_ignores_fixed_and_preexisting_findings():
    review = review_with(finding("critical", FIXED), finding("critical", PREEXISTING))
    assert failing(review, "low") == []


# usage and input errors

def test_unknown_fail_on_level_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["check", str(SEED_MBOX), "--fail-on", "sometimes"])
    assert exit_info.value.code == 2
    assert "--fail-on: invalid choice: 'sometimes'" in capsys.readouterr().err


def test_missing_source_is_one_line_and_exit_2(tmp_path, capsys):
    missing = tmp_path / "nothing.mbox"
    assert cli.main(["check", str(missing)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"reviewbot: {missing}: ")
    assert err.count("\n") == 1


# rules and explain

def test_rules_lists_every_rule_with_its_severity_and_summary(capsys):
    assert cli.main(["rules"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["rule", "severity", "finds"]
    assert [line.split()[:2] for line in lines[1:]] == [
        [name, RULES[name].severity] for name in sorted(RULES)]
    then_act = next(line for line in lines if line.startswith("check-then-act "))
    assert then_act.endswith(RULES["check-then-act"].summary)


def test_explain_prints_the_rule_doc(capsys):
    assert cli.main(["explain", "state-imbalance"]) == 0
    out = capsys.readouterr().out
    assert out == RULES["state-imbalance"].doc.strip() + "\n\nDefault severity: medium.\n"


def test_explain_unknown_rule_lists_the_known_ones(capsys):
    assert cli.main(["explain", "deadlock"]) == 2
    assert capsys.readouterr().err == (
        "reviewbot: deadlock: no such rule; known rules: check-then-act, lock-imbalance, "
        "refcount-leak, state-imbalance, unlocked-read, unlocked-write\n")


# the seed thread, end to end (hunk-only, built-in fuse profile)

def check(capsys, *args) -> tuple[int, str, str]:
    status = cli.main(["check", str(SEED_MBOX), *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_seed_text_reports_check_then_act_in_mmap(capsys):
    status, out, err = check(capsys)
    assert status == 1
    lines = out.splitlines()
    head = next(line for line in lines if "[check-then-act]" in line)
    assert head.startswith(f"fs/fuse/file.c:{MMAP_LINE}: high: ")
    assert head.endswith("[check-then-act] (patch 1/3)")
    start = lines.index(head) + 1
    evidence = lines[start:next(i for i in range(start, len(lines)) if not lines[i].startswith("    "))]
    assert any("fuse_inode.lock" in line and "fs/fuse/iomode.c:" in line for line in evidence)
    summary = next(i for i, line in enumerate(lines) if " pre-existing, " in line)
    assert re.fullmatch(r"\d+ new, \d+ pre-existing, \d+ fixed, \d+ suppressed; hunk-only mode",
                        lines[summary])
    assert lines[summary + 1] == f"note: {HUNK_ONLY_NOTE}"


def test_seed_tables_show_the_new_lockless_read_in_mmap(capsys):
    lines = check(capsys, "--tables")[1].splitlines()
    table = lines.index("fs/fuse/file.c: fuse_file_mmap (patch 1/3)")
    assert lines[table + 1:table + 3] == [
        "     line  field             op                locks",
        f"  +  {MMAP_LINE}  fuse_file.iomode  read [READ_ONCE]  ?"]
    assert "fuse_file.iomode" in lines


def test_seed_json_finding_and_mmap_table(capsys):
    status, out, _ = check(capsys, "--format", "json")
    assert status == 1
    doc = json.loads(out)
    assert doc["schema"] == 1 and doc["mode"] == "hunk-only"
    mmap = [f for f in doc["findings"] if f["rule"] == "check-then-act"]
    assert [(f["file"], f["line"], f["function"], f["status"], f["patch"]) for f in mmap] == [
        ("fs/fuse/file.c", MMAP_LINE, "fuse_file_mmap", "new", 1)]
    table = next(t for t in doc["functions"] if t["function"] == "fuse_file_mmap" and t["patch"] == 1)
    assert {"key": "fuse_file.iomode", "op": "read", "line": MMAP_LINE, "marks": ["READ_ONCE"],
            "change": "added"}.items() <= next(r for r in table["rows"] if r["line"] == MMAP_LINE).items()


def test_seed_sarif_validates(capsys):
    if not SARIF_SCHEMA.is_file():
        pytest.skip(f"the official SARIF 2.1.0 schema is not at {SARIF_SCHEMA} (read in place, "
                    "never copied into the project)")
    status, out, _ = check(capsys, "--format", "sarif", "--all")
    assert status == 1
    doc = json.loads(out)
    jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(doc)
    assert any(r["ruleId"] == "check-then-act" and r["level"] == "error"
               for r in doc["runs"][0]["results"])


def test_seed_mail_replies_to_patch_1(capsys, tmp_path):
    status, out, _ = check(capsys, "--format", "mail")
    assert status == 1
    path = tmp_path / "replies.mbox"
    path.write_text(out)
    first = mailbox.mbox(path)[0]
    assert first["Subject"] == ("Re: [PATCH 1/3] fuse: fix wrong ff->iomode state changes from "
                                "parallel dio write")
    assert first["In-Reply-To"] == f"<{SEED_PATCH1}>"
    assert first["References"] == f"<{SEED_COVER}> <{SEED_PATCH1}>"
    assert first["From"] == "reviewbot tests <tests@reviewbot.invalid>"
    assert first["To"] == "Amir Goldstein <amir73il@gmail.com>"
    body = first.get_payload().splitlines()
    quoted = body.index("> +\t\tif (READ_ONCE(ff->iomode) != IOM_CACHED) {")
    assert body[quoted + 1] == ""
    assert body[quoted + 2].startswith("Can this check race with a concurrent change?")
    assert "[ ... ]" in body[:quoted]
    comments = _extract_comments_from_quoted_reply(first.get_payload())
    assert [(c["path"], c["line"]) for c in comments] == [("b/fs/fuse/file.c", MMAP_LINE)]


def test_seed_fail_on_never_exits_0(capsys):
    assert check(capsys, "--fail-on", "never")[0] == 0


def test_config_is_read_from_the_top_of_the_tree(capsys, tmp_path):
    repo = make_minifs_repo(tmp_path / "repo")
    (repo.path / ".reviewbot.toml").write_text("profiles = [\n")
    (repo.path / "docs").mkdir()
    status = cli.main(["check", "--tree", str(repo.path / "docs"), "base..topic"])
    out, err = capsys.readouterr()
    assert (status, out) == (2, "")
    assert err.startswith(f"reviewbot: {repo.path / '.reviewbot.toml'}: invalid TOML: ")


def test_output_file_gets_what_stdout_would(capsys, tmp_path):
    _, expected, _ = check(capsys, "--format", "json")
    target = tmp_path / "review.json"
    status, out, _ = check(capsys, "--format", "json", "--output", str(target))
    assert (status, out) == (1, "")
    assert target.read_text() == expected
    assert [p.name for p in tmp_path.iterdir()] == ["review.json"]  # no temporary left


def test_output_into_a_missing_directory_is_exit_2_and_writes_nothing(capsys, tmp_path):
    target = tmp_path / "no-such-dir" / "review.json"
    status, out, err = check(capsys, "--output", str(target))
    assert (status, out) == (2, "")
    assert err.startswith(f"reviewbot: {target}: ") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", [".", "reports"])
def test_output_onto_a_directory_is_exit_2(capsys, tmp_path, monkeypatch, name):
    (tmp_path / "reports").mkdir()
    monkeypatch.chdir(tmp_path)
    status, out, err = check(capsys, "--output", name)
    assert (status, out, err) == (2, "", f"reviewbot: {name}: Is a directory\n")
    assert [p.name for p in tmp_path.iterdir()] == ["reports"]
    assert list((tmp_path / "reports").iterdir()) == []


def test_output_under_a_file_is_exit_2(capsys, tmp_path):
    (tmp_path / "plain").write_text("")
    target = tmp_path / "plain" / "review.txt"
    status, out, err = check(capsys, "--output", str(target))
    assert (status, out, err) == (2, "", f"reviewbot: {target}: Not a directory\n")


def test_output_into_a_pipe_writes_into_it(capsys, tmp_path):
    _, expected, _ = check(capsys, "--format", "json")
    fifo = tmp_path / "review.fifo"
    os.mkfifo(fifo)
    # a reader that is there already, so the writer does not wait for one; the report fits in
    # the pipe's buffer
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        status, out, _ = check(capsys, "--format", "json", "--output", str(fifo))
        received = os.read(reader, 1 << 20).decode()
    finally:
        os.close(reader)
    assert (status, out, received) == (1, "", expected)
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # still the pipe, not a file renamed over it
    assert [p.name for p in tmp_path.iterdir()] == ["review.fifo"]


def test_output_through_a_symlink_replaces_the_file_it_names(capsys, tmp_path):
    _, expected, _ = check(capsys, "--format", "json")
    (tmp_path / "review.json").write_text("old")
    (tmp_path / "link.json").symlink_to("review.json")
    check(capsys, "--format", "json", "--output", str(tmp_path / "link.json"))
    assert (tmp_path / "link.json").is_symlink()
    assert (tmp_path / "review.json").read_text() == expected


def test_mail_output_is_a_directory_of_eml_files(capsys, tmp_path):
    target = tmp_path / "replies"
    status, _, _ = check(capsys, "--format", "mail", "--output", str(target))
    assert status == 1
    names = sorted(p.name for p in target.iterdir())
    assert names[0] == "0001-re-fuse-fix-wrong-ff-iomode-state-changes-from-parallel.eml"
    assert [p.name for p in tmp_path.iterdir()] == ["replies"]
