"""The on-disk cache's bound: it holds after many puts, the least recently used entries and
those of other code versions go first, a bad entry is a miss, and processes sharing the cache
never see half an entry. Real files in the test's own cache directory, real processes."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import pickle
import random
import sys
import time
from pathlib import Path

import pytest

from reviewbot import cli
from reviewbot.c import cache
from reviewbot.c.model import FileFacts, FunctionFacts
from reviewbot.errors import InputError
from reviewbot.knowledge.config import load_config

DAY = 24 * 3600


def digest(n: int) -> str:
    return hashlib.sha1(str(n).encode()).hexdigest()


def value(n: int, size: int = 3000) -> dict:
    """A value that pickles to about `size` bytes and knows whether it is whole."""
    payload = random.Random(n).randbytes(size)
    return {"n": n, "payload": payload, "sha": hashlib.sha1(payload).hexdigest()}


def disk_usage(root: Path) -> int:
    """What the cache's namespaces take on the disk, counted apart from the cache's own code."""
    return sum(os.lstat(os.path.join(d, f)).st_blocks * 512
               for area in root.iterdir() if area.is_dir()
               for d, _, files in os.walk(area) for f in files)


def entry_size(monkeypatch) -> int:
    """The disk bytes one test value takes here (a block, on most file systems)."""
    monkeypatch.setenv(cache.BOUND_ENV, str(1 << 40))
    cache.put(digest(-1), "probe", value(-1))
    size = os.stat(cache.entry_path(digest(-1), "probe")).st_blocks * 512
    cache.clear()
    return size


def age(n: int, seconds: float, namespace: str = "test") -> None:
    then = time.time() - seconds
    os.utime(cache.entry_path(digest(n), namespace), (then, then))


def test_the_bound_holds_after_many_puts(monkeypatch):
    bound = 64 * entry_size(monkeypatch)
    monkeypatch.setenv(cache.BOUND_ENV, str(bound))
    for n in range(500):
        cache.put(digest(n), "test", value(n))
        assert disk_usage(cache.cache_root()) <= bound
    assert disk_usage(cache.cache_root()) >= bound // 2  # evicted down to 3/4, then filled again
    assert cache.get(digest(499), "test") == value(499)  # the newest are kept
    assert cache.get(digest(0), "test") is None


def test_the_most_recently_read_entries_survive(monkeypatch):
    bound = 64 * entry_size(monkeypatch)
    monkeypatch.setenv(cache.BOUND_ENV, str(bound))
    for n in range(40):
        cache.put(digest(n), "test", value(n))
        age(n, 2 * DAY - 60 * n)  # entry 0 the oldest
    read = {0, 1, 2, 10, 20}
    for n in read:
        assert cache.get(digest(n), "test") == value(n)  # a read marks them used now
    for n in range(40, 70):
        cache.put(digest(n), "test", value(n))
    kept = {n for n in range(70) if cache.get(digest(n), "test") is not None}
    evicted = set(range(70)) - kept
    assert evicted, "the puts went past 7/8 of the bound: some entries must have gone"
    assert read | set(range(40, 70)) <= kept
    unread = sorted(set(range(40)) - read)
    assert sorted(evicted) == unread[:len(evicted)]  # the least recently used, in order


def test_a_read_marks_an_entry_used_at_most_once_an_hour():
    cache.put(digest(1), "test", value(1))
    path = cache.entry_path(digest(1), "test")
    age(1, 1800)
    before = os.stat(path).st_mtime
    cache.get(digest(1), "test")
    assert os.stat(path).st_mtime == before  # used half an hour ago: no write to the disk
    age(1, 7200)
    started = time.time()
    cache.get(digest(1), "test")
    assert os.stat(path).st_mtime >= started - 1


def test_other_code_versions_go_first(monkeypatch):
    size = entry_size(monkeypatch)
    for n in range(20):
        cache.put(digest(n), "test", value(n))
        age(n, DAY)
    other = cache.cache_root() / "test-0123456789ab"  # what another analyser stored, just now
    for n in range(100, 110):
        (other / digest(n)[:2]).mkdir(parents=True, exist_ok=True)
        (other / digest(n)[:2] / f"{digest(n)}.pickle").write_bytes(pickle.dumps(value(n)))
    cache.evict(24 * size)  # 30 entries, above 7/8 of 24: down to 18
    assert not other.exists()
    kept = {n for n in range(20) if cache.get(digest(n), "test") is not None}
    assert kept == set(range(20)) - {0, 1}  # then this version's oldest


def test_a_temporary_file_of_a_dead_put_is_removed_and_one_under_way_is_kept(monkeypatch):
    cache.put(digest(1), "test", value(1))
    shard = cache.entry_path(digest(1), "test").parent
    dead, under_way = shard / ".tmp-dead", shard / ".tmp-under-way"
    dead.write_bytes(b"half a pickle")
    under_way.write_bytes(b"half a pickle")
    os.utime(dead, (time.time() - DAY, time.time() - DAY))
    cache.evict(1 << 40)
    assert not dead.exists() and under_way.exists()
    assert cache.get(digest(1), "test") == value(1)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "directory"])
def test_a_damaged_entry_is_a_miss_not_a_crash(damage):
    facts = FileFacts(path="a.c", functions=[FunctionFacts(name="f", file="a.c", start_line=1, end_line=9)])
    cache.put(digest(1), "test", facts)
    path = cache.entry_path(digest(1), "test")
    whole = path.read_bytes()
    if damage == "directory":
        path.unlink()
        path.mkdir()
    else:
        path.write_bytes({"truncated": whole[: len(whole) // 2], "garbage": b"\x80\x05\x95junk",
                          "empty": b""}[damage])
    assert cache.get(digest(1), "test") is None
    if damage != "directory":
        cache.put(digest(1), "test", facts)
        assert cache.get(digest(1), "test") == facts


def _share_the_cache(writer: int, bound: int, failures) -> None:
    """Put and get the same keys as another process; any value read must be whole, and any
    file at an entry's path a whole pickle."""
    os.environ[cache.BOUND_ENV] = str(bound)
    rng = random.Random(writer)
    hits = 0
    for step in range(400):
        n = rng.randrange(12)
        if rng.random() < 0.5:
            cache.put(digest(n), "shared", value(n, rng.randrange(1000, 60000)))
            continue
        found = cache.get(digest(n), "shared")
        if found is not None:
            hits += 1
            if found["n"] != n or hashlib.sha1(found["payload"]).hexdigest() != found["sha"]:
                failures.put(f"step {step}: a wrong or partial value for key {n}")
        try:
            raw = cache.entry_path(digest(n), "shared").read_bytes()
        except FileNotFoundError:  # not written yet, or evicted
            continue
        try:
            pickle.loads(raw)
        except Exception as err:
            failures.put(f"step {step}: a partial entry on the disk for key {n}: {err!r}")
    if hits == 0:
        failures.put(f"writer {writer}: no value read back at all")


