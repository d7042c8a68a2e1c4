"""The web application through Flask's test client: every route, its statuses and errors, the
store and the job pool behind them, and a hostile thread rendered escaped and within limits.
Reviews fetch from a fake lore on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import threading

import pytest

from conftest import SEED_COVER, SEED_MBOX
from fakelore import FakeLore
from reviewbot import service
from reviewbot.diffmap import DiffLines
from reviewbot.errors import InputError
from reviewbot.findings import FIXED, PREEXISTING
from reviewbot_web import create_app
from reviewbot_web.jobs import JobQueue, Settings
from reviewbot_web.store import FAILED, NEWEST, REVIEWED, REVIEWING, Store
from webthreads import (HOSTILE_COVER, HOSTILE_PATCH, IMG, RLO, SCRIPT, hostile_thread,
                        seed_with_v2)

SEED_PATCH_1 = SEED_COVER.replace("-1-", "-2-")
SEED_PATCH_3 = SEED_COVER.replace("-1-", "-4-")
UNKNOWN = "no-such-message@example.com"


@pytest.fixture
def lore():
    with FakeLore([SEED_MBOX]) as fake:
        yield fake


def make_app(tmp_path, lore_url, **config):
    return create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data"), "LORE_URL": lore_url,
                       **config})


@pytest.fixture
def app(tmp_path, lore):
    app = make_app(tmp_path, lore.url)
    yield app
    app.extensions["reviewbot"].jobs.shutdown()


@pytest.fixture
def client(app):
    return app.test_client()


def finished(app, msgid, revision=NEWEST):
    """The job of `msgid` once it is done."""
    services = app.extensions["reviewbot"]
    job = services.store.find(msgid, revision)
    assert job is not None, f"no job for {msgid}"
    job = services.jobs.join(job, timeout=120)
    assert not job.running
    return job


def csrf(client) -> str:
    page = client.get("/").get_data(as_text=True)
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def reviewed_page(client, app, msgid=SEED_COVER, query=""):
    client.get(f"/r/{msgid}{query}")
    finished(app, msgid)
    response = client.get(f"/r/{msgid}{query}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


# ---- the paste box and the feed ----

def test_index_has_the_paste_form_and_a_strict_content_security_policy(client):
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'name="id"' in page and 'name="csrf"' in page
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "<script>" not in page  # the page's only script is a file
    assert response.headers["X-Frame-Options"] == "DENY"


def test_paste_without_the_csrf_token_is_refused(client, app):
    response = client.post("/", data={"id": SEED_COVER})
    assert response.status_code == 400
    assert "form expired" in response.get_data(as_text=True)
    assert app.extensions["reviewbot"].store.find(SEED_COVER) is None  # nothing started
    response = client.post("/", data={"id": SEED_COVER, "csrf": "forged"})
    assert response.status_code == 400


def test_paste_of_a_bad_id_returns_the_form_with_the_problem(client):
    token = csrf(client)
    for text, problem in [("no at sign", "spaces"), ("x" * 300 + "@a.b", "too long"),
                          ("a..b@x", "not a message-id"), ("<>", "empty message-id"),
                          ("https://lore.kernel.org/all/", "no message-id in this URL")]:
        response = client.post("/", data={"id": text, "csrf": token})
        assert response.status_code == 400, text
        assert problem in response.get_data(as_text=True), text
    response = client.post("/", data={"id": SEED_COVER, "v": "x", "csrf": token})
    assert response.status_code == 400 and "not a revision" in response.get_data(as_text=True)


def test_paste_of_a_lore_url_starts_the_review_and_redirects_to_its_page(client, app, lore):
    response = client.post("/", data={"id": f"https://lore.kernel.org/linux-fsdevel/{SEED_COVER}/T/#u",
                                      "csrf": csrf(client)})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/r/{SEED_COVER}"
    assert finished(app, SEED_COVER).status == REVIEWED
    # only the configured archive was asked, never the host of the pasted URL
    assert lore.requests and all(path.startswith("/all/") for _, path in lore.requests)
    feed = client.get("/").get_data(as_text=True)
    assert "FUSE passthrough fixes" in feed and "Amir Goldstein" in feed
    assert "1 high" in feed and "1 medium" in feed and ">reviewed<" in feed


# ---- the series page ----

def test_series_page_shows_the_review_with_the_finding_inline_at_its_line(client, app):
    page = reviewed_page(client, app)
    # the check-then-act finding sits in patch 1's diff right under fs/fuse/file.c:2580
    review = app.extensions["reviewbot"].store.review(finished(app, SEED_COVER).id)
    patch = review.series.patches[0]
    index = DiffLines.of(patch).index_of("fs/fuse/file.c", 2580)
    finding = next(f for f in review.findings if f.rule == "check-then-act")
    row = page.index(f'<tr id="p1-{index}"')
    box = page.index(f'id="f-{finding.fingerprint}"')
    assert row < box < page.index(f'<tr id="p1-{index + 1}"')
    assert page[row:box].count("<tr ") == 2  # the line itself, then the findings row
    section = page[box:page.index("</div>", page.index('class="evidence"', box))]
    assert "fuse_file_mmap()" in section
    assert 'href="/rules/check-then-act"' in section
    assert f'href="#p1-{index}">fs/fuse/file.c:2580</a>' in section  # evidence links its line
    # the mutation table of the function, C colouring, the transition diagram, the replies
    assert "<code>fuse_file_mmap()</code></caption>" in page
    assert '<span class="t-k">return</span>' in page
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert "IOM_CACHED" in svg and 'class="arc' in svg and "+ fuse_file_cached_io_open" in svg
    patch_1 = page[page.index('id="patch-1"'):page.index('id="patch-2"')]
    assert patch_1.count('class="reply"') == 6 and "Miklos Szeredi" in patch_1
    assert "Cover letter" in page and "hunk-only" in page


def test_any_patch_of_the_series_finds_its_review(client, app, lore):
    reviewed_page(client, app)
    fetches = len(lore.requests)
    response = client.get(f"/r/{SEED_PATCH_3}")
    assert response.status_code == 200
    assert "FUSE passthrough fixes" in response.get_data(as_text=True)
    assert len(lore.requests) == fetches  # no second job, no second fetch


def test_a_running_review_shows_progress_and_a_second_request_joins_it(tmp_path):
    with FakeLore([SEED_MBOX], delay=1.0) as slow:
        app = make_app(tmp_path, slow.url)
        client = app.test_client()
        try:
            first = client.get(f"/r/{SEED_COVER}")
            assert first.status_code == 200
            page = first.get_data(as_text=True)
            assert 'id="progress"' in page and "data-status-url=" in page
            assert client.get(f"/r/{SEED_COVER}").status_code == 200  # joins
            status = client.get(f"/api/status?id={SEED_COVER}").get_json()
            assert status["status"] in ("queued", "fetching", "reviewing")
            assert finished(app, SEED_COVER).status == REVIEWED
            assert len([p for _, p in slow.requests if p.endswith("t.mbox.gz")]) == 1
        finally:
            app.extensions["reviewbot"].jobs.shutdown()


def test_revisions_are_selectable_and_the_newest_is_the_default(tmp_path):
    with FakeLore([seed_with_v2(tmp_path / "v2.mbox")]) as lore:
        app = make_app(tmp_path, lore.url)
        client = app.test_client()
        try:
            newest = reviewed_page(client, app)
            assert "v2 · 3 patches" in newest
            client.get(f"/r/{SEED_COVER}?v=1")
            assert finished(app, SEED_COVER, 1).status == REVIEWED
            first = client.get(f"/r/{SEED_COVER}?v=1").get_data(as_text=True)
            assert "v1 · 3 patches" in first
            client.get(f"/r/{SEED_COVER}?v=7")
            assert finished(app, SEED_COVER, 7).status == FAILED
            missing = client.get(f"/r/{SEED_COVER}?v=7")
            assert missing.status_code >= 400 and "no v7" in missing.get_data(as_text=True)
            assert client.get(f"/r/{SEED_COVER}?v=abc").status_code == 400
        finally:
            app.extensions["reviewbot"].jobs.shutdown()


def test_an_unknown_message_fails_with_what_to_do(client, app):
    client.get(f"/r/{UNKNOWN}")
    job = finished(app, UNKNOWN)
    assert job.status == FAILED and job.error_kind == "not-found"
    response = client.get(f"/r/{UNKNOWN}")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "no such message" in page and "Check it for typos" in page and "Try again" in page


def test_a_bad_id_in_the_url_is_refused_before_anything_runs(client, app):
    for bad in ["%3Cscript%3E@x", "a%20b@x", "nothing-at-all", "..%2F..%2Fetc@x", "x" * 400 + "@y"]:
        response = client.get(f"/r/{bad}")
        assert response.status_code == 400, bad
    assert app.extensions["reviewbot"].store.recent() == []


def test_a_thread_that_breaks_the_analyser_is_a_failed_job_not_a_traceback(client, app, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(service, "review_series", broken)
    client.get(f"/r/{SEED_COVER}")
    job = finished(app, SEED_COVER)
    assert job.status == FAILED and job.error_kind == "internal"
    response = client.get(f"/r/{SEED_COVER}")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "bug in reviewbot" in page and "Traceback" not in page and "secret internals" not in page
    monkeypatch.undo()
    # asking again (the form's Try again) reviews it afresh
    response = client.post("/", data={"id": SEED_COVER, "csrf": csrf(client)})
    assert response.status_code == 303
    assert finished(app, SEED_COVER).status == REVIEWED


def test_a_review_past_its_time_limit_fails_as_timed_out(tmp_path):
    with FakeLore([SEED_MBOX], delay=2.0) as slow:
        app = make_app(tmp_path, slow.url, JOB_TIME_LIMIT=0.5)
        client = app.test_client()
        try:
            client.get(f"/r/{SEED_COVER}")
            job = finished(app, SEED_COVER)
            assert job.error_kind == "timed-out"
            assert client.get(f"/r/{SEED_COVER}").status_code == 504
        finally:
            app.extensions["reviewbot"].jobs.shutdown()


def test_too_many_waiting_jobs_are_refused(tmp_path):
    with FakeLore([SEED_MBOX], delay=1.0) as slow:
        app = make_app(tmp_path, slow.url, WORKERS=1, MAX_QUEUED=1)
        client = app.test_client()
        try:
            assert client.get(f"/r/{SEED_COVER}").status_code == 200
            busy = client.get(f"/r/{UNKNOWN}")
            assert busy.status_code == 503 and "busy" in busy.get_data(as_text=True)
            assert client.post("/api/review", json={"id": UNKNOWN}).status_code == 503
        finally:
            app.extensions["reviewbot"].jobs.shutdown()


def test_requests_over_the_size_limit_are_refused(client):
    response = client.post("/", data={"id": "x" * 100_000})
    assert response.status_code == 413


def test_rule_pages(client):
    index = client.get("/rules/")
    assert index.status_code == 200 and 'href="/rules/check-then-act"' in index.get_data(as_text=True)
    doc = client.get("/rules/check-then-act").get_data(as_text=True)
    assert "<strong>What it finds.</strong>" in doc and "<pre>" in doc
    assert client.get("/rules/no-such-rule").status_code == 404


def test_unknown_pages_and_methods_answer_with_a_page(client):
    response = client.get("/nowhere")
    assert response.status_code == 404 and "<h1>404</h1>" in response.get_data(as_text=True)
    assert client.delete("/").status_code == 405
    assert client.get("/api/nowhere").get_json()["status"] == "error"


def test_b4_patchset_links_land_on_the_series(client, app):
    reviewed_page(client, app)
    job = finished(app, SEED_COVER)
    response = client.get(f"/patchset/{job.id}")
    assert response.status_code == 302 and response.headers["Location"] == f"/r/{SEED_COVER}"
    assert client.get("/patchset/999999").status_code == 404


def test_an_expired_review_says_so_with_a_404_and_is_reviewed_again_on_request(client, app):
    from reviewbot_web.retention import DAY, prune

    reviewed_page(client, app)
    store = app.extensions["reviewbot"].store
    assert prune(store, 90, store.find(SEED_COVER).updated + 91 * DAY).expired == 1
    for msgid in (SEED_COVER, SEED_PATCH_1):  # any message-id of the series
        response = client.get(f"/r/{msgid}")
        page = response.get_data(as_text=True)
        assert response.status_code == 404 and "This review has expired" in page
        assert f'name="id" value="{msgid}"' in page and "Request it again</button>" in page
    api = client.get(f"/api/review?id={SEED_COVER}")
    assert api.status_code == 404 and api.get_json()["error"]["kind"] == "expired"
    assert client.get(f"/api/patchset?id={SEED_COVER}").status_code == 404
    again = client.post("/", data={"csrf": csrf(client), "id": SEED_COVER})
    assert again.status_code == 303 and again.headers["Location"] == f"/r/{SEED_COVER}"
    assert finished(app, SEED_COVER).status == REVIEWED
    assert "check-then-act" in client.get(f"/r/{SEED_COVER}").get_data(as_text=True)


# ---- hostile input ----

def test_a_hostile_thread_renders_escaped(tmp_path):
    with FakeLore([hostile_thread(tmp_path / "hostile.mbox")]) as lore:
        app = make_app(tmp_path, lore.url)
        client = app.test_client()
        try:
            page = reviewed_page(client, app, HOSTILE_COVER)
            feed = client.get("/").get_data(as_text=True)
        finally:
            app.extensions["reviewbot"].jobs.shutdown()
    for html in (page, feed):
        assert SCRIPT not in html and IMG not in html and "<img" not in html and RLO not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "\u27e6U+202E\u27e7evil" in html  # the override shown, not obeyed
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in page  # in the diff and the mails
    assert page.count("<script") == 1  # the page's own app.js


def test_a_thread_over_the_size_limit_fails_with_a_short_page(tmp_path):
    ten_mb = 10 * 1024 * 1024
    with FakeLore([hostile_thread(tmp_path / "big.mbox", reply_bytes=ten_mb)]) as lore:
        app = make_app(tmp_path / "small", lore.url)
        big = make_app(tmp_path / "big", lore.url, MAX_THREAD_BYTES=16 * 1024 * 1024)
        try:
            client = app.test_client()
            client.get(f"/r/{HOSTILE_PATCH}")
            assert finished(app, HOSTILE_PATCH).error_kind == "bad-input"
            refused = client.get(f"/r/{HOSTILE_PATCH}")
            assert refused.status_code == 400 and len(refused.data) < 20_000
            assert "too large to review here" in refused.get_data(as_text=True)
            # with room for it, the review shows a page's worth of the long reply
            page = reviewed_page(big.test_client(), big, HOSTILE_PATCH)
            assert len(page) < 1_000_000 and "longer than a page shows" in page
            assert "<img" not in page and SCRIPT not in page
        finally:
            app.extensions["reviewbot"].jobs.shutdown()
            big.extensions["reviewbot"].jobs.shutdown()


# ---- APIs ----

def test_api_review_starts_joins_and_returns_the_json_document(client, app):
    started = client.post("/api/review", json={"id": f"<{SEED_COVER}>"})
    assert started.status_code in (200, 202)
    if started.status_code == 202:
        assert started.headers["Location"] == f"/api/review?id={SEED_COVER}"
        assert started.get_json()["status"] in ("queued", "fetching", "reviewing")
    finished(app, SEED_COVER)
    document = client.get(f"/api/review?id={SEED_PATCH_1}").get_json()
    assert document["schema"] == 1 and document["series"]["cover_msgid"] == SEED_COVER
    finding = next(f for f in document["findings"] if f["rule"] == "check-then-act")
    assert (finding["file"], finding["line"], finding["function"], finding["patch"]) == \
        ("fs/fuse/file.c", 2580, "fuse_file_mmap", 1)
    again = client.post("/api/review", json={"id": SEED_COVER})
    assert again.status_code == 200 and again.get_json()["summary"] == document["summary"]


def test_api_review_errors(client):
    assert client.post("/api/review", data="id=x").status_code == 415
    assert client.post("/api/review", json=["x"]).status_code == 400
    assert client.post("/api/review", json={"id": "not an id"}).status_code == 400
    assert client.post("/api/review", json={"id": SEED_COVER, "revision": 0}).status_code == 400
    missing = client.get(f"/api/review?id={SEED_COVER}")
    assert missing.status_code == 404 and "POST /api/review" in missing.get_json()["error"]["message"]
    assert client.get("/api/review?id=").status_code == 400
    assert client.get("/api/status?id=bad").status_code == 400
    assert client.get(f"/api/status?id={SEED_COVER}").status_code == 404


def test_api_review_of_a_failed_job_answers_with_its_error(client, app):
    client.post("/api/review", json={"id": UNKNOWN})
    finished(app, UNKNOWN)
    response = client.get(f"/api/review?id={UNKNOWN}")
    assert response.status_code == 404
    error = response.get_json()["error"]
    assert error["kind"] == "not-found" and "no such message" in error["message"]


def test_api_patchset_in_the_shape_b4_reads(client, app):
    pending = client.get(f"/api/patchset?id={SEED_PATCH_1}")
    assert pending.status_code == 200
    assert pending.get_json()["status"] in ("Pending", "In Review", "Reviewed")
    finished(app, SEED_PATCH_1)
    data = client.get(f"/api/patchset?id={SEED_PATCH_3}").get_json()
    assert data["status"] == "Reviewed" and data["message_id"] == SEED_COVER
    assert [p["message_id"] for p in data["patches"]] == [
        SEED_COVER.replace("-1-", f"-{n}-") for n in (2, 3, 4)]
    by_patch = {r["patch_id"]: r for r in data["reviews"]}
    first = by_patch[data["patches"][0]["id"]]
    findings = json.loads(first["output"])["findings"]
    assert [(f["severity"], f["preexisting"], f["locations"]) for f in findings] == \
        [("high", False, [{"file": "fs/fuse/file.c", "line": 2580}])]
    assert "check-then-act" in findings[0]["problem"]
    assert "> +\t\tif (READ_ONCE(ff->iomode) != IOM_CACHED) {" in first["inline_review"]
    assert by_patch[data["patches"][1]["id"]]["inline_review"] == ""


def test_api_patchset_errors(client, app):
    client.get(f"/api/patchset?id={UNKNOWN}")
    finished(app, UNKNOWN)
    assert client.get(f"/api/patchset?id={UNKNOWN}").status_code == 404
    assert client.get("/api/patchset?id=<script>").status_code == 400


# ---- the store ----

def test_store_keys_reviews_by_analyser_version_and_finds_them_by_any_message(tmp_path):
    review = service.review(service.SourceSpec((str(SEED_MBOX),)))
    store = Store(tmp_path / "s.sqlite3", analyser="1")
    job = store.queue(SEED_COVER)
    store.finish(job.id, review)
    assert store.find(SEED_PATCH_3).id == job.id  # any message of the series
    assert store.find(SEED_PATCH_3, 1).id == job.id  # and its actual revision
    assert store.review(job.id).findings == review.findings
    assert Store(tmp_path / "s.sqlite3", analyser="2").find(SEED_COVER) is None


def test_jobs_a_stopped_server_left_run_again_at_the_next_start(tmp_path):
    """A server killed mid-job (or stopped with jobs waiting) leaves them queued or running in
    the store: the next server on that store runs them, and stores each review once."""
    with FakeLore([SEED_MBOX]) as lore:
        store = Store(tmp_path / "s.sqlite3", analyser="1")
        waiting = store.queue(SEED_COVER)
        store.progress(waiting.id, REVIEWING, "checking", 2, 4)  # as a killed server left it
        assert [job.id for job in store.left_running()] == [waiting.id]
        jobs = JobQueue(store, Settings(lore_url=lore.url))
        try:
            done = jobs.join(waiting, timeout=120)
        finally:
            jobs.shutdown()
    assert done.status == REVIEWED and done.id == waiting.id
    assert store.left_running() == []
    assert any(f.rule == "check-then-act" for f in store.review(done.id).findings)


def test_store_serves_threads_side_by_side(tmp_path):
    store = Store(tmp_path / "s.sqlite3", analyser="1")
    errors = []

    def work(n):
        try:
            for k in range(20):
                job = store.queue(f"{n}-{k}@x")
                store.progress(job.id, "reviewing", "parsing", k, 20)
        except Exception as err:  # collected: an exception in a thread would be lost
            errors.append(err)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(store.recent(limit=100)) == 80


# ---- what the service does for a server ----

def test_thread_limits_count_messages_and_bytes():
    seed = service.SourceSpec((str(SEED_MBOX),))
    with pytest.raises(InputError, match=r"10 messages \(the limit is 9\)"):
        service.load(seed, limits=service.Limits(messages=9))
    with pytest.raises(InputError, match=r"bytes of text \(the limit is 1000\)"):
        service.load(seed, limits=service.Limits(bytes=1000))
    assert service.load(seed, limits=service.Limits(messages=10)).series.cover_msgid == SEED_COVER


def test_an_id_naming_a_local_file_is_never_read_from_disk(client, app, tmp_path, monkeypatch):
    """A message-id that happens to be a path on the server is asked of the archive only."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "local@file").write_bytes(SEED_MBOX.read_bytes())
    client.get("/r/local@file")
    job = finished(app, "local@file")
    assert job.status == FAILED and job.error_kind == "not-found"


