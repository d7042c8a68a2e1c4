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

Prints the wall-clock and CPU times (the CPU of every process: on a busy machine the CPU ratio
changes least), their ratios to the baseline, files/s and the peak memory (resident set of this
process and of its children). Targets on fs/ with 2 workers: cold <= 1.5x, warm <= 0.1x.
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

    baseline, baseline_cpu = bare_parse(paths)
    with tempfile.TemporaryDirectory(prefix="reviewbot-bench-") as cache_dir:
        os.environ["XDG_CACHE_HOME"] = cache_dir
        (cold, cold_cpu), cold_out = timed_index(args.tree, args.jobs)
        (warm, warm_cpu), warm_out = timed_index(args.tree, args.jobs)
        for entry in Path(cache_dir, "reviewbot").glob("index-*"):
            shutil.rmtree(entry)
        (files_only, files_only_cpu), files_out = timed_index(args.tree, args.jobs)
    peak = peak_memory_mb()

    print("                          wall s   files/s   ratio  |   cpu s   ratio")
    print(f"bare parse, 1 process   {baseline:8.2f} {len(paths) / baseline:9.0f}          | {baseline_cpu:7.2f}")
    for label, wall, cpu in ((f"cold index, {args.jobs} workers", cold, cold_cpu),
                             (f"warm index, {args.jobs} workers", warm, warm_cpu),
                             ("warm, files only", files_only, files_only_cpu)):
        print(f"{label:<23} {wall:8.2f} {len(paths) / wall:9.0f} {wall / baseline:7.3f}x | "
              f"{cpu:7.2f} {cpu / baseline_cpu:7.3f}x")
    print("targets: cold <= 1.5x, warm <= 0.1x (wall); the cpu ratio counts every process (all "
          "workers), so with N workers and nothing else running the wall ratio is about it / N")
    print(f"peak memory             {peak[0]:7.0f} MB in this process, {peak[1]:.0f} MB in the largest worker")
    print("index output (cold):")
    print("".join(f"  {line}\n" for line in cold_out.splitlines()), end="")
    for label, out in (("warm", warm_out), ("warm, files only", files_out)):
        cached = next(line for line in out.splitlines() if line.startswith("from cache"))
        print(f"{label}: {cached.split()[-1]} of {len(paths)} files from the cache")
    return 0


def bare_parse(paths: list[str]) -> tuple[float, float]:
    parser = Parser(LANGUAGE)
    with Timer() as timer:
        for path in paths:
            with open(path, "rb") as f:
                parser.parse(f.read())
    return timer.wall, timer.cpu


def timed_index(tree: str, jobs: int) -> tuple[tuple[float, float], str]:
    out = io.StringIO()
    with Timer() as timer, contextlib.redirect_stdout(out):
        index.run(index_arguments([tree, "--jobs", str(jobs)]))
    return (timer.wall, timer.cpu), out.getvalue()


def index_arguments(argv: list[str]) -> argparse.Namespace:
    """The arguments `reviewbot index` reads, parsed by its own parser: every option has its
    default, so a new option cannot leave the bench behind."""
    parser = argparse.ArgumentParser()
    index.add_arguments(parser)
    return parser.parse_args(argv)


class Timer:
    """Wall-clock and CPU seconds of a block: the CPU of this process and of the worker
    processes that ended in it (a pool's workers end with the pool)."""

    def __enter__(self):
        self.started, self.cpu_started = time.perf_counter(), _cpu()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.started, _cpu() - self.cpu_started


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def peak_memory_mb() -> tuple[float, float]:
    """Peak resident set of this process and of the largest worker (ru_maxrss is in kB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return own / 1024, children / 1024


if __name__ == "__main__":
    sys.exit(main())
