"""A version after a patch takes from the version before it what the patch does not reach:
the result is the same as analysing the version from scratch, function by function."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixture_repo import MINIFS, make_minifs_repo

from reviewbot.c import analyze
from reviewbot.sources import load_series
from reviewbot.workspace import build_workspace

PATCHES = sorted((MINIFS / "planted").glob("*.patch")) + sorted((MINIFS / "clean").glob("*.patch"))
C_FILES = sorted(p.name for p in (MINIFS / "base").iterdir() if p.suffix in (".c", ".h"))


def view(program):
    """What the checks read of every function, and the summaries."""
    functions = {path: [(fn.name, fn.accesses, fn.calls, fn.lock_ops, fn.exits, fn.unheld_releases)
                        for fn in facts.functions] for path, facts in program.files.items()}
    return functions, program.summaries


@pytest.mark.parametrize("patch", PATCHES, ids=[p.stem for p in PATCHES])
def test_a_version_built_on_the_one_before_is_the_same_as_one_built_afresh(patch: Path, tmp_path):
    repo = make_minifs_repo(tmp_path / "minifs", patches_dir=tmp_path)
    series = load_series([str(patch)], tree=str(repo.path))
    workspace = build_workspace(series, tree=str(repo.path), base=repo.base)
    before = analyze({path: workspace.version(path, 0) for path in C_FILES})
    after_files = {path: workspace.version(path, 1) for path in C_FILES}
    built_on = analyze(after_files, previous=before)
    afresh = analyze(after_files, use_cache=False)
    assert view(built_on) == view(afresh)
    # stored as what differs from the version before: read back with it, or on its own
    assert view(analyze(after_files, previous=before)) == view(afresh)
    assert view(analyze(after_files)) == view(afresh)
    # and it did not walk everything again: functions the patch does not reach are taken over
    taken = [fn for path in C_FILES for fn in built_on.files[path].functions
             if any(fn is old for old in before.files[path].functions)]
    assert taken
