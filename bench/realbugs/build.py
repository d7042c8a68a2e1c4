"""Build the real-fix benchmark: upstream fixes between two Debian kernel packages, reversed.

    python bench/realbugs/build.py CACHE_DIR [--propose FILE]

Downloads Debian's linux-source-6.12 packages (the old and the new version of the benchmark)
and linux-source-6.1 (a range kept for an independent evaluation) with apt into
CACHE_DIR/debs, unpacks fs/, net/, drivers/, kernel/ and mm/ of each into CACHE_DIR/src, and
builds every case of cases.toml (beside this script) into CACHE_DIR/cases/ID:

    repo/            a git repository of the case's directory: tags `old` (the old package's
                     files), `fixed` (the fix applied to the one file), `buggy` (the fix reversed)
    forward.patch    old..fixed as `git format-patch` (with its base-commit): accepted code
    reverse.patch    fixed..buggy: the real bug put back
    case.json        what the manifest says of the case, and the commits

A case is one function of one file: the hunks of the old-to-new diff of that file that fall
in that function. A case whose function also changed in linux-source-6.1 between the held-out
versions is dropped (and said so): that range is kept for an independent evaluation.

With --propose FILE it writes candidates for the manifest instead (every small change of one
function, with a kind guessed from the diff and the changelog line that seems to name it), to
be checked by hand before they go into cases.toml. Kernel source stays in CACHE_DIR: nothing
here writes into the repository.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

import unidiff

from reviewbot.c.parse import parse_c

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "cases.toml"

BENCH = ("linux-source-6.12", "6.12.107-1~deb12u1", "6.12.118-1~deb12u1")
HELD_OUT = ("linux-source-6.1", "6.1.170-3", "6.1.192-2")
DIRS = ("fs", "net", "drivers", "kernel", "mm")
C_SUFFIXES = (".c", ".h")
# git identity and dates of the case repositories: fixed, so a rebuild gives the same commits
GIT_ENV = {"GIT_AUTHOR_NAME": "realbugs", "GIT_AUTHOR_EMAIL": "realbugs@localhost",
           "GIT_COMMITTER_NAME": "realbugs", "GIT_COMMITTER_EMAIL": "realbugs@localhost",
           "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"}


class BuildError(Exception):
    pass


# ---------------------------------------------------------------------------------- packages

def apt_versions(package: str) -> list[str]:
    done = subprocess.run(["apt-cache", "madison", package], capture_output=True, text=True)
    return [line.split("|")[1].strip() for line in done.stdout.splitlines() if "|" in line]


def version_lt(a: str, b: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", a, "lt", b]).returncode == 0


def nearest(wanted: str, available: list[str], older: bool) -> str:
    """`wanted` if apt has it, else the closest version on the side that keeps the range
    inside the wanted one as far as it can (the old end moves up, the new end down)."""
    if wanted in available:
        return wanted
    if not available:
        raise BuildError(f"apt knows no version of the package (wanted {wanted})")
    inside = [v for v in available if version_lt(wanted, v) == older]
    pool = inside or available
    ordered = sorted(pool, key=lambda v: sum(version_lt(v, w) for w in pool))  # oldest first
    return ordered[0] if older else ordered[-1]


def fetch(cache: Path, package: str, old: str, new: str) -> tuple[str, str]:
    """Download both versions of `package` into cache/debs; the versions actually used."""
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    have = {v: _deb_path(debs, package, v) for v in (old, new)}
    if all(have.values()):
        return old, new
    print(f"apt-get update, then download {package} {old} and {new}", file=sys.stderr)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    available = apt_versions(package)
    chosen = nearest(old, available, older=True), nearest(new, available, older=False)
    for wanted, got in zip((old, new), chosen):
        if wanted != got:
            print(f"NOTE: {package} {wanted} is not available; using {got}", file=sys.stderr)
    for version in chosen:
        if not _deb_path(debs, package, version):
            subprocess.run(["apt-get", "download", f"{package}={version}"], cwd=debs, check=True)
    return chosen


def _deb_path(debs: Path, package: str, version: str) -> Path | None:
    found = glob.glob(str(debs / f"{package}_{version.replace(':', '%3a')}_*.deb"))
    return Path(found[0]) if found else None


def unpack(cache: Path, package: str, version: str) -> Path:
    """The package's kernel tree (only DIRS) under cache/src/VERSION/PACKAGE."""
    dest = cache / "src" / version
    root = dest / package
    if (dest / ".done").exists():
        return root
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    deb = _deb_path(cache / "debs", package, version)
    print(f"unpacking {deb.name}", file=sys.stderr)
    members = [f"./usr/src/{package}.tar.xz", f"./usr/share/doc/{package}/changelog.Debian.gz"]
    dpkg = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(dest), *members], stdin=dpkg.stdout, check=True)
    dpkg.wait()
    shutil.move(dest / members[1], dest / "changelog.Debian.gz")
    tarball = dest / members[0]
    subprocess.run(["tar", "-xJf", str(tarball), "-C", str(dest), "--wildcards",
                    *(f"{package}/{d}/*" for d in DIRS)], check=True)
    shutil.rmtree(dest / "usr")
    (dest / ".done").touch()
    return root


