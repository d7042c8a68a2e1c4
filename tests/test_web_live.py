"""A real `reviewbot serve` on 127.0.0.1: driven by headless Chromium (Playwright), asked by
b4's own review-service client, and in --demo mode serving the seed from the fixtures.

The browser test needs Debian's chromium (never a browser Playwright downloads); it skips
without one, except in CI (env CI set), where .ci/run installs it and a skip would hide a
broken page."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from email.message import EmailMessage
from pathlib import Path

import pytest

from conftest import ROOT, SEED_COVER, SEED_MBOX
from fakelore import FakeLore

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = ROOT / "test-artifacts"
SEED_PATCH_1 = SEED_COVER.replace("-1-", "-2-")


class Server:
    """`reviewbot serve ARGS --port 0` in a child process; `url` once it listens."""

    def __init__(self, tmp_path: Path, *args: str):
        self.log = tmp_path / "serve.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "reviewbot", "serve", "--port", "0",
             "--data", str(tmp_path / "data"), *args],
            stdout=subprocess.PIPE, stderr=self.log.open("w"), text=True)
        self.lines = []
        for line in self.process.stdout:
            self.lines.append(line)
            found = re.search(r"serving on (http://\S+?)/? ", line)
            if found:
                self.url = found.group(1)
                break
        else:
            raise AssertionError(f"reviewbot serve did not start: {self.log.read_text()}")

    def read_line(self) -> str:
        line = self.process.stdout.readline()
        self.lines.append(line)
        return line

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


@pytest.fixture
def served(tmp_path):
    with FakeLore([SEED_MBOX]) as lore:
        server = Server(tmp_path, "--lore-url", lore.url)
        yield server
        server.stop()


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def wait_reviewed(url: str, msgid: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = get_json(f"{url}/api/status?id={msgid}")
        except urllib.error.HTTPError:
            status = {"status": "none"}
        if status["status"] not in ("none", "queued", "fetching", "reviewing"):
            return status
        time.sleep(0.3)
    raise AssertionError(f"no review of {msgid} within {timeout}s")


def browser_or_skip():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("playwright is not installed")
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            raise AssertionError(f"{CHROMIUM} is missing: .ci/run installs it")
        pytest.skip(f"no {CHROMIUM}")
    return sync_playwright


def test_a_browser_pastes_the_seed_and_reads_its_review(served, tmp_path):
    sync_playwright = browser_or_skip()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            errors = []
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
            page.goto(served.url + "/")
            page.fill("#msgid", SEED_COVER)
            page.click("button[type=submit]")
            # the page polls while the review runs, then shows it
            page.wait_for_selector(".finding", timeout=120_000)
            finding = page.locator(".finding", has_text="fuse_file_mmap()").first
            assert "check-then-act" in finding.inner_text()
            # inline: the row above the finding is fs/fuse/file.c's line 2580, an added line
            line_above = finding.evaluate(
                "el => { const row = el.closest('tr').previousElementSibling;"
                " return [row.className, row.cells[1].innerText, row.cells[2].innerText]; }")
            assert line_above[0] == "added" and line_above[1] == "2580"
            assert "READ_ONCE(ff->iomode) != IOM_CACHED" in line_above[2]
            patch_1 = page.locator("#patch-1")
            table = patch_1.locator("table.mutations", has_text="fuse_file_mmap()")
            assert table.is_visible() and "fuse_file.iomode" in table.inner_text()
            reply = patch_1.locator(".reply", has_text="Miklos Szeredi").first
            assert reply.is_visible()
            assert page.locator("svg.transitions").first.is_visible()
            page.locator("#patch-1 h2").scroll_into_view_if_needed()
            ARTIFACTS.mkdir(exist_ok=True)
            for target in (ARTIFACTS / "series-page.png", tmp_path / "series-page.png"):
                page.screenshot(path=str(target), full_page=True)
            finding.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "series-finding.png"))
            # the rule's doc is one click away
            finding.locator("a.rule").click()
            page.wait_for_selector("article.rule-doc")
            assert "What it finds." in page.inner_text("article.rule-doc")
            # b4's links to a review service (URL/#/message/<msgid>) land on the series
            page.goto(f"{served.url}/#/message/{SEED_PATCH_1}")
            page.wait_for_url(f"{served.url}/r/**")
            assert "FUSE passthrough fixes" in page.inner_text("h1")
            assert errors == []  # no script error, nothing the CSP blocked
        finally:
            browser.close()


def test_b4_review_client_sees_the_finding_as_a_failure(served):
    from b4.review.checks import _run_builtin_sashiko, clear_sashiko_cache

    patch = EmailMessage()
    patch["Message-ID"] = f"<{SEED_PATCH_1}>"
    deadline = time.monotonic() + 120
    while True:
        clear_sashiko_cache()  # b4 asks once per series and run; each poll is a new run
        results = _run_builtin_sashiko(patch, served.url)
        assert len(results) == 1
        if results[0]["summary"] not in ("Review pending", "Review in review") or \
                time.monotonic() > deadline:
            break
        time.sleep(0.3)
    result = results[0]
    assert result["status"] == "fail" and result["summary"] == "1 high"
    details = json.loads(result["details"])
    assert details[0]["locations"] == [{"file": "fs/fuse/file.c", "line": 2580}]
    assert "check-then-act" in details[0]["description"]
    assert result["url"].startswith(f"{served.url}/#/patchset/")


def test_demo_serves_the_seed_from_the_fixtures_and_prints_its_page(tmp_path):
    server = Server(tmp_path, "--demo")
    try:
        line = server.read_line()
        page_url = re.search(r"(http://\S+/r/\S+)", line).group(1)
        assert page_url.startswith(server.url)
        with urllib.request.urlopen(page_url, timeout=30) as response:
            assert response.status == 200  # the review starts
        msgid = urllib.parse.unquote(page_url.rsplit("/r/", 1)[1])
        assert msgid == SEED_COVER
        assert wait_reviewed(server.url, msgid)["status"] == "reviewed"
        with urllib.request.urlopen(page_url, timeout=30) as response:
            page = response.read().decode()
        assert "fuse_file_mmap()" in page and "check-then-act" in page
    finally:
        server.stop()


def test_serve_refuses_bad_options_with_one_line(tmp_path):
    (tmp_path / "a-file").write_text("")
    for args, problem in [(["--data", str(tmp_path / "a-file")], "cannot keep reviews here"),
                          (["--workers", "0"], "--workers must be at least 1"),
                          (["--demo", "--lore-url", "http://127.0.0.1:1/all"], "leave out --lore-url")]:
        done = subprocess.run([sys.executable, "-m", "reviewbot", "serve", "--port", "0", "--data",
                               str(tmp_path / "data"), *args], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 2 and problem in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


def test_serve_on_a_port_in_use_says_so(served, tmp_path):
    port = served.url.rsplit(":", 1)[1]
    done = subprocess.run([sys.executable, "-m", "reviewbot", "serve", "--port", port, "--data",
                           str(tmp_path / "other")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and f"127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


def post_json(url: str, payload: dict) -> int:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_a_server_killed_mid_review_resumes_the_job_when_it_starts_again(tmp_path):
    """kill -9 while a review fetches: the store (SQLite, WAL) keeps the job, and the next
    server on the same data directory runs it to the end, once."""
    status_url = "/api/status?id=" + urllib.parse.quote(SEED_COVER)
    with FakeLore([SEED_MBOX], delay=60) as slow:
        first = Server(tmp_path, "--lore-url", slow.url)
        try:
            assert post_json(f"{first.url}/api/review", {"id": SEED_COVER}) == 202
            deadline = time.monotonic() + 30
            while get_json(first.url + status_url)["status"] != "fetching":
                assert time.monotonic() < deadline, "the job never started fetching"
                time.sleep(0.1)
        finally:
            first.process.kill()  # SIGKILL: no clean-up of any kind
            first.process.wait()
            first.process.stdout.close()
    with FakeLore([SEED_MBOX]) as lore:
        second = Server(tmp_path, "--lore-url", lore.url)
        try:
            deadline = time.monotonic() + 120
            while get_json(second.url + status_url)["status"] != "reviewed":
                assert time.monotonic() < deadline, "the job was not run again"
                time.sleep(0.2)
            document = get_json(second.url + "/api/review?id=" + urllib.parse.quote(SEED_COVER))
        finally:
            second.stop()
    assert any(f["rule"] == "check-then-act" and f["line"] == 2580 for f in document["findings"])
