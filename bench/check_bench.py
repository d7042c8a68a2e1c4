"""Time `reviewbot check` on the seed thread (hunk-only) against `b4 --offline-mode am` on the
same mbox: the cost of reviewing a series next to the cost of just turning it into patches.

All run as fresh processes, alternated in one run (b4, reviewbot cold, reviewbot warm, b4, ...)
so that whatever else the machine does weighs on each alike. reviewbot keeps per-file analysis
results in its cache directory: "cold" runs start with an empty one, as the first review of a
series does; "warm" runs reuse one, as a rerun does. Prints the medians, the ratios and the
peak memory of each; the target applies to the cold ratio, and the exit status is 1 when it
is missed.

usage: python bench/check_bench.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "fixtures" / "seed" / "fuse-passthrough-fixes.mbox"
SEED_COVER = "20240407155758.575216-1-amir73il@gmail.com"
TARGET_RATIO = 1.5
B4, COLD, WARM = "b4 --offline-mode am", "reviewbot check (cold)", "reviewbot check (warm)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="timed runs of each (default: 10)")
    rounds = parser.parse_args().rounds
    bin_dir = Path(sys.executable).parent  # both tools' scripts sit beside this interpreter
    with tempfile.TemporaryDirectory(prefix="check-bench.") as scratch_name:
        scratch = Path(scratch_name)
        env = isolated_env(scratch)
        b4_am = [str(bin_dir / "b4"), "--offline-mode", "am", "-m", str(SEED),
                 "-o", str(scratch / "am"), SEED_COVER]  # rewrites the same two files each time
        check = [str(bin_dir / "reviewbot"), "check", str(SEED), "--fail-on", "never"]
        times: dict[str, list[float]] = {B4: [], COLD: [], WARM: []}
        memory: dict[str, float] = {B4: 0.0, COLD: 0.0, WARM: 0.0}
        for round_number in range(rounds + 1):  # round 0 warms the OS caches and is not counted
            timed = {
                B4: run(b4_am, env),
                COLD: run(check, {**env, "XDG_CACHE_HOME": tempfile.mkdtemp(dir=scratch)}),
                WARM: run(check, env),
            }
            if round_number:
                for name, (elapsed, peak) in timed.items():
                    times[name].append(elapsed)
                    memory[name] = max(memory[name], peak)
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, median in medians.items():
        print(f"{name:<26} median {median:.3f} s over {rounds} runs, peak memory {memory[name]:.0f} MB")
    cold, warm = medians[COLD] / medians[B4], medians[WARM] / medians[B4]
    print(f"ratio cold {cold:.2f}, warm {warm:.2f} (target for cold: <= {TARGET_RATIO})")
    return 0 if cold <= TARGET_RATIO else 1


def isolated_env(scratch: Path) -> dict[str, str]:
    """The environment with its own HOME, XDG dirs and git config: no user's config or cache
    makes either tool faster or slower."""
    home = scratch / "home"
    env = dict(os.environ)
    for var, sub in [("HOME", ""), ("XDG_CONFIG_HOME", ".config"), ("XDG_CACHE_HOME", ".cache"),
                     ("XDG_DATA_HOME", ".local/share")]:
        (home / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(home / sub)
    gitconfig = home / ".gitconfig"
    gitconfig.write_text("[user]\n\tname = check bench\n\temail = bench@reviewbot.invalid\n")
    env["GIT_CONFIG_GLOBAL"] = str(gitconfig)
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    return env


def run(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds the command took and its peak resident memory (MB); stops the benchmark when
    it fails."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with process.stderr:
        stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{' '.join(command)} failed with status {code}:\n{stderr.decode(errors='replace')}")
    return elapsed, usage.ru_maxrss / 1024


if __name__ == "__main__":
    sys.exit(main())
