"""Benchmark the on-disk cache's get and put against a plain pickle load and dump of a file.

    python bench/cache_bench.py [C_DIR] [--entries N]

The values are the index's knowledge parts of the .c and .h files under C_DIR (default: the fixtures),
stored under N digests (default 2000), each file's facts in turn. Measured in one run, in a
temporary cache directory, best of 3 rounds:

- baseline: `pickle.dump` to a file opened for writing, and `pickle.load` of it;
- put: `cache.put` with a bound the run never reaches (a temporary file renamed, and one
  append to the ledger of blocks written), and that append alone;
- put, evicting: the same with the bound at a quarter of what the run writes, so that the
  cache is checked every eighth of the bound and its least recently used entries removed;
- get: `cache.get` of an entry read within the hour (an fstat besides the read);
- get, marking used: of an entry last used more than an hour ago (an utime too);
- one check of the whole cache (what an eviction scans), per entry.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

from reviewbot.c import cache
from reviewbot.commands import index
from reviewbot.knowledge import Config, KnowledgeBuilder

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ROUNDS = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree", nargs="?", default=str(FIXTURES), help="C sources (default: the fixtures)")
    parser.add_argument("--entries", type=int, default=2000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="reviewbot-cache-bench-") as scratch:
        os.environ["XDG_CACHE_HOME"] = os.path.join(scratch, "cache")
        os.environ[cache.BOUND_ENV] = str(1 << 50)
        paths = index.find_sources([args.tree])
        builder = KnowledgeBuilder(Config(), paths)
        facts = [index.index_file(path, builder) for path in paths]
        cache.clear()
        values = [facts[n % len(facts)] for n in range(args.entries)]
        digests = [hashlib.sha1(str(n).encode()).hexdigest() for n in range(args.entries)]
        written = sum(len(pickle.dumps(v, protocol=pickle.HIGHEST_PROTOCOL)) for v in values)
        print(f"{len(facts)} files' facts under {args.entries} digests: {written / args.entries:.0f} bytes "
              f"a value on average, {written / 2**20:.1f} MiB in all")

        plain = Path(scratch, "plain")
        dump = best(lambda: plain_dump(plain, digests, values))
        load = best(lambda: plain_load(plain, digests))
        put = best(lambda: cache_put(digests, values))
        ledger = best(lambda: [cache._count_written(5000) for _ in digests])
        got = best(lambda: cache_get(digests))
        marking = best(lambda: cache_get(digests), before=lambda: age(digests))
        scan = best(lambda: sum(1 for _ in cache.entries()))
        entries = sum(1 for _ in cache.entries())
        usage = sum(entry.size for entry in cache.entries())
        os.environ[cache.BOUND_ENV] = str(usage // 4)
        evicting = best(lambda: cache_put(digests, values))
        left = sum(entry.size for entry in cache.entries())

    print("                        us/op   ratio")
    print(f"plain pickle.dump     {dump * 1e6 / args.entries:7.1f}")
    print(f"cache.put             {put * 1e6 / args.entries:7.1f} {put / dump:6.2f}x")
    print(f"  of which the ledger {ledger * 1e6 / args.entries:7.1f} {ledger / dump:6.2f}x   "
          "(the append that counts the blocks written)")
    print(f"cache.put, evicting   {evicting * 1e6 / args.entries:7.1f} {evicting / dump:6.2f}x   "
          f"(bound {usage // 4 / 2**20:.1f} MiB, held {left / 2**20:.1f} MiB at the end)")
    print(f"plain pickle.load     {load * 1e6 / args.entries:7.1f}")
    print(f"cache.get             {got * 1e6 / args.entries:7.1f} {got / load:6.2f}x")
    print(f"cache.get, marking    {marking * 1e6 / args.entries:7.1f} {marking / load:6.2f}x   "
          "(an entry last used over an hour ago)")
    print(f"check of the cache    {scan * 1e6 / entries:7.1f} per entry ({entries} entries, "
          f"{usage / 2**20:.1f} MiB on the disk), once an eighth of the bound is written")
    return 0


def best(run, before=None) -> float:
    """The fastest of ROUNDS runs, in seconds: the one least disturbed by the rest of the
    machine; `before` runs untimed before each."""
    times = []
    for _ in range(ROUNDS):
        if before:
            before()
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def plain_dump(directory: Path, digests: list[str], values: list) -> None:
    directory.mkdir(exist_ok=True)
    for digest, value in zip(digests, values):
        with open(directory / digest, "wb") as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)


def plain_load(directory: Path, digests: list[str]) -> None:
    for digest in digests:
        with open(directory / digest, "rb") as f:
            pickle.load(f)


def cache_put(digests: list[str], values: list) -> None:
    for digest, value in zip(digests, values):
        cache.put(digest, "bench", value)


def cache_get(digests: list[str]) -> None:
    for digest in digests:
        cache.get(digest, "bench")


def age(digests: list[str]) -> None:
    """Mark every entry last used a day ago: the next get of each marks it used again."""
    then = time.time() - 86400
    for digest in digests:
        os.utime(cache.entry_path(digest, "bench"), (then, then))


if __name__ == "__main__":
    sys.exit(main())