def test_a_server_with_a_tree_reviews_whole_files_at_the_series_base(tmp_path):
    from fixture_repo import BASE_DATE, BASE_DIR, IDENTITY, SERIES, git

    repo = tmp_path / "repo"  # the base commit only: the server applies the series itself
    shutil.copytree(BASE_DIR, repo)
    git(repo, "init", "-q", "-b", "base")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "minifs: base",
        env={**IDENTITY, "GIT_AUTHOR_DATE": BASE_DATE, "GIT_COMMITTER_DATE": BASE_DATE})
    thread = tmp_path / "minifs.mbox"
    thread.write_bytes(b"".join(p.read_bytes() for p in sorted(SERIES.glob("*.patch"))))
    cover = "cover.1767693600.git.fixtures@reviewbot.invalid"
    with FakeLore([thread]) as lore:
        app = make_app(tmp_path, lore.url, TREE=str(repo))
        try:
            page = reviewed_page(app.test_client(), app, cover)
        finally:
            app.extensions["reviewbot"].jobs.shutdown()
    assert "Mode: <strong>tree</strong>" in page
    assert f"base <code>{git(repo, 'rev-parse', 'base')}</code>" in page
    assert 'class="finding' not in page and "<span class=\"muted\">none</span>" in page
    assert "minifs_file_cached_io_open()</code></caption>" in page


