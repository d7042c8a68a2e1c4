"""A review costs what the patch costs: the work of reviewing a new file grows with its size,
not with its size squared. Work is counted in Python lines run (a loop's every turn counts,
also inside a comprehension), which, unlike time, is the same on every machine and every run."""

from __future__ import annotations

import sys

from reviewbot.knowledge.config import Config
from reviewbot.review import review_series
from reviewbot.sources import load_series
from reviewbot.workspace import build_workspace

HEADER = """\
struct obj {
\tspinlock_t lock;
\tint users;
\tint state;
};

"""

FUNCTION = """\
static int obj_get_{n}(struct obj *obj, int arg)
{{
\tint err = 0;

\tspin_lock(&obj->lock);
\tif (obj->state != {n}) {{
\t\terr = -EBUSY;
\t\tgoto out;
\t}}
\tobj->users++;
\tobj->state = arg;
out:
\tspin_unlock(&obj->lock);
\tif (!err)
\t\terr = obj_get_{previous}(obj, arg - 1);
\treturn err;
}}

"""


def new_file_patch(tmp_path, functions: int):
    text = HEADER + "".join(FUNCTION.format(n=n, previous=n - 1) for n in range(1, functions + 1))
    body = "".join(f"+{line}\n" for line in text.splitlines())
    path = tmp_path / f"new-{functions}.patch"
    path.write_text("From: Tests <tests@reviewbot.invalid>\nSubject: [PATCH] obj: add\n\n---\n"
                    "diff --git a/obj.c b/obj.c\nnew file mode 100644\nindex 0000000..1111111\n"
                    f"--- /dev/null\n+++ b/obj.c\n@@ -0,0 +1,{text.count(chr(10))} @@\n{body}-- \n2.40.0\n")
    return path


def lines_run_by_review(patch) -> tuple[int, object]:
    lines = 0

    def count(frame, event, arg):
        nonlocal lines
        lines += event == "line"
        return count

    series = load_series([str(patch)])
    workspace = build_workspace(series, hunks_only=True)
    sys.settrace(count)
    try:
        review = review_series(series, workspace, Config(profiles=[]))
    finally:
        sys.settrace(None)
    return lines, review


def test_four_times_the_new_lines_cost_at_most_five_times_the_work(tmp_path):
    # 2,700 and 10,800 new lines: a lookup of each new line's function that scans every
    # function (quadratic) makes the big one cost 6.4 times the small one
    small, small_review = lines_run_by_review(new_file_patch(tmp_path, 150))
    big, big_review = lines_run_by_review(new_file_patch(tmp_path, 600))
    # the reviews did the work: every function's table is there
    assert len(small_review.tables) == 150 and len(big_review.tables) == 600
    assert big <= 5 * small, f"{big} lines run for 4x the new lines of {small}"
