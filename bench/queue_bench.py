"""Series reviewed per minute on the Redis queue with 1 and 2 `reviewbot worker` processes, and
the queue's overhead per job against the embedded pool (one thread in the process), on the same
generated series of a fake lore list (small minifs patches, hunk-only).

Each run starts with a new store and an empty cache; the clock runs from the first job queued
to the last review stored (workers are started and waiting before). The fake lore runs in a
process of its own, so that it takes no time from the embedded pool's process; a warm-up run
comes first. Needs a Redis server:
REVIEWBOT_TEST_REDIS=redis://127.0.0.1:PORT/N (`eval "$(bash .ci/services)"` starts one);
without it the script says so and exits 0.

usage: python bench/queue_bench.py [--series N]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the fake lore and the series generator


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=80, help="series per run (default: 80)")
    count = parser.parse_args().series
    redis_url = os.environ.get("REVIEWBOT_TEST_REDIS")
    if not redis_url:
        print("queue_bench: set REVIEWBOT_TEST_REDIS (eval \"$(bash .ci/services)\"); skipped")
        return 0
    from listseries import generate
    from redis import Redis

    series = [s for s in generate(count * 2, datetime.now(timezone.utc)) if s.complete][:count]
    roots = [(s.root, s.revision) for s in series]
    lore_url, lore = serve_lore(series)
    try:
        with tempfile.TemporaryDirectory(prefix="queue-bench.") as scratch:
            runs = {}
            for label, workers in (("warm-up", 0), ("embedded pool, 1 thread", 0),
                                   ("redis, 1 worker", 1), ("redis, 2 workers", 2)):
                Redis.from_url(redis_url).flushdb()
                run_dir = Path(scratch) / label.replace(" ", "").replace(",", "-")
                run_dir.mkdir()
                os.environ["XDG_CACHE_HOME"] = str(run_dir / "cache")
                runs[label] = timed(roots[:3] if label == "warm-up" else roots, lore_url,
                                    redis_url, run_dir, workers)
                if label != "warm-up":
                    print(f"{label:26} {runs[label]:7.2f} s  "
                          f"{count / runs[label] * 60:7.1f} series/min", flush=True)
            del runs["warm-up"]
    finally:
        lore.terminate()
    base, one, two = runs.values()
    print(f"queue overhead per job: {(one - base) / count * 1000:+.1f} ms "
          f"(redis 1 worker / embedded: {one / base:.2f}x)")
    print(f"2 workers / 1 worker: {one / two:.2f}x the series per minute")
    return 0


def serve_lore(series):
    """A fake lore serving the series, in a process of its own: its URL and the process."""
    import multiprocessing

    def serve(pipe):
        from fakelore import FakeLore

        with FakeLore([]) as lore:
            lore.publish("minifs", [m for s in series for m in s.messages])
            pipe.send(lore.url)
            pipe.recv()  # until the parent ends it

    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("fork").Process(target=serve, args=(child,), daemon=True)
    process.start()
    return parent.recv(), process


def timed(roots, lore_url: str, redis_url: str, run_dir: Path, workers: int) -> float:
    from redis import Redis

    from reviewbot_web.jobs import JobQueue, Settings
    from reviewbot_web.redisqueue import RedisQueue
    from reviewbot_web.store import Store

    store_path = run_dir / "reviews.sqlite3"
    store = Store(store_path)
    settings = Settings(lore_url=lore_url, workers=1, max_queued=10**6)
    procs = []
    if workers:
        procs = [subprocess.Popen([sys.executable, "-m", "reviewbot", "worker", "--queue",
                                   redis_url, "--store", str(store_path)],
                                  start_new_session=True) for _ in range(workers)]
        from rq import Worker
        deadline = time.monotonic() + 60
        while len(Worker.all(connection=Redis.from_url(redis_url))) < workers:
            if time.monotonic() > deadline:
                raise SystemExit("queue_bench: the workers did not start")
            time.sleep(0.1)
        jobs = RedisQueue(store, settings, redis_url)
    else:
        jobs = JobQueue(store, settings)
    try:
        start = time.perf_counter()
        queued = [jobs.submit(msgid, revision) for msgid, revision in roots]
        done = [jobs.join(job) for job in queued]
        elapsed = time.perf_counter() - start
    finally:
        jobs.shutdown()
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait()
    failed = [job for job in done if job.status != "reviewed"]
    if failed:
        raise SystemExit(f"queue_bench: {len(failed)} reviews failed, e.g. {failed[0]}")
    return elapsed


if __name__ == "__main__":
    sys.exit(main())