def test_two_processes_sharing_the_cache_never_see_half_an_entry(monkeypatch):
    bound = 40 * entry_size(monkeypatch)  # small: evictions run while the other process reads
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    failures = context.Queue()
    workers = [context.Process(target=_share_the_cache, args=(writer, bound, failures)) for writer in (1, 2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert [worker.exitcode for worker in workers] == [0, 0]
    found = []
    while not failures.empty():
        found.append(failures.get())
    assert found == []
    assert not [entry for entry in cache.entries() if entry.temporary]
    assert disk_usage(cache.cache_root()) <= bound + 60000 + 4096  # but for the last, biggest entry


def test_the_bound_comes_from_the_environment_then_the_user_config(monkeypatch, tmp_path):
    assert cache.max_bytes() == 2 << 30
    user = Path(os.environ["XDG_CONFIG_HOME"]) / "reviewbot" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text("[limits]\ncache_bytes = 1000000\n")
    assert cache.max_bytes() == 1000000
    monkeypatch.setenv(cache.BOUND_ENV, "5000")
    assert cache.max_bytes() == 5000
    monkeypatch.setenv(cache.BOUND_ENV, "2G")
    with pytest.raises(InputError, match="must be a whole number of bytes above 0, not '2G'"):
        cache.max_bytes()


def test_a_bad_bound_in_the_environment_stops_a_command_before_it_starts(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv(cache.BOUND_ENV, "lots")
    patch = tmp_path / "0001.patch"
    patch.write_text("not read: the command stops first")
    assert cli.main(["check", str(patch)]) == 2
    assert capsys.readouterr().err == (f"reviewbot: {cache.BOUND_ENV}: must be a whole number of "
                                       "bytes above 0, not 'lots'\n")
    assert not cache.cache_root().exists()


def test_a_tree_config_cannot_set_the_cache_bound(tmp_path):
    (tmp_path / ".reviewbot.toml").write_text("[limits]\ncache_bytes = 1000\n")
    with pytest.raises(InputError) as caught:
        load_config(str(tmp_path))
    assert caught.value.source == str(tmp_path / ".reviewbot.toml")
    assert "cache_bytes bounds this machine's cache: set it in the user config" in caught.value.problem


def test_the_cache_command_shows_the_cache_and_clears_it(capsys):
    cache.put(digest(1), "test", value(1))
    other = cache.cache_root() / "test-0123456789ab" / "00"
    other.mkdir(parents=True)
    (other / "00.pickle").write_bytes(b"x" * 5000)
    unrelated = cache.cache_root() / "notes.txt"  # not the cache's: left alone
    unrelated.write_text("mine")
    assert cli.main(["cache"]) == 0
    rows = {line[:16].strip(): line[17:] for line in capsys.readouterr().out.splitlines()}
    assert rows["location"] == str(cache.cache_root())
    assert rows["bound"] == "2.0 GiB ([limits] cache_bytes, or $REVIEWBOT_CACHE_BYTES)"
    assert rows["size"].endswith(" in 2 entries")
    assert rows["this version"].endswith(" in 1 entry")
    assert rows["other versions"].endswith(" in 1 entry: never read by this version, evicted first")
    assert cli.main(["cache", "--clear"]) == 0
    assert capsys.readouterr().out.endswith(f" in 2 entries from {cache.cache_root()}\n")
    assert list(cache.entries()) == [] and cache.get(digest(1), "test") is None
    assert unrelated.read_text() == "mine"
