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
  files the cache knows.

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
from pathlib import Path

# directory -> (file, the first line of the function a patch changes)
CASES = {
    "btrfs": ("fs/btrfs/inode.c", "static int btrfs_setsize(struct inode *inode, struct iattr *attr)"),
    "fuse": ("fs/fuse/dir.c", "static void fuse_dentry_settime(struct dentry *dentry, u64 time)"),
}
BASE = "bench-base"
GIT_IDENTITY = ["-c", "user.name=reviewbot bench", "-c", "user.email=bench@reviewbot.invalid"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree", nargs="?", default=os.environ.get("REVIEWBOT_KERNEL_TREE"),
                        help="kernel source directory (default: $REVIEWBOT_KERNEL_TREE)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    if not args.tree or not all((Path(args.tree) / path).is_file() for path, _ in CASES.values()):
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
    print(f"{'review of one function':<24}{'btrfs':>10}{'fuse':>10}{'ratio':>8}")
    for label, runs in (("cold", {n: [cold[n]] for n in CASES}), ("warm (median)", warm),
                        ("new patch (median)", fresh)):
        btrfs = statistics.median(t for t, _ in runs["btrfs"])
        fuse = statistics.median(t for t, _ in runs["fuse"])
        print(f"{label:<24}{btrfs:9.2f}s{fuse:9.2f}s{btrfs / fuse:7.2f}x")
    memory = {name: max(m for _, m in warm[name] + fresh[name] + [cold[name]]) for name in CASES}
    print(f"{'peak memory':<24}{memory['btrfs']:8.0f}MB{memory['fuse']:8.0f}MB")
    btrfs_warm = statistics.median(t for t, _ in warm["btrfs"])
    ratio = btrfs_warm / statistics.median(t for t, _ in warm["fuse"])
    print(f"targets: warm ratio <= 1.5 ({'met' if ratio <= 1.5 else 'missed'}), warm btrfs < 3 s "
          f"({'met' if btrfs_warm < 3 else 'missed'})")
    return 0


def make_repository(kernel: Path, repo: Path) -> Path:
    for name in CASES:
        shutil.copytree(kernel / "fs" / name, repo / "fs" / name)
    git(repo, "init", "-q", "-b", BASE)
    git(repo, "add", "-A")
    git(repo, *GIT_IDENTITY, "commit", "-qm", "base")
    return repo


def write_patch(repo: Path, name: str, number: int, work: Path) -> Path:
    """A one-line patch to the function of CASES[name] on the base commit: a comment added to
    the function's first line after its opening brace."""
    path, head = CASES[name]
    lines = (repo / path).read_text().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.startswith(head)) + 2
    lines[first] = lines[first].rstrip("\n") + f" /* bench {number} */\n"
    git(repo, "checkout", "-q", "-b", f"{name}-{number}", BASE)
    (repo / path).write_text("".join(lines))
    git(repo, *GIT_IDENTITY, "commit", "-qam", f"{name}: bench change {number}")
    out = work / f"{name}-{number}"
    git(repo, "format-patch", "-q", "-1", "-o", str(out))
    git(repo, "checkout", "-q", BASE)
    return out


def review(repo: Path, patch: Path) -> tuple[float, float]:
    """Seconds and peak resident memory (MB) of `reviewbot check` as a fresh process."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "reviewbot", "check", str(patch), "--tree",
                                str(repo), "--base", BASE, "--fail-on", "never"],
                               stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"review_bench: reviewbot check failed on {patch}")
    return elapsed, usage.ru_maxrss / 1024


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True)


if __name__ == "__main__":
    sys.exit(main())