def changelog_lines(cache: Path, version: str, since: str) -> list[str]:
    """The entries of the new package's changelog after `since`, one line each."""
    path = cache / "src" / version / "changelog.Debian.gz"
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
        plain = cache / "src" / version / "changelog.Debian"
        plain.write_text(fh.read(), encoding="utf-8")
    done = subprocess.run(["dpkg-parsechangelog", "-l", str(plain), "--since", since,
                           "-S", "Changes"], capture_output=True, text=True, check=True)
    entries: list[str] = []
    for line in done.stdout.splitlines():
        text = line.strip()
        if text.startswith("- "):
            entries.append(text[2:])
        elif entries and line.startswith("      ") and text:  # a wrapped entry goes on
            entries[-1] += " " + text
    return entries


# --------------------------------------------------------------------------------- functions

@dataclass(frozen=True)
class Function:
    name: str
    first: int  # 1-based lines, inclusive
    last: int
    text: str


def functions(text: str) -> dict[str, Function]:
    """The function definitions of a C text by name (the first of a name defined twice under
    different #ifdefs)."""
    parsed = parse_c(text)
    found: dict[str, Function] = {}
    stack = [parsed.tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "function_definition":
            name = _declared_name(node.child_by_field_name("declarator"))
            if name and name not in found:
                found[name] = Function(name, node.start_point[0] + 1, node.end_point[0] + 1,
                                       parsed.text(node))
            continue
        stack.extend(node.children)
    return found


def _declared_name(node) -> str | None:
    while node is not None:
        if node.type == "identifier":
            return node.text.decode()
        node = node.child_by_field_name("declarator")
    return None


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="surrogateescape")


def changed_paths(old_root: Path, new_root: Path, suffixes=C_SUFFIXES) -> list[str]:
    """Paths (relative) of the C files that differ between the two trees, or exist in one."""
    out = []
    for d in DIRS:
        names = set()
        for root in (old_root, new_root):
            for path in (root / d).rglob("*"):
                if path.suffix in suffixes and path.is_file():
                    names.add(str(path.relative_to(root)))
        for name in sorted(names):
            a, b = old_root / name, new_root / name
            if not (a.exists() and b.exists()) or a.read_bytes() != b.read_bytes():
                out.append(name)
    return out


def changed_functions(old_root: Path, new_root: Path) -> set[tuple[str, str]]:
    """(path, function) of every function whose text differs between the two trees."""
    changed = set()
    for name in changed_paths(old_root, new_root):
        a = functions(read(old_root / name)) if (old_root / name).exists() else {}
        b = functions(read(new_root / name)) if (new_root / name).exists() else {}
        for fn in set(a) | set(b):
            if fn not in a or fn not in b or a[fn].text != b[fn].text:
                changed.add((name, fn))
    return changed


def held_out_functions(cache: Path) -> set[tuple[str, str]]:
    """Functions changed in the held-out range, computed once and kept in the cache."""
    path = cache / "held-out-functions.json"
    if path.exists():
        return {tuple(item) for item in json.loads(path.read_text())}
    package, old, new = HELD_OUT
    old, new = fetch(cache, package, old, new)
    print("listing the functions changed in the held-out range", file=sys.stderr)
    changed = changed_functions(unpack(cache, package, old) , unpack(cache, package, new))
    path.write_text(json.dumps(sorted(changed)))
    return changed


