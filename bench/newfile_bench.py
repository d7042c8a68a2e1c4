"""Benchmark the review of a patch that adds one big new file: 40,000 lines against 10,000.

    python bench/newfile_bench.py [--small LINES] [--factor N]

The file is C we write here: a struct with a lock, a counter and a state field, and functions
that take the lock, move the counter, test and set the state, call each other and return on
error paths, repeated until the file has the wanted number of lines. Each size is reviewed
in-process (hunk-only, with an empty cache), best of three. A review that costs what the patch
costs grows linearly: the target is a ratio of at most 5 for 4 times the lines.
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


def review_seconds(lines: int, work: str) -> float:
    path = os.path.join(work, f"big-{lines}.patch")
    with open(path, "w") as f:
        f.write(patch_adding(new_file(lines)))
    best = None
    for round_ in range(3):
        os.environ["XDG_CACHE_HOME"] = os.path.join(work, f"cache-{lines}-{round_}")
        started = time.perf_counter()
        series = load_series([path])
        review_series(series, build_workspace(series, hunks_only=True), Config(profiles=[]))
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000, help="lines of the small file")
    parser.add_argument("--factor", type=int, default=4, help="the big file has this many times the lines")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="reviewbot-bench-") as work:
        small = review_seconds(args.small, work)
        big = review_seconds(args.small * args.factor, work)
    print(f"{args.small:>7} new lines  {small:7.2f} s")
    print(f"{args.small * args.factor:>7} new lines  {big:7.2f} s")
    ratio = big / small
    print(f"ratio {ratio:.2f} for {args.factor}x the lines (target <= {args.factor + 1}: "
          f"{'met' if ratio <= args.factor + 1 else 'missed'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
