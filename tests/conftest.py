"""Shared test fixtures. Every test runs with its own HOME, XDG dirs and git config, so no
test reads or writes the real user's config or caches."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SEED_MBOX = FIXTURES / "seed" / "fuse-passthrough-fixes.mbox"
SEED_COVER = "20240407155758.575216-1-amir73il@gmail.com"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    for var, sub in [("HOME", ""), ("XDG_CONFIG_HOME", ".config"),
                     ("XDG_CACHE_HOME", ".cache"), ("XDG_DATA_HOME", ".local/share")]:
        path = home / sub
        path.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(var, str(path))
    gitconfig = home / ".gitconfig"
    gitconfig.write_text("[user]\n\tname = reviewbot tests\n\temail = tests@reviewbot.invalid\n"
                         "[init]\n\tdefaultBranch = main\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("REVIEWBOT_LORE_URL", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(var, raising=False)
    yield home