# ------------------------------------------------------------------------------------ hunks

def zero_context_hunks(old_text: str, new_text: str) -> list[unidiff.Hunk]:
    """The old-to-new diff of one file without context lines, so that each hunk is exactly
    one changed region and belongs to the functions it overlaps."""
    with tempfile.TemporaryDirectory(prefix="realbugs-") as tmp:
        Path(tmp, "a").write_text(old_text, encoding="utf-8", errors="surrogateescape")
        Path(tmp, "b").write_text(new_text, encoding="utf-8", errors="surrogateescape")
        done = subprocess.run(["git", "diff", "--no-index", "--no-color", "-U0", "a", "b"],
                              cwd=tmp, capture_output=True)
    patch = unidiff.PatchSet(done.stdout.decode("utf-8", "surrogateescape"))
    return [hunk for pf in patch for hunk in pf] if patch else []


def hunks_by_function(old_text: str, new_text: str) -> dict[str, list]:
    """Each function's hunks: those whose removed lines overlap it in the old text or whose
    added lines overlap it in the new text. A hunk outside every function is left out."""
    old_fns, new_fns = functions(old_text), functions(new_text)
    found: dict[str, list] = {}
    for hunk in zero_context_hunks(old_text, new_text):
        owners = set()
        for fns, start, length in ((old_fns, hunk.source_start, hunk.source_length),
                                   (new_fns, hunk.target_start, hunk.target_length)):
            if length:
                owners |= {f.name for f in fns.values()
                           if f.first <= start + length - 1 and start <= f.last}
        for owner in owners:
            found.setdefault(owner, []).append(hunk)
    return found


def apply_hunks(old_text: str, hunks: list) -> str:
    """The old text with these zero-context hunks applied (they come from one diff of it)."""
    lines = old_text.splitlines(keepends=True)
    for hunk in sorted(hunks, key=lambda h: h.source_start, reverse=True):
        # with no context, `-N,0` means "after line N"; otherwise the change starts at N
        start = hunk.source_start if hunk.source_length == 0 else hunk.source_start - 1
        added = [line.value for line in hunk if line.is_added]
        lines[start:start + hunk.source_length] = added
    return "".join(lines)


def diff_lines(hunks: list) -> tuple[list[str], list[str]]:
    added = [line.value.strip() for h in hunks for line in h if line.is_added]
    removed = [line.value.strip() for h in hunks for line in h if line.is_removed]
    return added, removed


# --------------------------------------------------------------------------------- proposing

# Names of calls in the lines a fix adds, for a first guess at its kind; every guess is checked
# by hand before it goes into the manifest.
UNLOCK = re.compile(r"\b(\w*unlock\w*|up_read|up_write|up|\w+_read_unlock\w*)\s*\(")
LOCK = re.compile(r"\b(\w*_lock(_\w+)?|lock_\w+|down_read\w*|down_write\w*|mutex_lock\w*|"
                  r"guard|scoped_guard)\s*\(")
RELEASE = re.compile(r"\b(\w+_put\w*|put_\w+|kv?free\w*|vfree|\w+_free\w*|iput|brelse|dput|fput|"
                     r"\w+_release|\w+_destroy\w*|\w+_unref\w*|consume_skb|kfree_skb\w*)\s*\(")
STATE = re.compile(r"\b(clear_bit|set_bit|\w+_end|\w+_exit|\w+_stop|atomic_dec\w*|"
                   r"\w+_dec)\s*\(|->\w*(state|flags?|count)\s*[-+|&]?=")
ONCE = re.compile(r"\b(READ_ONCE|WRITE_ONCE|smp_\w+|atomic\w*)\s*\(")
GOTO = re.compile(r"\bgoto\s+(\w+)\s*;")
EXIT = re.compile(r"\b(return|goto|break|continue)\b")


