"""Run reviewbot on every case of the real-fix benchmark and print how it did.

    python bench/realbugs/run.py CACHE_DIR [--jobs N] [--only TEXT] [--output FILE]
                                [--compare EARLIER.json]

CACHE_DIR is the one bench/realbugs/build.py built. Each case is reviewed twice with
`reviewbot check --format json --tree REPO PATCH`: the fix reversed (the real bug put back)
and the fix applied forward (accepted code). Printed:

- recall: the cases (not the controls) whose reversed fix gets a new finding of the expected
  rule in the expected function; and, less strictly, a new finding of any rule there;
- false positives on the controls: controls whose reversed fix gets any new finding;
- forward: the share of all fixes applied forward that get a new high or medium finding;
- time per review (median and max), of the reversed and of the forward fixes;
- a table with one row per case.

Every result is written as JSON (default CACHE_DIR/results/TIME.json) to compare runs. All
reviews share one empty reviewbot cache made for the run, so the first review of a directory
parses it and the second (the other direction of the same case) reuses what it can.
Without built cases it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

DIRECTIONS = ("reverse", "forward")
HIGH_MEDIUM = ("critical", "high", "medium")


def load_cases(cache: Path, only: str | None) -> list[dict]:
    cases = []
    for info in sorted((cache / "cases").glob("*/case.json")):
        case = json.loads(info.read_text())
        case.setdefault("rule", "")  # controls expect no rule
        case["dir"] = str(info.parent)
        if only is None or only in case["id"]:
            cases.append(case)
    return cases


def review(case: dict, direction: str, env: dict, timeout: float) -> dict:
    """One `reviewbot check` run: its new findings, time and outcome (ok, crash, timeout)."""
    case_dir = Path(case["dir"])
    command = [sys.executable, "-m", "reviewbot", "check", "--format", "json", "--fail-on",
               "never", "--tree", str(case_dir / "repo"), str(case_dir / f"{direction}.patch")]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"outcome": "timeout", "seconds": timeout, "findings": []}
    seconds = time.perf_counter() - start
    try:
        document = json.loads(done.stdout) if done.returncode == 0 else None
    except json.JSONDecodeError:
        document = None
    if document is None:
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return {"outcome": "crash", "seconds": seconds, "error": last, "findings": []}
    findings = [{key: f[key] for key in ("rule", "severity", "file", "function", "line",
                                          "message")}
                for f in document["findings"] if f["status"] == "new"]
    return {"outcome": "ok", "seconds": seconds, "findings": findings}


def score(case: dict) -> dict:
    """What the two reviews of a case say, against what the manifest expects."""
    reverse, forward = case["reverse"], case["forward"]
    in_function = [f for f in reverse["findings"]
                   if f["file"] == case["file"] and f["function"] == case["function"]]
    return {
        "hit": any(f["rule"] == case["rule"] for f in in_function),
        "located": bool(in_function),
        "control_fp": bool(reverse["findings"]),
        "forward_fp": any(f["severity"] in HIGH_MEDIUM for f in forward["findings"]),
    }


def share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.0f}%)" if whole else "0/0"


def summary(cases: list[dict]) -> dict:
    bugs = [c for c in cases if c["role"] == "case"]
    controls = [c for c in cases if c["role"] == "control"]
    times = {d: [c[d]["seconds"] for c in cases] for d in DIRECTIONS}
    by_kind = {}
    for kind in sorted({c["kind"] for c in bugs}):
        of_kind = [c for c in bugs if c["kind"] == kind]
        by_kind[kind] = [sum(c["score"]["hit"] for c in of_kind), len(of_kind)]
    return {
        "cases": len(bugs), "controls": len(controls),
        "recall": [sum(c["score"]["hit"] for c in bugs), len(bugs)],
        "located": [sum(c["score"]["located"] for c in bugs), len(bugs)],
        "recall_by_kind": by_kind,
        "control_false_positives": [sum(c["score"]["control_fp"] for c in controls),
                                    len(controls)],
        "forward_high_medium": [sum(c["score"]["forward_fp"] for c in cases), len(cases)],
        "crashes": sum(c[d]["outcome"] == "crash" for c in cases for d in DIRECTIONS),
        "timeouts": sum(c[d]["outcome"] == "timeout" for c in cases for d in DIRECTIONS),
        "seconds": {d: {"median": statistics.median(t), "max": max(t)}
                    for d, t in times.items() if t},
    }


def print_report(cases: list[dict], totals: dict) -> None:
    print(f"{'case':58} {'kind':8} {'expected':15} {'reversed: new findings':40} "
          f"{'fwd':>3} {'t-rev':>6} {'t-fwd':>6}")
    for c in cases:
        rev, fwd = c["reverse"], c["forward"]
        if rev["outcome"] != "ok":
            got = rev["outcome"].upper()
        else:
            got = ", ".join(sorted({f"{f['rule']}@{f['function']}" for f in rev["findings"]}))
        mark = "HIT " if c["score"]["hit"] else "    "
        if c["role"] == "control":
            mark = "FP  " if c["score"]["control_fp"] else "ok  "
        fwd_count = "!" if fwd["outcome"] != "ok" else \
            str(sum(f["severity"] in HIGH_MEDIUM for f in fwd["findings"]))
        print(f"{c['id'][:58]:58} {c['kind']:8} {c['rule'] or '-':15} {mark}{got[:36]:36} "
              f"{fwd_count:>3} {rev['seconds']:6.1f} {fwd['seconds']:6.1f}")
    print()
    t = totals
    print(f"recall (expected rule, expected function): {share(*t['recall'])}")
    for kind, (hit, whole) in t["recall_by_kind"].items():
        print(f"  {kind:9} {share(hit, whole)}")
    print(f"any new finding in the expected function:   {share(*t['located'])}")
    print(f"controls with a new finding:                {share(*t['control_false_positives'])}")
    print(f"forward fixes with a new high/medium:       {share(*t['forward_high_medium'])}")
    for direction, s in t["seconds"].items():
        print(f"time per review, {direction:7}: median {s['median']:.1f} s, max {s['max']:.1f} s")
    if t["crashes"] or t["timeouts"]:
        print(f"reviewbot crashed on {t['crashes']} reviews, timed out on {t['timeouts']}")


def print_comparison(cases: list[dict], previous: dict) -> None:
    """What changed since an earlier run's JSON: cases found or lost, false positives gained
    or lost, and the totals then and now."""
    before = {c["id"]: c["score"] for c in previous["cases"]}
    print(f"\ncompared with the run of {previous['started']}:")
    for key, gained, lost in (("hit", "now found", "no longer found"),
                              ("control_fp", "new control false positive", "control now clean"),
                              ("forward_fp", "new forward high/medium", "forward now clean")):
        for c in cases:
            then = before.get(c["id"])
            if then is not None and then[key] != c["score"][key]:
                if key != "hit" or c["role"] == "case":
                    print(f"  {gained if c['score'][key] else lost}: {c['id']}")
    then, now = previous["summary"], summary(cases)
    for key in ("recall", "control_false_positives", "forward_high_medium"):
        print(f"  {key}: {share(*then[key])} -> {share(*now[key])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache", metavar="CACHE_DIR")
    parser.add_argument("--jobs", type=int, default=1, help="reviews run at once (default 1)")
    parser.add_argument("--only", metavar="TEXT", help="only the cases whose id contains TEXT")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds one review may take (default 900)")
    parser.add_argument("--output", metavar="FILE", type=Path,
                        help="the JSON results (default CACHE_DIR/results/TIME.json)")
    parser.add_argument("--compare", metavar="FILE", type=Path,
                        help="an earlier run's JSON results: also print what changed since")
    args = parser.parse_args(argv)
    cache = Path(args.cache)
    previous = None
    if args.compare:
        try:
            previous = json.loads(args.compare.read_text())
        except (OSError, ValueError) as err:
            previous = err
        if not isinstance(previous, dict) or not {"started", "summary", "cases"} <= set(previous):
            print(f"run.py: {args.compare}: not the JSON results of a run", file=sys.stderr)
            return 2
    cases = load_cases(cache, args.only)
    if not cases:
        print(f"realbugs: no cases built in {cache}; build them with "
              f"`python bench/realbugs/build.py {cache}` (skipped)")
        return 0
    run_cache = Path(tempfile.mkdtemp(prefix="realbugs-reviewbot-cache-"))
    env = dict(os.environ, XDG_CACHE_HOME=str(run_cache))
    started = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    try:
        work = [(c, d) for c in cases for d in DIRECTIONS]
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = pool.map(lambda item: review(*item, env, args.timeout), work)
            for (case, direction), result in zip(work, results):
                case[direction] = result
                print(f"  {case['id']} {direction}: {result['outcome']}, "
                      f"{result['seconds']:.1f} s", file=sys.stderr)
    finally:
        shutil.rmtree(run_cache, ignore_errors=True)
    for case in cases:
        case["score"] = score(case)
    totals = summary(cases)
    output = args.output or cache / "results" / f"{started}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    versions = cache / "versions.json"
    output.write_text(json.dumps({
        "started": started, "versions": json.loads(versions.read_text())
        if versions.exists() else None, "summary": totals,
        "cases": [{k: v for k, v in c.items() if k != "dir"} for c in cases]}, indent=2) + "\n")
    print_report(cases, totals)
    if previous is not None:
        print_comparison(cases, previous)
    print(f"results written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
