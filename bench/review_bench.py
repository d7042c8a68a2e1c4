"""Benchmark a one-function review in a big directory against one in a small one.

    python bench/review_bench.py [KERNEL_DIR] [--rounds N]

KERNEL_DIR (or $REVIEWBOT_KERNEL_TREE) is the top of a kernel source tree with fs/btrfs and
fs/fuse, e.g. Debian's linux-source-6.12 extracted from /usr/src. Without one, the benchmark
says so and exits 0. The two directories are copied into a temporary git repository; in each,
a one-line patch changes one function (a comment added to its first line), and
`reviewbot check --tree` reviews it as a fresh process, the way a user runs it:

- cold: with an empty cache directory;
- warm: the same patch again, everything cached that can be (median of N rounds, btrfs and
  fuse alternated);
- new patch: a patch not seen before (another comment in the same function) in a tree whose
  files the cache knows;
- other file: a patch not seen before to a function of another file of the same directory (the
  next series on the same list, on the same base).

Prints the times, the peak memory of each review and the btrfs/fuse ratios. Targets: warm
ratio <= 1.5, and the warm btrfs review under 3 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# directory -> (file, the first line of the function a patch changes)
CASES = {
    "btrfs": ("fs/btrfs/inode.c", "static int btrfs_setsize(struct inode *inode, struct iattr *attr)"),
    "fuse": ("fs/fuse/dir.c", "static void fuse_dentry_settime(struct dentry *dentry, u64 time)"),
}
# the same, for a function of another file of the directory
OTHER_FILE_CASES = {
    "btrfs": ("fs/btrfs/file.c", "int btrfs_sync_file(struct file *file, loff_t start, loff_t end, int datasync)"),
    "fuse": ("fs/fuse/file.c", "static int fuse_open(struct inode *inode, struct file *file)"),
}
BASE = "bench-base"
GIT_IDENTITY = ["-c", "user.name=reviewbot bench", "-c", "user.email=bench@reviewbot.invalid"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree", nargs="?", default=os.environ.get("REVIEWBOT_KERNEL_TREE"),
                        help="kernel source directory (default: $REVIEWBOT_KERNEL_TREE)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    if not args.tree or not all((Path(args.tree) / path).is_file()
                                for path, _ in [*CASES.values(), *OTHER_FILE_CASES.values()]):
        print("review_bench: no kernel tree with fs/btrfs and fs/fuse given (pass its top "
              "directory or set REVIEWBOT_KERNEL_TREE); skipped")
        return 0
    with tempfile.TemporaryDirectory(prefix="reviewbot-bench-") as work:
        repo = make_repository(Path(args.tree), Path(work) / "tree")
        os.environ["XDG_CACHE_HOME"] = str(Path(work) / "cache")
        patches = {name: write_patch(repo, name, 0, Path(work)) for name in CASES}
        cold = {name: review(repo, patches[name]) for name in CASES}
        warm: dict[str, list] = {name: [] for name in CASES}
        for _ in range(args.rounds):
            for name in CASES:
                warm[name].append(review(repo, patches[name]))
        fresh = {name: [review(repo, write_patch(repo, name, n, Path(work)))
                        for n in range(1, args.rounds + 1)] for name in CASES}
        # one round each: a second one would find the base of its directory known either way
        other = {name: [review(repo, write_patch(repo, name, 0, Path(work), OTHER_FILE_CASES))]
                 for name in CASES}
    print(f"{'review of one function':<22}{'btrfs':>14}{'fuse':>14}{'ratio':>14}")
    print(f"{'':<22}{'wall / cpu s':>14}{'wall / cpu s':>14}{'wall / cpu':>14}")
    ratios = {}
    for label, runs in (("cold", {n: [cold[n]] for n in CASES}), ("warm (median)", warm),
                        ("new patch (median)", fresh), ("other file", other)):
        btrfs, fuse = median_run(runs["btrfs"]), median_run(runs["fuse"])
        ratios[label] = (btrfs.seconds / fuse.seconds, btrfs.cpu / fuse.cpu)
        print(f"{label:<22}{btrfs.seconds:7.2f}/{btrfs.cpu:5.2f}s{fuse.seconds:7.2f}/{fuse.cpu:5.2f}s"
              f"{ratios[label][0]:8.2f}/{ratios[label][1]:4.2f}x")
    memory = {name: max(run.memory for run in warm[name] + fresh[name] + other[name] + [cold[name]])
              for name in CASES}
    print(f"{'peak memory':<22}{memory['btrfs']:12.0f}MB{memory['fuse']:12.0f}MB")
    btrfs_warm = median_run(warm["btrfs"]).seconds
    ratio = ratios["warm (median)"][0]
    print(f"targets: warm ratio <= 1.5 ({'met' if ratio <= 1.5 else 'missed'}), warm btrfs < 3 s "
          f"({'met' if btrfs_warm < 3 else 'missed'})")
    return 0


@dataclass(frozen=True)
class Run:
    seconds: float  # wall clock
    cpu: float  # user + system seconds: what a busy machine changes least
    memory: float  # peak resident set, MB


def make_repository(kernel: Path, repo: Path) -> Path:
    for name in CASES:
        shutil.copytree(kernel / "fs" / name, repo / "fs" / name)
    git(repo, "init", "-q", "-b", BASE)
    git(repo, "add", "-A")
    git(repo, *GIT_IDENTITY, "commit", "-qm", "base")
    return repo


def write_patch(repo: Path, name: str, number: int, work: Path, cases: dict = CASES) -> Path:
    """A one-line patch to the function of cases[name] on the base commit: a comment added to
    the function's first line after its opening brace."""
    path, head = cases[name]
    lines = (repo / path).read_text().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.startswith(head)) + 2
    lines[first] = lines[first].rstrip("\n") + f" /* bench {number} */\n"
    branch = f"{name}-{Path(path).stem}-{number}"
    git(repo, "checkout", "-q", "-b", branch, BASE)
    (repo / path).write_text("".join(lines))
    git(repo, *GIT_IDENTITY, "commit", "-qam", f"{name}: bench change {number}")
    out = work / branch
    git(repo, "format-patch", "-q", "-1", "-o", str(out))
    git(repo, "checkout", "-q", BASE)
    return out


def review(repo: Path, patch: Path) -> Run:
    """`reviewbot check` as a fresh process (started in the repository, so that no module of
    the current directory is imported)."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "reviewbot", "check", str(patch), "--tree",
                                str(repo), "--base", BASE, "--fail-on", "never"],
                               stdout=subprocess.DEVNULL, cwd=repo)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"review_bench: reviewbot check failed on {patch}")
    return Run(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def median_run(runs: list[Run]) -> Run:
    return Run(*(statistics.median(getattr(run, name) for run in runs) for name in ("seconds", "cpu", "memory")))


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True)


if __name__ == "__main__":
    sys.exit(main())
