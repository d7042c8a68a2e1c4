"""`reviewbot ci` against real servers on 127.0.0.1: a forge API of our own in GitHub's and
GitLab's shapes, a patchwork stand-in, and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
import mailbox
import re
import socket
import ssl
import subprocess
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest

from fakeforge import FakeForge
from fixture_repo import IDENTITY, MINIFS, git, make_minifs_repo
from reviewbot import cli
from reviewbot.diffmap import DiffLines
from reviewbot.findings import Finding
from reviewbot.forges import carried_line, comments, diff_patch
from reviewbot.review import Review
from reviewbot.series import Patch, Series

PLANTED = [MINIFS / "planted" / name for name in (
    "check-then-act-mmap.patch", "lock-imbalance-count-writers.patch",
    "unlocked-write-cached-start.patch")]
CLEAN = MINIFS / "clean" / "locked-helper.patch"
TOKEN = "ghp-very-secret-token"
REPO = "/repos/owner/minifs"


@pytest.fixture
def branch(tmp_path):
    """The minifs base, then three planted bugs and a clean patch on `topic`."""
    (tmp_path / "none").mkdir()
    repo = make_minifs_repo(tmp_path / "repo", tmp_path / "none").path
    git(repo, "am", "-q", "--3way", *map(str, PLANTED), str(CLEAN), env=IDENTITY)
    return repo


def commits(repo: Path) -> list[str]:
    return git(repo, "rev-list", "--reverse", "base..topic").split()


def github_env(monkeypatch, forge, tmp_path, event_name, event, token=TOKEN):
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(event))
    for name, value in {"GITHUB_API_URL": forge.url, "GITHUB_REPOSITORY": "owner/minifs",
                        "GITHUB_TOKEN": token, "GITHUB_EVENT_NAME": event_name,
                        "GITHUB_EVENT_PATH": str(event_file), "GITHUB_SHA": "0" * 40}.items():
        monkeypatch.setenv(name, value)


def ci(repo: Path, *args: str) -> int:
    return cli.main(["ci", "--tree", str(repo), *args])


def pull_request(repo: Path) -> dict:
    return {"pull_request": {"number": 7, "head": {"sha": git(repo, "rev-parse", "topic")}}}


# GitHub: pull request

def test_pull_request_gets_one_review_and_one_summary_however_often_it_runs(
        branch, tmp_path, monkeypatch, capsys):
    with FakeForge(f"Bearer {TOKEN}") as forge:
        github_env(monkeypatch, forge, tmp_path, "pull_request", pull_request(branch))
        assert ci(branch, "--base", "base", "--post", "github", "--fail-on", "never") == 0
        assert ci(branch, "--base", "base", "--post", "github", "--fail-on", "never") == 0
        out = capsys.readouterr()
    (review,) = forge.items(f"{REPO}/pulls/7/reviews")
    assert review["commit_id"] == git(branch, "rev-parse", "topic")
    assert review["event"] == "COMMENT"
    inline = review["comments"]
    assert sorted((c["path"], c["rule"]) for c in
                  [{**c, "rule": re.search(r"`([a-z-]+)` in", c["body"])[1]} for c in inline]) == [
        ("file.c", "check-then-act"), ("file.c", "lock-imbalance"), ("iomode.c", "unlocked-write")]
    pr_diff = subprocess.run(["git", "-C", str(branch), "diff", "base...topic"],
                             capture_output=True, text=True, check=True).stdout
    lines = DiffLines.of(diff_patch(pr_diff))
    for comment in inline:
        assert comment["side"] == "RIGHT"
        assert lines.index_of(comment["path"], comment["line"]) is not None
    unlocked = next(c for c in inline if c["path"] == "iomode.c")
    # line 59 after its patch; the clean patch after it moves it to where the head has it
    head_text = git(branch, "show", "topic:iomode.c").splitlines()
    assert head_text[unlocked["line"] - 1].strip() == "ff->iomode = IOM_CACHED;"
    (summary,) = forge.items(f"{REPO}/issues/7/comments")
    assert "<!-- reviewbot:summary -->" in summary["body"]
    assert summary["body"].count("(inline)") == 3
    posts = [(r.method, r.path) for r in forge.posts()]
    assert posts == [("POST", f"{REPO}/pulls/7/reviews"), ("POST", f"{REPO}/issues/7/comments")]
    assert {r.auth for r in forge.requests} == {f"Bearer {TOKEN}"}
    assert TOKEN not in out.out + out.err


def test_a_fixed_finding_is_marked_in_the_summary(branch, tmp_path, monkeypatch):
    with FakeForge(f"Bearer {TOKEN}") as forge:
        github_env(monkeypatch, forge, tmp_path, "pull_request", pull_request(branch))
        ci(branch, "--base", "base", "--post", "github")
        # the author drops the patch with the unlocked write and pushes again
        git(branch, "rebase", "-q", "--onto", "topic~2", "topic~1", "topic", env=IDENTITY)
        github_env(monkeypatch, forge, tmp_path, "pull_request", pull_request(branch))
        ci(branch, "--base", "base", "--post", "github")
    assert len(forge.items(f"{REPO}/pulls/7/reviews")) == 1
    (summary,) = forge.items(f"{REPO}/issues/7/comments")
    assert [r.method for r in forge.posts()] == ["POST", "POST", "PATCH"]
    current, fixed = summary["body"].split("Fixed since an earlier run:")
    assert "~~**high** `unlocked-write`" in fixed and "~~ fixed" in fixed
    assert current.count("(inline)") == 2 and "unlocked-write" not in current


def test_the_cap_sends_the_rest_to_the_summary(branch, tmp_path, monkeypatch):
    with FakeForge(f"Bearer {TOKEN}") as forge:
        github_env(monkeypatch, forge, tmp_path, "pull_request", pull_request(branch))
        ci(branch, "--base", "base", "--post", "github", "--max-inline", "0")
    assert forge.items(f"{REPO}/pulls/7/reviews") == []
    (summary,) = forge.items(f"{REPO}/issues/7/comments")
    assert summary["body"].count("(only here)") == 3


def test_rate_limits_and_server_errors_are_waited_out(branch, tmp_path, monkeypatch):
    with FakeForge(f"Bearer {TOKEN}") as forge:
        forge.fail = [(429, {"Retry-After": "1"}, {"message": "slow down"}),
                      (403, {"X-RateLimit-Remaining": "0", "Retry-After": "0"},
                       {"message": "API rate limit exceeded"}),
                      (502, {}, {"message": "bad gateway"})]
        github_env(monkeypatch, forge, tmp_path, "pull_request", pull_request(branch))
        assert ci(branch, "--base", "base", "--post", "github", "--fail-on", "never") == 0
    first, second, third, fourth = forge.requests[:4]
    assert first.path == second.path == third.path == fourth.path
    assert second.at - first.at >= 1.0  # Retry-After: 1
    assert len(forge.items(f"{REPO}/pulls/7/reviews")) == 1


@pytest.mark.parametrize("token, refusal, message", [
    ("Bearer the-right-token", None, "401 Bad credentials"),
    (f"Bearer {TOKEN}", (403, {}, {"message": "Resource not accessible by integration"}),
     "403 Resource not accessible by integration")])
def test_a_refusing_server_is_a_one_line_error_and_exit_2(branch, tmp_path, monkeypatch, capsys,
                                                          token, refusal, message):
    with FakeForge(token) as forge:
        forge.fail = [refusal] if refusal else []
        github_env(monkeypatch, forge, tmp_path, "pull_request", pull_request(branch))
        assert ci(branch, "--base", "base", "--post", "github") == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"reviewbot: github: GET {REPO}/pulls/7/comments: {message} "
                                "(check the token and what it may do)"]
    assert TOKEN not in err
    assert forge.posts() == []


# GitHub: push

def test_push_gets_a_comment_on_each_commit_that_brings_a_finding(branch, tmp_path, monkeypatch):
    with FakeForge(f"Bearer {TOKEN}") as forge:
        github_env(monkeypatch, forge, tmp_path, "push", {})
        ci(branch, "--base", "base", "--post", "github")
        ci(branch, "--base", "base", "--post", "github")
    shas = commits(branch)
    for sha, path in zip(shas[:3], ["file.c", "file.c", "iomode.c"]):
        (comment,) = forge.items(f"{REPO}/commits/{sha}/comments")
        assert comment["path"] == path and comment["position"] > 0
        assert "<!-- reviewbot:" in comment["body"]
    assert forge.items(f"{REPO}/commits/{shas[3]}/comments") == []  # the clean patch
    assert len(forge.posts()) == 3


# GitLab

def gitlab_env(monkeypatch, forge, mr: str | None):
    monkeypatch.setenv("CI_API_V4_URL", forge.url + "/api/v4")
    monkeypatch.setenv("CI_PROJECT_ID", "42")
    monkeypatch.setenv("REVIEWBOT_GITLAB_TOKEN", TOKEN)
    if mr:
        monkeypatch.setenv("CI_MERGE_REQUEST_IID", mr)
    else:
        monkeypatch.delenv("CI_MERGE_REQUEST_IID", raising=False)


def test_merge_request_gets_discussions_and_one_summary_note(branch, monkeypatch):
    refs = {"base_sha": git(branch, "rev-parse", "base"), "start_sha": git(branch, "rev-parse", "base"),
            "head_sha": git(branch, "rev-parse", "topic")}
    with FakeForge(TOKEN, diff_refs=refs) as forge:
        gitlab_env(monkeypatch, forge, "3")
        ci(branch, "--base", "base", "--post", "gitlab")
        ci(branch, "--base", "base", "--post", "gitlab")
    mr = "/api/v4/projects/42/merge_requests/3"
    discussions = forge.items(f"{mr}/discussions")
    assert len(discussions) == 3
    for discussion in discussions:
        position = discussion["notes"][0]["position"]
        assert {k: position[k] for k in refs} == refs
        assert position["position_type"] == "text" and position["new_line"] > 0
    (note,) = forge.items(f"{mr}/notes")
    assert "<!-- reviewbot:summary -->" in note["body"]
    assert len(forge.posts()) == 4
    assert {r.auth for r in forge.requests} == {TOKEN}


def test_merge_request_summary_note_is_edited_when_a_finding_goes(branch, monkeypatch):
    with FakeForge(TOKEN, diff_refs={"base_sha": "b", "start_sha": "b", "head_sha": "h"}) as forge:
        gitlab_env(monkeypatch, forge, "3")
        ci(branch, "--base", "base", "--post", "gitlab")
        git(branch, "rebase", "-q", "--onto", "topic~2", "topic~1", "topic", env=IDENTITY)
        ci(branch, "--base", "base", "--post", "gitlab")
    mr = "/api/v4/projects/42/merge_requests/3"
    assert [(r.method, r.path) for r in forge.posts()][-1] == ("PUT", f"{mr}/notes/4")
    (note,) = forge.items(f"{mr}/notes")
    assert "~~**high** `unlocked-write`" in note["body"].split("Fixed since an earlier run:")[1]


def test_a_run_that_dies_half_way_is_completed_by_the_next(branch, monkeypatch, capsys):
    refs = {"base_sha": "b", "start_sha": "b", "head_sha": git(branch, "rev-parse", "topic")}
    with FakeForge(TOKEN, diff_refs=refs) as forge:
        gitlab_env(monkeypatch, forge, "3")
        forge.fail_post = {2: (400, {}, {"message": "line_code can't be blank"})}
        assert ci(branch, "--base", "base", "--post", "gitlab") == 2
        assert "gitlab: POST /projects/42/merge_requests/3/discussions: 400 line_code" in \
            capsys.readouterr().err
        mr = "/api/v4/projects/42/merge_requests/3"
        assert len(forge.items(f"{mr}/discussions")) == 1
        ci(branch, "--base", "base", "--post", "gitlab")
    bodies = [d["notes"][0]["body"] for d in forge.items(f"{mr}/discussions")]
    assert len(bodies) == 3 and len(set(bodies)) == 3
    assert len(forge.items(f"{mr}/notes")) == 1


def test_branch_pipeline_gets_commit_comments(branch, monkeypatch):
    with FakeForge(TOKEN) as forge:
        gitlab_env(monkeypatch, forge, None)
        ci(branch, "--base", "base", "--post", "gitlab")
    sha = commits(branch)[2]
    (comment,) = forge.items(f"/api/v4/projects/42/repository/commits/{sha}/comments")
    assert comment["path"] == "iomode.c" and comment["line_type"] == "new"
    assert git(branch, "show", f"{sha}:iomode.c").splitlines()[comment["line"] - 1].strip() == \
        "ff->iomode = IOM_CACHED;"


# grouping and line carrying, on hand-built data

def test_repeats_of_one_rule_in_one_function_are_one_comment():
    patch = Patch(1, 1, "s", "a", "d", None, "", "")
    found = [Finding("unlocked-read", "medium", "a.c", line, "f", "m", subject=str(line),
                     patch=1) for line in (10, 20)]
    found.append(Finding("unlocked-read", "medium", "a.c", 30, "g", "m", patch=1))
    review = Review(Series("x", "x", patches=[patch]), "tree", None, found)
    grouped = comments(review)
    assert [len(c.findings) for c in grouped] == [2, 1]
    assert "line(s) 20 of `a.c`" in grouped[0].body()


def test_carried_line_follows_later_patches():
    later = diff_patch("diff --git a/a.c b/a.c\n--- a/a.c\n+++ b/a.c\n@@ -2,2 +2,3 @@\n"
                       " two\n+new\n three\n@@ -9,2 +10,1 @@\n nine\n-ten\n")
    assert carried_line("a.c", 1, [later]) == ("a.c", 1)
    assert carried_line("a.c", 3, [later]) == ("a.c", 4)
    assert carried_line("a.c", 10, [later]) is None
    assert carried_line("a.c", 20, [later]) == ("a.c", 20)
    assert carried_line("b.c", 3, [later]) == ("b.c", 3)


# patchwork and mail: the series as sent

def sent_series(repo: Path, tmp_path: Path) -> Path:
    """The branch as git send-email would send it: threaded, to the list, one mbox."""
    mbox = tmp_path / "series.mbox"
    mbox.write_text(git(repo, "format-patch", "--stdout", "--thread", "--cover-letter",
                        "--to", "minifs@lists.example.org", "--cc", "maintainer@example.org",
                        "base..topic") + "\n")
    return mbox


def message_ids(mbox: Path) -> list[str]:
    return [m["Message-ID"].strip("<>") for m in mailbox.mbox(str(mbox))]


def test_patchwork_gets_one_check_per_patch(branch, tmp_path, monkeypatch):
    mbox = sent_series(branch, tmp_path)
    ids = message_ids(mbox)[1:]  # the patches, the cover letter left out
    config = tmp_path / "ci.toml"
    with FakeForge("Token pw-token", patchwork_patches={m: 100 + i for i, m in enumerate(ids)}) as pw:
        config.write_text(f'[patchwork]\nurl = "{pw.url}/api/1.2"\n'
                          '[web]\nurl = "https://reviews.example.org"\n')
        monkeypatch.setenv("REVIEWBOT_PATCHWORK_TOKEN", "pw-token")
        args = [str(mbox), "--base", "base", "--post", "patchwork", "--ci-config", str(config)]
        ci(branch, *args)
        ci(branch, *args)
    checks = {pid: pw.items(f"/api/1.2/patches/{pid}/checks") for pid in range(100, 104)}
    assert [[c["state"] for c in checks[pid]] for pid in range(100, 104)] == [
        ["fail"], ["fail"], ["fail"], ["success"]]
    first = checks[100][0]
    assert first["context"] == "reviewbot"
    assert first["description"] == "1 new finding(s), 1 high or above; 0 fixed"
    cover = message_ids(mbox)[0]
    assert first["target_url"] == f"https://reviews.example.org/r/{cover}"


@pytest.fixture
def smtp_server(tmp_path, monkeypatch):
    """An SMTP server on 127.0.0.1 that wants STARTTLS (with a certificate made here, which
    the client is told to trust) before a login (bot / smtp-pw)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    class Inbox:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append((envelope.rcpt_tos, envelope.content))
            return "250 OK"

    def authenticator(server, session, envelope, mechanism, auth_data):
        # handled=False: aiosmtpd answers a failure with 535 itself
        return AuthResult(success=(auth_data.login, auth_data.password) == (b"bot", b"smtp-pw"),
                          handled=False)

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    inbox = Inbox()
    with socket.socket() as probe:  # aiosmtpd wants a port number: take one that is free
        probe.bind(("127.0.0.1", 0))
        inbox.port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port, tls_context=tls,
                            require_starttls=True, authenticator=authenticator)
    controller.start()
    yield inbox
    controller.stop()