def guess_kind(added: list[str], removed: list[str]) -> tuple[str, str]:
    """(kind, rule) guessed from the code lines a fix adds and removes.

    The reversed fix is the bug. A fix that adds a release (unlock, put, free) to a path that
    was there before, or sends an existing return to a cleanup label, reverses into a path
    that skips the release: a case. A fix that adds a new exit which releases what it must (a
    new check with `goto out_unlock`) reverses into a missing check that stays balanced: a
    control ("balanced"). What a fix adds more of than it removes counts (a rename adds one
    call and removes another, and is no fix of that kind)."""
    a, r = "\n".join(_code(added)), "\n".join(_code(removed))

    def more(pattern) -> bool:
        return len(pattern.findall(a)) > len(pattern.findall(r))

    def new_gotos(word: str) -> bool:
        """More jumps to labels named `word` than before, in place of a return."""
        gotos = [g for g in GOTO.findall(a) if re.search(word, g)]
        return len(gotos) > len([g for g in GOTO.findall(r) if re.search(word, g)]) \
            and "return" in r  # a return turned into a jump to the label

    same_exits = len(EXIT.findall(a)) <= len(EXIT.findall(r))
    if more(LOCK) and more(UNLOCK):
        return "unlocked", "unlocked-read"
    if more(UNLOCK) and not more(LOCK) and same_exits or new_gotos("unlock"):
        return "lock", "lock-imbalance"
    if more(RELEASE) and same_exits or new_gotos("put|free|release|drop|unref"):
        return "leak", "refcount-leak"
    if more(STATE) and same_exits:
        return "state", "state-imbalance"
    if not same_exits and (more(UNLOCK) or more(RELEASE) or GOTO.search(a)):
        return "balanced", ""
    if any(p.search(a + r) for p in (LOCK, UNLOCK, RELEASE, STATE, ONCE)):
        return "unclear", ""
    return "other", ""


def _code(lines: list[str]) -> list[str]:
    return [line for line in lines if line and not line.startswith(("/*", "*", "//"))]


def changelog_match(entries: list[str], path: str, function: str) -> str:
    """The changelog line that names the function, else the best match on the path's parts."""
    named = [e for e in entries if re.search(rf"\b{re.escape(function)}\b", e)]
    if named:
        return named[0]
    words = {w for w in re.split(r"[/._-]", path) + function.split("_")
             if len(w) > 3 and w not in ("drivers", "net", "linux")}
    scored = sorted(((sum(w.lower() in e.lower() for w in words), e) for e in entries),
                    key=lambda item: -item[0])
    return f"? {scored[0][1]}" if scored and scored[0][0] else "?"


def propose(cache: Path, out: Path, max_lines: int) -> None:
    package, old, new = BENCH
    old, new = fetch(cache, package, old, new)
    old_root, new_root = unpack(cache, package, old), unpack(cache, package, new)
    entries = changelog_lines(cache, new, old)
    held = held_out_functions(cache)
    lines = [f"# candidates from {package} {old} .. {new}; check each by hand\n"]
    count = held_back = 0
    for path in changed_paths(old_root, new_root, (".c",)):
        if not (old_root / path).exists() or not (new_root / path).exists():
            continue
        old_text, new_text = read(old_root / path), read(new_root / path)
        for function, hunks in sorted(hunks_by_function(old_text, new_text).items()):
            added, removed = diff_lines(hunks)
            if not added and not removed or len(added) + len(removed) > max_lines:
                continue
            if function not in functions(old_text):
                continue
            if (path, function) in held:
                held_back += 1
                continue
            kind, rule = guess_kind(added, removed)
            count += 1
            lines.append(_toml_case(path, function, kind, rule,
                                    changelog_match(entries, path, function), hunks))
    out.write_text("".join(lines), encoding="utf-8")
    print(f"{count} candidates written to {out}; {held_back} more changed in the held-out "
          f"range and are left out", file=sys.stderr)


def _toml_case(path, function, kind, rule, fix, hunks) -> str:
    diff = "".join(f"#   {line}" for h in hunks for line in str(h).splitlines(keepends=True))
    role = "control" if kind in ("balanced", "other") else "case"
    return (f"\n[[case]]\nfile = {json.dumps(path)}\nfunction = {json.dumps(function)}\n"
            f"role = \"{role}\"\nkind = \"{kind}\"\nrule = \"{rule}\"\n"
            f"fix = {json.dumps(fix)}\n{diff}")


# ----------------------------------------------------------------------------------- building

def case_id(entry: dict) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{entry['file']}-{entry['function']}")