def test_fixed_and_preexisting_findings_have_their_places(tmp_path, app, client):
    """A fixed finding sits at its line before the patch that fixes it (a removed line); a
    pre-existing one is listed apart."""
    review = service.review(service.SourceSpec((str(SEED_MBOX),)))
    high = next(f for f in review.findings if f.rule == "check-then-act")
    medium = next(f for f in review.findings if f.rule == "state-imbalance")
    # the same findings as if the base had them: 1/3 removes line 2578 of file.c (fixed), and
    # the state-imbalance stays through the series (pre-existing)
    review.findings = [dataclasses.replace(high, status=FIXED, line=2578, patch=1),
                       dataclasses.replace(medium, status=PREEXISTING, patch=None)]
    services = app.extensions["reviewbot"]
    job = services.store.queue("fixed@example.com")
    services.store.finish(job.id, review)
    page = client.get("/r/fixed@example.com").get_data(as_text=True)
    index = next(i for i, line in enumerate(DiffLines.of(review.series.patches[0]).lines)
                 if line.path == "fs/fuse/file.c" and line.old_line == 2578)
    row = page.index(f'<tr id="p1-{index}" class="removed">')
    assert row < page.index(f'id="f-{high.fingerprint}"') < page.index(f'<tr id="p1-{index + 1}"')
    preexisting = page[page.index('id="preexisting"'):]
    assert f'id="f-{medium.fingerprint}"' in preexisting and ">preexisting<" in preexisting