def test_mail_bot_sends_a_threaded_reply_once(branch, tmp_path, monkeypatch, smtp_server, capsys):
    mbox = sent_series(branch, tmp_path)
    ids = message_ids(mbox)
    config = tmp_path / "ci.toml"
    config.write_text(f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_server.port}\nstarttls = true\n'
                      'user = "bot"\n[mail]\nfrom = "reviewbot <bot@example.org>"\n'
                      'lists = ["minifs@lists.example.org"]\n')
    monkeypatch.setenv("REVIEWBOT_SMTP_PASSWORD", "smtp-pw")
    args = [str(mbox), "--base", "base", "--post", "mail", "--ci-config", str(config)]
    ci(branch, *args)  # without --send: printed only
    assert smtp_server.messages == []
    assert capsys.readouterr().out.count("\nIn-Reply-To: ") == 3
    ci(branch, *args, "--send")
    ci(branch, *args, "--send")
    assert len(smtp_server.messages) == 3
    recipients, content = smtp_server.messages[0]
    reply = message_from_bytes(content, policy=default_policy)
    assert reply["Subject"].startswith("Re: [PATCH 1/4] minifs: ")
    assert reply["In-Reply-To"] == f"<{ids[1]}>"
    assert reply["References"] == f"<{ids[0]}> <{ids[1]}>"
    assert "fixtures@reviewbot.invalid" in reply["To"]
    assert "minifs@lists.example.org" in reply["Cc"] and "maintainer@example.org" in reply["Cc"]
    assert "minifs@lists.example.org" in recipients
    assert "smtp-pw" not in capsys.readouterr().out