def git(repo: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | GIT_ENV
    done = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True,
                          errors="surrogateescape")
    if done.returncode != 0:
        raise BuildError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def build_case(entry: dict, old_root: Path, new_root: Path, dest: Path) -> None:
    path, function = entry["file"], entry["function"]
    old_text, new_text = read(old_root / path), read(new_root / path)
    hunks = hunks_by_function(old_text, new_text).get(function)
    if not hunks:
        raise BuildError(f"{path}: {function}() did not change between the packages")
    fixed_text = apply_hunks(old_text, hunks)
    shutil.rmtree(dest, ignore_errors=True)
    repo = dest / "repo"
    directory = os.path.dirname(path)
    (repo / directory).mkdir(parents=True)
    for source in sorted((old_root / directory).iterdir()):  # the directory, not below it
        if source.is_file() and (source.suffix in C_SUFFIXES or source.name == "Makefile"):
            shutil.copyfile(source, repo / directory / source.name)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"{directory}: as in {BENCH[0]} {BENCH[1]}")
    git(repo, "tag", "old")
    subject = entry["fix"]
    (repo / path).write_text(fixed_text, encoding="utf-8", errors="surrogateescape")
    git(repo, "commit", "-q", "-a", "-m", f"{subject}\n\nThe change to {function}() of the "
        f"upstream fix, as in {BENCH[0]} {BENCH[2]}.")
    git(repo, "tag", "fixed")
    (repo / path).write_text(old_text, encoding="utf-8", errors="surrogateescape")
    git(repo, "commit", "-q", "-a", "-m", f"Revert \"{subject}\"\n\nPuts back the code of "
        f"{function}() before the fix.")
    git(repo, "tag", "buggy")
    for name, rng in (("forward.patch", "old..fixed"), ("reverse.patch", "fixed..buggy")):
        base = rng.split("..")[0]
        (dest / name).write_text(git(repo, "format-patch", "--stdout", f"--base={base}", rng),
                                 encoding="utf-8", errors="surrogateescape")
    git(repo, "checkout", "-q", "fixed")
    info = dict(entry, id=dest.name, commits={b: git(repo, "rev-parse", b).strip()
                                              for b in ("old", "fixed", "buggy")})
    (dest / "case.json").write_text(json.dumps(info, indent=2) + "\n")


def load_manifest(path: Path = MANIFEST) -> list[dict]:
    with path.open("rb") as fh:
        return tomllib.load(fh)["case"]


def build(cache: Path) -> int:
    package, old, new = BENCH
    old, new = fetch(cache, package, old, new)
    old_root, new_root = unpack(cache, package, old), unpack(cache, package, new)
    held = held_out_functions(cache)
    cases_dir = cache / "cases"
    shutil.rmtree(cases_dir, ignore_errors=True)
    cases_dir.mkdir()
    built = dropped = 0
    for entry in load_manifest():
        if (entry["file"], entry["function"]) in held:
            print(f"dropped {entry['file']} {entry['function']}(): it also changed in "
                  f"{HELD_OUT[0]} {HELD_OUT[1]}..{HELD_OUT[2]}", file=sys.stderr)
            dropped += 1
            continue
        try:
            build_case(entry, old_root, new_root, cases_dir / case_id(entry))
        except BuildError as err:
            print(f"not built: {entry['file']} {entry['function']}(): {err}", file=sys.stderr)
            dropped += 1
            continue
        built += 1
    (cache / "versions.json").write_text(json.dumps(
        {"package": package, "old": old, "new": new, "held_out": list(HELD_OUT)}, indent=2))
    print(f"{built} cases built in {cases_dir}, {dropped} left out", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache", metavar="CACHE_DIR", help="where packages, trees and cases go")
    parser.add_argument("--propose", metavar="FILE", type=Path,
                        help="write manifest candidates here instead of building the cases")
    parser.add_argument("--max-lines", type=int, default=30,
                        help="--propose: largest change of one function (added + removed lines)")
    args = parser.parse_args(argv)
    cache = Path(args.cache).resolve()
    try:
        if args.propose:
            propose(cache, args.propose, args.max_lines)
            return 0
        return build(cache)
    except (BuildError, subprocess.CalledProcessError, OSError) as err:
        print(f"build.py: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
