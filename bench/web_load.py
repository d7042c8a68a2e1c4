"""Readers of a series page at once: `reviewbot serve --demo` (waitress) on 127.0.0.1, the seed
reviewed first, then N client threads each reading the seed's series page R times. The same
threads then read `/healthz` (a page that does almost nothing) R times each: the baseline,
measured in the same run, against which the series page's latency is given as a ratio.

Bounded and self-stopping: N * R requests per phase, a 30 s timeout on each, and the server is
stopped at the end whatever happens. Prints requests per second, median and 95th-percentile
latency of each phase, their ratios, and the errors (any status but 200, any exception).

usage: python bench/web_load.py [--readers 50] [--rounds 10]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SEED_COVER = "20240407155758.575216-1-amir73il@gmail.com"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=50, help="client threads (default: 50)")
    parser.add_argument("--rounds", type=int, default=10, help="requests per thread (default: 10)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reviewbot-load-") as data:
        server = subprocess.Popen([sys.executable, "-m", "reviewbot", "serve", "--demo",
                                   "--port", "0", "--data", data],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            url = _served_url(server)
            page = f"{url}/r/{SEED_COVER}"
            _wait_reviewed(url)
            base = _phase(f"{url}/healthz", args.readers, args.rounds)
            series = _phase(page, args.readers, args.rounds)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"{args.readers} readers x {args.rounds} requests each, one waitress server")
    for name, result in (("/healthz (baseline)", base), ("series page", series)):
        print(f"  {name:20} {result['rate']:7.1f} req/s  median {result['median'] * 1000:7.1f} ms  "
              f"p95 {result['p95'] * 1000:7.1f} ms  errors {result['errors']}")
    print(f"  series page / baseline: median {series['median'] / base['median']:.1f}x, "
          f"throughput {base['rate'] / series['rate']:.1f}x lower")
    return 1 if series["errors"] or base["errors"] else 0


def _served_url(server: subprocess.Popen) -> str:
    for line in server.stdout:
        found = re.search(r"serving on (http://\S+?)/? ", line)
        if found:
            return found.group(1)
    raise SystemExit("web_load: reviewbot serve did not start")


def _wait_reviewed(url: str) -> None:
    """Ask for the seed's review and wait until it is stored: the readers read a done page."""
    status = f"{url}/api/status?id={SEED_COVER}"
    urllib.request.urlopen(f"{url}/r/{SEED_COVER}", timeout=30).read()
    deadline = time.monotonic() + 120
    while b'"reviewed"' not in urllib.request.urlopen(status, timeout=30).read():
        if time.monotonic() > deadline:
            raise SystemExit("web_load: the seed was not reviewed within 120 s")
        time.sleep(0.2)


def _phase(url: str, readers: int, rounds: int) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def read() -> None:
        for _ in range(rounds):
            start = time.perf_counter()
            try:
                with urllib.request.urlopen(url, timeout=30) as response:
                    response.read()
                    ok = response.status == 200
            except Exception as err:  # a load test counts every kind of failure
                ok, problem = False, f"{type(err).__name__}: {err}"
            else:
                problem = "" if ok else f"HTTP {response.status}"
            with lock:
                latencies.append(time.perf_counter() - start)
                if not ok:
                    errors.append(problem)

    threads = [threading.Thread(target=read) for _ in range(readers)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {"rate": len(latencies) / elapsed, "median": statistics.median(latencies),
            "p95": latencies[int(0.95 * (len(latencies) - 1))], "errors": len(errors)}


if __name__ == "__main__":
    sys.exit(main())
