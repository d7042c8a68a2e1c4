"""Benchmark `reviewbot index` against a bare tree-sitter parse of the same files.

    python bench/index_bench.py [KERNEL_DIR] [--jobs N]

KERNEL_DIR (or $REVIEWBOT_KERNEL_TREE) is a directory of a kernel tree, e.g. fs/ of Debian's
linux-source-6.12 (extract it from /usr/src/linux-source-6.12.tar.xz). Without one, the
benchmark says so and exits 0. Measured in one run, on the same files:

- baseline: one process parsing every file with tree-sitter, nothing else;
- cold index: `reviewbot index` with an empty cache directory, N workers (default 2);
- warm index: the same again: the tree is unchanged, so the last index's result is reused
  after every file has been read and hashed;
- warm index, files only: the same with that result dropped, as after a change to one file:
  every file's facts come from the cache, and the tracked fields and guards are inferred again.

Prints the times, the ratios to the baseline, files/s and the peak memory (resident set of
this process and of its children). Targets on fs/ with 2 workers: cold <= 1.2x, warm <= 0.1x.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tree_sitter import Parser

from reviewbot.c.parse import LANGUAGE
from reviewbot.commands import index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree", nargs="?", default=os.environ.get("REVIEWBOT_KERNEL_TREE"),
                        help="kernel source directory (default: $REVIEWBOT_KERNEL_TREE)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    if not args.tree or not os.path.isdir(args.tree):
        print("index_bench: no kernel tree given (pass a directory or set REVIEWBOT_KERNEL_TREE); "
              "skipped")
        return 0

    paths = index.find_sources([args.tree])
    size = sum(os.path.getsize(p) for p in paths)
    print(f"{args.tree}: {len(paths)} files, {size / 1e6:.1f} MB")

    baseline = bare_parse(paths)
    with tempfile.TemporaryDirectory(prefix="reviewbot-bench-") as cache_dir:
        os.environ["XDG_CACHE_HOME"] = cache_dir
        cold, cold_out = timed_index(args.tree, args.jobs)
        warm, warm_out = timed_index(args.tree, args.jobs)
        for entry in Path(cache_dir, "reviewbot").glob("index-*"):
            shutil.rmtree(entry)
        files_only, files_out = timed_index(args.tree, args.jobs)
    peak = peak_memory_mb()

    print(f"bare parse, 1 process   {baseline:7.2f} s   {len(paths) / baseline:7.0f} files/s")
    print(f"cold index, {args.jobs} workers   {cold:7.2f} s   {len(paths) / cold:7.0f} files/s   "
          f"{cold / baseline:.2f}x baseline (target <= 1.2x)")
    print(f"warm index, {args.jobs} workers   {warm:7.2f} s   {len(paths) / warm:7.0f} files/s   "
          f"{warm / baseline:.3f}x baseline (target <= 0.1x)")
    print(f"warm, files only        {files_only:7.2f} s   {len(paths) / files_only:7.0f} files/s   "
          f"{files_only / baseline:.3f}x baseline")
    print(f"peak memory             {peak[0]:7.0f} MB in this process, {peak[1]:.0f} MB in the largest worker")
    print("index output (cold):")
    print("".join(f"  {line}\n" for line in cold_out.splitlines()), end="")
    for label, out in (("warm", warm_out), ("warm, files only", files_out)):
        cached = next(line for line in out.splitlines() if line.startswith("from cache"))
        print(f"{label}: {cached.split()[-1]} of {len(paths)} files from the cache")
    return 0


def bare_parse(paths: list[str]) -> float:
    parser = Parser(LANGUAGE)
    started = time.perf_counter()
    for path in paths:
        with open(path, "rb") as f:
            parser.parse(f.read())
    return time.perf_counter() - started


def timed_index(tree: str, jobs: int) -> tuple[float, str]:
    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out):
        index.run(argparse.Namespace(paths=[tree], jobs=jobs, stats=False))
    return time.perf_counter() - started, out.getvalue()


def peak_memory_mb() -> tuple[float, float]:
    """Peak resident set of this process and of the largest worker (ru_maxrss is in kB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return own / 1024, children / 1024


if __name__ == "__main__":
    sys.exit(main())
