"""The hostile corpus (tests/corpus/cases.toml): each input gives its documented exit status
and message, no traceback, within a bounded time and memory."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from hostile import MEMORY_GROWTH, Tally, check_outcome, max_rss, run_cli

CORPUS = Path(__file__).resolve().parent / "corpus"
CASES = tomllib.loads((CORPUS / "cases.toml").read_text(encoding="utf-8"))["case"]
TALLY = Tally("hostile corpus")
START_RSS = max_rss()


def case_params() -> list:
    return [pytest.param(case, id=case["input"],
                         marks=[pytest.mark.xfail(reason=case["known"], strict=True)]
                         if "known" in case else [])
            for case in CASES]


@pytest.mark.parametrize("case", case_params())
def test_hostile_input(case):
    path = str(CORPUS / case["input"])
    for command in case["commands"]:
        outcome = run_cli(command, path)
        TALLY.add(outcome, Path(path).suffix)
        check_outcome(outcome)
        assert outcome.status == case["exit"], (command, outcome)
        if case["exit"] == 2:
            assert outcome.err == f"reviewbot: {case['error'].format(input=path)}\n", command
            assert outcome.out == ""
        elif command == case["commands"][0]:
            assert case["stdout"] in outcome.out.splitlines(), (command, outcome.out)


def test_every_corpus_file_has_a_case_and_the_counts_are_printed(capsys):
    """Runs last in this module: the tally covers every case above."""
    named = {case["input"] for case in CASES}
    files = {p.name for p in CORPUS.iterdir() if p.name != "cases.toml"}
    assert files == named
    assert max_rss() - START_RSS < MEMORY_GROWTH
    with capsys.disabled():
        print(f"\n{TALLY.report()}")
