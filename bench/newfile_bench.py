"""Benchmark the review of a patch that adds one big new file: 40,000 lines against 10,000.

    python bench/newfile_bench.py [--small LINES] [--factor N]

The file is C we write here: a struct with a lock, a counter and a state field, and functions
that take the lock, move the counter, test and set the state, call each other and return on
error paths, repeated until the file has the wanted number of lines. Each size is reviewed
in-process (hunk-only, with an empty cache), best of three, in wall-clock and in CPU seconds
(which a busy machine changes least). A review that costs what the patch costs grows
linearly: the target is a ratio of at most 5 for 4 times the lines.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from reviewbot.knowledge.config import Config
from reviewbot.review import review_series
from reviewbot.sources import load_series
from reviewbot.workspace import build_workspace

HEADER = """\
#include <linux/spinlock.h>

struct bench_obj {
\tspinlock_t lock;
\tint users;
\tint state;
\tunsigned long flags;
};

"""

FUNCTION = """\
static int bench_get_{n}(struct bench_obj *obj, int arg)
{{
\tint err = 0;

\tspin_lock(&obj->lock);
\tif (obj->state != {n} % 4) {{
\t\terr = -EBUSY;
\t\tgoto out;
\t}}
\tobj->users++;
\tobj->state = arg;
\tif (arg > {n})
\t\tset_bit(3, &obj->flags);
out:
\tspin_unlock(&obj->lock);
\tif (!err)
\t\terr = bench_get_{previous}(obj, arg - 1);
\treturn err;
}}

"""


def new_file(lines: int) -> str:
    parts, count, n = [HEADER], HEADER.count("\n"), 1
    while count < lines:
        function = FUNCTION.format(n=n, previous=max(n - 1, 0))
        parts.append(function)
        count += function.count("\n")
        n += 1
    return "".join(parts)


def patch_adding(text: str) -> str:
    body = "".join(f"+{line}\n" for line in text.splitlines())
    count = text.count("\n")
    return ("From: Bench <bench@reviewbot.invalid>\nSubject: [PATCH] bench: add a big file\n\n"
            "---\ndiff --git a/drivers/bench/big.c b/drivers/bench/big.c\nnew file mode 100644\n"
            "index 0000000..1111111\n--- /dev/null\n+++ b/drivers/bench/big.c\n"
            f"@@ -0,0 +1,{count} @@\n{body}-- \n2.40.0\n")


def review_seconds(lines: int, work: str) -> tuple[float, float]:
    """The best wall-clock and CPU seconds of three reviews."""
    path = os.path.join(work, f"big-{lines}.patch")
    with open(path, "w") as f:
        f.write(patch_adding(new_file(lines)))
    walls, cpus = [], []
    for round_ in range(3):
        os.environ["XDG_CACHE_HOME"] = os.path.join(work, f"cache-{lines}-{round_}")
        started, started_cpu = time.perf_counter(), time.process_time()
        series = load_series([path])
        review_series(series, build_workspace(series, hunks_only=True), Config(profiles=[]))
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - started_cpu)
    return min(walls), min(cpus)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000, help="lines of the small file")
    parser.add_argument("--factor", type=int, default=4, help="the big file has this many times the lines")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="reviewbot-bench-") as work:
        small = review_seconds(args.small, work)
        big = review_seconds(args.small * args.factor, work)
    print(f"{'':>17}  {'wall':>7}  {'cpu':>7}")
    for lines, (wall, cpu) in ((args.small, small), (args.small * args.factor, big)):
        print(f"{lines:>7} new lines  {wall:6.2f}s  {cpu:6.2f}s")
    wall_ratio, cpu_ratio = big[0] / small[0], big[1] / small[1]
    print(f"ratio for {args.factor}x the lines: {wall_ratio:.2f} wall, {cpu_ratio:.2f} cpu "
          f"(target <= {args.factor + 1}: {'met' if cpu_ratio <= args.factor + 1 else 'missed'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