def test_a_refused_smtp_login_is_a_one_line_error(branch, tmp_path, monkeypatch, smtp_server,
                                                  capsys):
    mbox = sent_series(branch, tmp_path)
    config = tmp_path / "ci.toml"
    config.write_text(f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_server.port}\nuser = "bot"\n'
                      '[mail]\nfrom = "bot@example.org"\nlists = ["minifs@lists.example.org"]\n')
    monkeypatch.setenv("REVIEWBOT_SMTP_PASSWORD", "not-the-password")
    assert ci(branch, str(mbox), "--base", "base", "--post", "mail", "--ci-config", str(config),
              "--send") == 2
    out = capsys.readouterr()
    assert out.err.splitlines() == [
        f"reviewbot: smtp 127.0.0.1:{smtp_server.port}: login refused: 535"]
    assert "not-the-password" not in out.out + out.err
    assert smtp_server.messages == []


def test_mail_to_a_list_not_opted_in_is_not_sent(branch, tmp_path, smtp_server):
    mbox = sent_series(branch, tmp_path)
    config = tmp_path / "ci.toml"
    config.write_text(f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_server.port}\nstarttls = false\n'
                      '[mail]\nfrom = "bot@example.org"\nlists = ["other@lists.example.org"]\n')
    ci(branch, str(mbox), "--base", "base", "--post", "mail", "--ci-config", str(config), "--send")
    assert smtp_server.messages == []


def test_unknown_setting_in_the_ci_config_is_a_one_line_error(branch, tmp_path, capsys):
    config = tmp_path / "ci.toml"
    config.write_text('[smtp]\nhots = "x"\n')
    assert ci(branch, "--base", "base", "--post", "none", "--ci-config", str(config)) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"reviewbot: {config}: [smtp]: unknown key 'hots' (known: host, password_env, port, "
        "starttls, user)"]


def test_sarif_is_written_for_code_scanning(branch, tmp_path):
    sarif = tmp_path / "out.sarif"
    assert ci(branch, "--base", "base", "--post", "none", "--sarif", str(sarif)) == 1
    results = json.loads(sarif.read_text())["runs"][0]["results"]
    assert len(results) == 3