def test_page_cache_keeps_the_newest_pages_and_makes_each_once():
    from reviewbot_web.pages import PageCache

    cache, made = PageCache(size=2), []

    def maker(name):
        return lambda: made.append(name) or f"<p>{name}</p>"

    assert cache.get(("a",), maker("a")) == "<p>a</p>"
    assert cache.get(("a",), maker("a")) == "<p>a</p>"
    cache.get(("b",), maker("b"))
    cache.get(("a",), maker("a"))  # a is now the newest
    cache.get(("c",), maker("c"))  # b goes
    cache.get(("b",), maker("b"))
    assert made == ["a", "b", "c", "b"]


def test_concurrent_requests_for_one_series_make_one_job(tmp_path):
    """Twenty readers ask for one series at the same moment: one job,
    one fetch, one stored review."""
    with FakeLore([SEED_MBOX], delay=0.5) as slow:
        app = make_app(tmp_path, slow.url)
        barrier = threading.Barrier(20)
        answers = []

        def ask(k):
            client = app.test_client()
            barrier.wait()
            answers.append(client.post("/api/review", json={"id": SEED_COVER}).status_code)

        threads = [threading.Thread(target=ask, args=(k,)) for k in range(20)]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            job = finished(app, SEED_COVER)
        finally:
            app.extensions["reviewbot"].jobs.shutdown()
    assert sorted(set(answers)) == [202] and len(answers) == 20
    assert job.status == REVIEWED and job.runs == 1
    assert len([p for _, p in slow.requests if p.endswith("t.mbox.gz")]) == 1
