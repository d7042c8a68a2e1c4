"""reviewbot.service: one entry point from a source spec to a Review, with progress, time
limits, cancellation and typed errors; and the CLI's exit codes on top of it."""

from __future__ import annotations

import sys
import threading

import pytest

from conftest import SEED_COVER, SEED_MBOX
from fakelore import FakeLore
from reviewbot import cli, service
from reviewbot.errors import Cancelled, InputError, NotFound, TimedOut
from reviewbot.findings import NEW
from reviewbot.service import SourceSpec

SEED = SourceSpec((str(SEED_MBOX),))


def test_review_of_the_seed_reports_steps_in_order():
    steps = []
    review = service.review(SEED, progress=lambda step, done, total: steps.append((step, done, total)))
    names = list(dict.fromkeys(step for step, _, _ in steps))
    assert names == [service.FETCHING, service.APPLYING, service.PARSING, service.CHECKING]
    # one parse and one check per version: the base and after each of the three patches
    assert [(d, t) for s, d, t in steps if s == service.CHECKING] == [(k, 4) for k in range(4)]
    assert {f.rule for f in review.findings if f.status == NEW} >= {"check-then-act"}
    assert review.tree is None and review.mode == "hunk-only"


def test_load_gives_the_series_without_reviewing_it():
    steps = []
    loaded = service.load(SEED, progress=lambda step, done, total: steps.append(step))
    assert loaded.series.cover_msgid == SEED_COVER
    assert loaded.workspace.patch_count == 3
    assert service.CHECKING not in steps


def test_a_spent_time_limit_stops_the_review_with_a_typed_error():
    with pytest.raises(TimedOut) as raised:
        service.review(SEED, time_limit=1e-9)
    assert raised.value.http_status == 504
    assert "took longer than its limit" in raised.value.problem


def test_cancelling_stops_the_review_at_the_next_step():
    cancel = threading.Event()
    seen = []

    def progress(step, done, total):
        seen.append(step)
        if step == service.PARSING:
            cancel.set()  # the caller gives up while the review parses

    with pytest.raises(Cancelled):
        service.review(SEED, progress=progress, cancel=cancel)
    assert service.CHECKING not in seen


def test_errors_carry_what_a_caller_acts_on(tmp_path):
    with pytest.raises(NotFound) as missing:
        service.review(SourceSpec((str(tmp_path / "none.mbox"),)))
    assert missing.value.http_status == 404
    with pytest.raises(InputError) as bad:
        service.review(SourceSpec(("<>",)))
    assert bad.value.http_status == 400


def test_a_lore_review_runs_through_the_service_in_threads():
    """Two reviews at once in one process, as a web server runs them: same result as one."""
    with FakeLore([SEED_MBOX]) as lore:
        spec = SourceSpec((SEED_COVER,), lore_url=lore.url)
        results = [None, None]

        def run(i):
            results[i] = service.review(spec)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    fingerprints = [sorted(f.fingerprint for f in r.findings) for r in results]
    assert fingerprints[0] == fingerprints[1] and fingerprints[0]


def test_review_leaves_the_recursion_limit_as_it_found_it_after_raising_it_once():
    service.review(SEED)
    limit = sys.getrecursionlimit()
    service.review(SEED)
    assert sys.getrecursionlimit() == limit


def test_an_internal_error_exits_3_with_one_line_and_a_hint(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(service, "review_series", broken)
    assert cli.main(["check", str(SEED_MBOX)]) == cli.EXIT_INTERNAL
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "internal error: ZeroDivisionError" in err and "--debug" in err
    assert cli.main(["--debug", "check", str(SEED_MBOX)]) == cli.EXIT_INTERNAL
    assert "Traceback" in capsys.readouterr().err


def test_an_unreachable_archive_exits_2(capsys):
    with FakeLore([SEED_MBOX]) as lore:
        url = lore.url
    assert cli.main(["check", "--lore-url", url, "--lore-timeout", "2", SEED_COVER]) == 2
    assert capsys.readouterr().err == (f"reviewbot: {SEED_COVER}: cannot reach {url}: Connection "
                                       "refused (check --lore-url and the network)\n")
