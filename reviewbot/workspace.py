"""File versions per patch: the text of every touched file at the base and after each patch.

Tree mode (a git repository) gives whole files. The patches are applied with plumbing only:
`git apply --cached` into a temporary index file, `git write-tree`, with every new object
written to a temporary object directory (the repository's own objects serve as alternates).
The user's checkout, index, branches and object store are never written; the temporary
directory goes away on every exit path. A series from a git range needs no applying: its
versions are its commits.

Hunk-only mode knows each file only as far as the hunks show it: the pre-image lines of a
patch are known at the version before it, the post-image lines at the version after it, and
what one patch shows is carried to the other versions through the line shifts of the
patches in between, as long as no patch changes the line.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from difflib import SequenceMatcher

import unidiff

from reviewbot import diffs
from reviewbot.diffs import file_paths
from reviewbot.errors import DoesNotApply, InputError
from reviewbot.limits import Limits
from reviewbot.series import Patch, Series

TREE, HUNK_ONLY = "tree", "hunk-only"

# How many of the newest commits (of all refs) are searched for the base of a series that
# names none: the first one whose files have the blob ids of the patches' `index` lines.
GUESS_DEPTH = 5000

# `index 1a2b3c4d5e6f..0f1e2d3c4b5a 100644`: unidiff keeps this line but not the ids in it
INDEX_LINE = re.compile(r"^index ([0-9a-f]+)\.\.([0-9a-f]+)")
# where `git apply` names the file that failed
APPLY_ERRORS = [re.compile(r"^error: patch failed: (.+):\d+$"),
                re.compile(r"^error: (.+): (?:patch does not apply|does not exist in index|"
                           r"already exists in index|does not match index)$")]
# a parent environment may point git elsewhere (hooks do): this module says where itself
GIT_LOCATION_VARS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                     "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR")


@dataclass(frozen=True)
class KnownRange:
    """Lines start..end (1-based, inclusive) are known; `context` is the hunk's @@ section text."""

    start: int
    end: int
    context: str = ""


@dataclass
class FileVersion:
    path: str
    text: str | None  # None: the file does not exist at this point
    # None: the whole file is known (tree mode). Otherwise the known line ranges; every other
    # line of `text` is an empty placeholder so that line numbers stay those of the real file.
    known: list[KnownRange] | None = None


@dataclass(frozen=True)
class FileChange:
    patch: int  # 1-based
    old_path: str | None  # None when added
    new_path: str | None  # None when deleted
    status: str  # "modified", "added", "deleted", "renamed", "binary"
    is_c: bool  # .c or .h
    added: int = 0
    removed: int = 0


def is_c_path(path: str) -> bool:
    return path.endswith((".c", ".h"))


@dataclass
class Workspace:
    mode: str  # TREE or HUNK_ONLY
    base: str | None  # base commit (tree mode), else None
    patch_count: int
    changes: list[list[FileChange]] = field(default_factory=list)  # per patch, in order
    # versions[k][path]: every path the series touches (under any of its names), at version
    # k = 0 (base) .. patch_count, in the order the series first names them
    versions: list[dict[str, FileVersion]] = field(default_factory=list, repr=False)
    # the tree the user named (tree mode: the repository's top directory, where untouched
    # files are read from; hunk-only mode keeps it for the tree's configuration)
    tree: str | None = None
    # files no patch touches, read once: they are the same at every version
    untouched: dict[str, FileVersion] = field(default_factory=dict, repr=False)

    def version(self, path: str, k: int) -> FileVersion:
        """`path` at version k: 0 is the base, k >= 1 is after patch k."""
        if not 0 <= k <= self.patch_count:
            raise IndexError(f"version {k} of a series of {self.patch_count} patches")
        touched = self.versions[k].get(path)
        if touched is not None:
            return touched
        if path not in self.untouched:
            self.read_untouched([path])
        return self.untouched[path]

    def before(self, path: str, patch: int) -> FileVersion:
        """`path` just before patch `patch` (1-based) is applied."""
        return self.version(path, patch - 1)

    def after(self, path: str, patch: int) -> FileVersion:
        """`path` just after patch `patch` (1-based) is applied."""
        return self.version(path, patch)

    def paths(self, k: int) -> list[str]:
        """Every touched path that exists at version k, named as it is there."""
        return [path for path, version in self.versions[k].items() if version.text is not None]

    def c_paths(self, k: int) -> list[str]:
        return [path for path in self.paths(k) if is_c_path(path)]

    def read_untouched(self, paths: list[str]) -> None:
        """Read the files among `paths` that no patch touches, all at once (one git process for
        all of them, not one each). Such a file is the same at every version: in tree mode the
        base's file, in hunk-only mode nothing of it is known."""
        wanted = [path for path in dict.fromkeys(paths)
                  if path not in self.untouched and not any(path in v for v in self.versions)]
        if self.mode == HUNK_ONLY:
            self.untouched.update((path, FileVersion(path, "", known=[])) for path in wanted)
        elif self.base is None:
            self.untouched.update((path, FileVersion(path, None)) for path in wanted)
        elif wanted:
            blobs = Git(self.tree).read_blobs([f"{self.base}:{path}" for path in wanted])
            self.untouched.update((path, FileVersion(path, decode(blob)))
                                  for path, blob in zip(wanted, blobs))


def build_workspace(series: Series, tree: str | None = None, base: str | None = None,
                    hunks_only: bool = False, limits: Limits = Limits()) -> Workspace:
    changes = [file_changes(patch, n, limits) for n, patch in enumerate(series.patches, 1)]
    if base is not None and tree is None and not hunks_only:
        raise InputError(base, "--base needs --tree: without a tree there is nothing to apply "
                               "the series on")
    if hunks_only or tree is None:
        workspace = hunk_only_workspace(series, changes)
        workspace.tree = tree
        return workspace
    return tree_workspace(series, changes, Git(tree), base)


# --- the diffs ---------------------------------------------------------------------------

def file_changes(patch: Patch, number: int, limits: Limits) -> list[FileChange]:
    diffs.check_line_numbers(patch.patchset, patch.label, limits)
    found = []
    for pf in patch.patchset:
        old, new = file_paths(pf)
        for name in (old, new):
            if name is not None and ("\n" in name or "\0" in name or not name):
                raise InputError(patch.label, f"a file name git would not write: {name!r}")
        if pf.is_binary_file:
            status = "binary"
        elif old is None:
            status = "added"
        elif new is None:
            status = "deleted"
        elif old != new:
            status = "renamed"
        else:
            status = "modified"
        found.append(FileChange(number, old, new, status, is_c_path(new or old),
                                pf.added, pf.removed))
    return found


def touched_paths(changes: list[list[FileChange]]) -> list[str]:
    """Every name any patch gives a file, in the order the series first names them."""
    names: dict[str, None] = {}
    for change in (c for per_patch in changes for c in per_patch):
        for name in (change.old_path, change.new_path):
            if name is not None:
                names.setdefault(name)
    return list(names)


def decode(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", errors="replace")


# --- tree mode ---------------------------------------------------------------------------

class Git:
    """git run in one repository, with the caller's idea of where git's files are ignored."""

    def __init__(self, tree: str):
        if not os.path.isdir(tree):
            raise InputError(tree, "not a directory" if os.path.exists(tree) else "no such directory")
        self.tree = self.top = tree
        self.env = {k: v for k, v in os.environ.items() if k not in GIT_LOCATION_VARS}
        toplevel = self.run("rev-parse", "--show-toplevel", check=False)
        if toplevel.returncode != 0:
            raise InputError(tree, "not a git repository")
        # `git apply` takes paths relative to the current directory: work from the top
        self.top = toplevel.stdout.decode().strip()

    def run(self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None,
            check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(["git", "-C", self.top, *args], input=input, capture_output=True,
                                env={**self.env, **(env or {})})
        if check and result.returncode != 0:
            raise InputError(self.tree, f"git {args[0]} failed: "
                             f"{result.stderr.decode(errors='replace').strip()}")
        return result

    def out(self, *args: str, env: dict[str, str] | None = None) -> str:
        return self.run(*args, env=env).stdout.decode().strip()

    def commit(self, rev: str) -> str | None:
        found = self.run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
        return found.stdout.decode().strip() if found.returncode == 0 else None

    def read_blobs(self, specs: list[str], env: dict[str, str] | None = None) -> list[bytes | None]:
        """The contents of `REV:path` specs, None where there is no such file."""
        if not specs:
            return []
        out = self.run("cat-file", "--batch", input="".join(f"{s}\n" for s in specs).encode(),
                       env=env).stdout
        blobs: list[bytes | None] = []
        pos = 0
        for _ in specs:
            end = out.index(b"\n", pos)
            header = out[pos:end].split()
            pos = end + 1
            if header[-1] in (b"missing", b"ambiguous"):
                blobs.append(None)
                continue
            size = int(header[2])
            blobs.append(out[pos:pos + size] if header[1] == b"blob" else None)
            pos += size + 1
        return blobs

    def object_ids(self, specs: list[str]) -> list[str | None]:
        """The object ids of `REV:path` specs, None where there is no such file."""
        out = self.run("cat-file", "--batch-check=%(objectname)",
                       input="".join(f"{s}\n" for s in specs).encode()).stdout.decode()
        return [None if line.endswith((" missing", " ambiguous")) else line
                for line in out.splitlines()]


def tree_workspace(series: Series, changes: list[list[FileChange]], git: Git,
                   base: str | None) -> Workspace:
    names = touched_paths(changes)
    commits = [patch.commit for patch in series.patches]
    if commits and all(commits):
        # a git range: the versions are the commits themselves
        base_commit = git.commit(f"{commits[0]}^")
        if base is not None and named_commit(git, base) != base_commit:
            raise InputError(base, "--base does not apply to a git range: it starts at "
                                   f"{base_commit[:12] if base_commit else 'an empty tree'}")
        revs = [base_commit] + commits
        texts = read_versions(git, revs, names)
    else:
        base_commit = find_base(series, git, base)
        texts = applied_versions(series, git, base_commit, names)
    versions = [{name: FileVersion(name, decode(text)) for name, text in zip(names, per_rev)}
                for per_rev in texts]
    return Workspace(TREE, base_commit, len(series.patches), changes, versions, tree=git.top)


def read_versions(git: Git, revs: list[str | None], names: list[str],
                  env: dict[str, str] | None = None) -> list[list[bytes | None]]:
    """For each rev (a commit or a tree; None: nothing exists), the content of each name."""
    specs = [f"{rev}:{name}" for rev in revs if rev is not None for name in names]
    blobs = iter(git.read_blobs(specs, env))
    return [[next(blobs) if rev is not None else None for _ in names] for rev in revs]


def applied_versions(series: Series, git: Git, base: str,
                     names: list[str]) -> list[list[bytes | None]]:
    """Apply the patches one by one onto `base` in a temporary index; the file contents at
    the base and after each patch."""
    objects = git.out("rev-parse", "--path-format=absolute", "--git-path", "objects")
    with tempfile.TemporaryDirectory(prefix="reviewbot-") as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index"),
               "GIT_OBJECT_DIRECTORY": os.path.join(tmp, "objects"),
               "GIT_ALTERNATE_OBJECT_DIRECTORIES": objects}
        os.mkdir(env["GIT_OBJECT_DIRECTORY"])
        git.run("read-tree", base, env=env)
        trees = [git.out("write-tree", env=env)]
        for patch in series.patches:
            # a diff cut out of a mail may have lost its last newline: git apply needs it
            diff = patch.diff if patch.diff.endswith("\n") else patch.diff + "\n"
            applied = git.run("apply", "--cached", "--whitespace=nowarn", "-",
                              input=diff.encode(), env=env, check=False)
            if applied.returncode != 0:
                problem, path = apply_problem(applied.stderr.decode(errors="replace"), base)
                raise DoesNotApply(patch.label, problem, path)
            trees.append(git.out("write-tree", env=env))
        return read_versions(git, trees, names, env)


def apply_problem(stderr: str, base: str) -> tuple[str, str | None]:
    """What `git apply` said, in one line, and the file that failed when it names one."""
    for line in stderr.splitlines():
        for pattern in APPLY_ERRORS:
            failed = pattern.match(line)
            if failed:
                return (f"does not apply to {failed.group(1)} at base {base[:12]} "
                        f"(--hunks-only reviews it without the tree)", failed.group(1))
    first = stderr.strip().splitlines()[0] if stderr.strip() else "git apply failed"
    return (f"does not apply at base {base[:12]}: {first} (--hunks-only reviews it without "
            "the tree)", None)


def find_base(series: Series, git: Git, base: str | None) -> str:
    """The commit the series applies to: --base, else the series' base-commit, else a guess
    from the patches' index lines."""
    if base is not None:
        return named_commit(git, base)
    if series.base_commit:
        found = git.commit(series.base_commit)
        if found is not None:
            return found
    guessed = guess_base(series, git)
    if guessed is not None:
        return guessed
    named = (f"its base-commit {series.base_commit} is not in the tree, and "
             if series.base_commit else "")
    raise InputError(git.tree, f"cannot tell which commit the series applies to: {named}"
                     f"no commit among the newest {GUESS_DEPTH} has the files its index "
                     f"lines name; pass --base REV, or --hunks-only")


def named_commit(git: Git, rev: str) -> str:
    """The commit `rev` (from --base) names."""
    found = git.commit(rev)
    if found is None:
        raise InputError(rev, f"not a commit in {git.tree}")
    return found


def preimage_blobs(series: Series) -> dict[str, str]:
    """path -> abbreviated blob id of the file as the first patch touching it expects it."""
    expected: dict[str, str] = {}
    seen: set[str] = set()
    for patch in series.patches:
        for pf in patch.patchset:
            old, new = file_paths(pf)
            index = next((m for m in map(INDEX_LINE.match, pf.patch_info or []) if m), None)
            if old is not None and old not in seen and index and index.group(1).strip("0"):
                expected[old] = index.group(1)
            seen.update(name for name in (old, new) if name is not None)
    return expected


def guess_base(series: Series, git: Git) -> str | None:
    """The newest of the last GUESS_DEPTH commits (all refs, by date) whose files have the
    blob ids the patches' index lines give for them. Limits: a series without index lines
    (or only adding files) guesses HEAD; a base older than GUESS_DEPTH commits, or on no ref,
    is not found."""
    expected = preimage_blobs(series)
    if not expected:
        return git.commit("HEAD")
    listed = git.run("rev-list", f"--max-count={GUESS_DEPTH}", "--all", check=False)
    candidates = listed.stdout.decode().split()
    paths = list(expected)
    ids = git.object_ids([f"{c}:{p}" for c in candidates for p in paths]) if candidates else []
    for i, commit in enumerate(candidates):
        found = ids[i * len(paths):(i + 1) * len(paths)]
        if all(oid and oid.startswith(expected[p]) for oid, p in zip(found, paths)):
            return commit
    return None


# --- hunk-only mode ----------------------------------------------------------------------

@dataclass
class HunkView:
    """What the hunks of the series show of one file at one version."""

    exists: bool
    lines: dict[int, tuple[str, str]] = field(default_factory=dict)  # line -> (text, @@ context)
    complete: bool = False  # every line is known (added by the series, or deleted by it)

    def version(self, path: str) -> FileVersion:
        if not self.exists:
            return FileVersion(path, None)
        count = max(self.lines, default=0)
        text = "".join(self.lines.get(n, ("", ""))[0] + "\n" for n in range(1, count + 1))
        if self.complete:
            return FileVersion(path, text)
        known = []
        for n in sorted(self.lines):
            if known and known[-1].end == n - 1:
                known[-1] = KnownRange(known[-1].start, n, known[-1].context)
            else:
                known.append(KnownRange(n, n, self.lines[n][1]))
        return FileVersion(path, text, known)


def hunk_only_workspace(series: Series, changes: list[list[FileChange]]) -> Workspace:
    names = touched_paths(changes)
    count = len(series.patches)
    files = [{name: HunkView(exists=False) for name in names} for _ in range(count + 1)]
    mark_existing(files, changes, names)
    patch_files = [list(patch.patchset) for patch in series.patches]
    for n, pfs in enumerate(patch_files, 1):
        for pf in pfs:
            learn_from_hunks(files[n - 1], files[n], pf)
    # carry every line to the versions where no patch has changed it: forward, then back
    for n in range(1, count + 1):
        carry(files[n - 1], files[n], patch_files[n - 1], forward=True)
    for n in range(count, 0, -1):
        carry(files[n], files[n - 1], patch_files[n - 1], forward=False)
    versions = [{name: known.version(name) for name, known in per_version.items()}
                for per_version in files]
    return Workspace(HUNK_ONLY, None, count, changes, versions)


def mark_existing(files: list[dict[str, HunkView]], changes: list[list[FileChange]],
                  names: list[str]) -> None:
    """A name exists at the base unless the series first creates it; then each patch adds,
    deletes and renames."""
    created_first = set()
    seen: set[str] = set()
    for change in (c for per_patch in changes for c in per_patch):
        if change.new_path is not None and change.new_path not in seen and \
                change.new_path != change.old_path:
            created_first.add(change.new_path)
        seen.update(name for name in (change.old_path, change.new_path) if name is not None)
    existing = {name for name in names if name not in created_first}
    for k, per_version in enumerate(files):
        if k > 0:
            for change in changes[k - 1]:
                existing.discard(change.old_path)
                existing.add(change.new_path)
        for name in existing:
            if name is not None:
                per_version[name].exists = True


def learn_from_hunks(before: dict[str, HunkView], after: dict[str, HunkView],
                     pf: unidiff.PatchedFile) -> None:
    old, new = file_paths(pf)
    if pf.is_binary_file:
        return
    for index, hunk in enumerate(pf):
        # git takes the section header from the pre-image: the post-image may have renamed it
        context_after = context_after_patch(pf, index)
        for line in hunk:
            text = line.value.rstrip("\r\n")
            if old is not None and line.source_line_no is not None:
                before[old].lines.setdefault(line.source_line_no, (text, hunk.section_header))
            if new is not None and line.target_line_no is not None:
                after[new].lines.setdefault(line.target_line_no, (text, context_after))
    # a new file's diff shows all of it, and so does a deleted file's
    if old is None:
        after[new].complete = True
    if new is None:
        before[old].complete = True


def carry(src: dict[str, HunkView], dst: dict[str, HunkView], pfs: list[unidiff.PatchedFile],
          forward: bool) -> None:
    """Copy what is known at `src` to the neighbouring version `dst` across one patch
    (`forward`: src is the version before the patch)."""
    diffs = {}
    for pf in pfs:
        old, new = file_paths(pf)
        here, there = (old, new) if forward else (new, old)
        if here is not None:
            diffs[here] = (there, pf)
    for name, known in src.items():
        if not known.exists:
            continue
        there, pf = diffs.get(name, (name, None))
        if there is None or (pf is not None and pf.is_binary_file):
            continue
        target = dst[there]
        contexts: dict[str, str] = {}
        for number, (text, context) in known.lines.items():
            if pf is None:
                target.lines.setdefault(number, (text, context))
                continue
            moved = moved_line(pf, number, forward)
            if moved is not None:
                if context not in contexts:
                    contexts[context] = moved_context(pf, context, forward)
                target.lines.setdefault(moved, (text, contexts[context]))
        target.complete = target.complete or known.complete


def moved_line(pf: unidiff.PatchedFile, number: int, forward: bool) -> int | None:
    """Where line `number` of one side of the diff is on the other side; None when the patch
    removes it (forward) or adds it (backward)."""
    shift = 0
    for hunk in pf:
        start, length = ((hunk.source_start, hunk.source_length) if forward
                         else (hunk.target_start, hunk.target_length))
        # a hunk with no lines on this side inserts after line `start`
        end = start + length if length else start + 1
        if end <= number:
            shift += (hunk.target_length - hunk.source_length) * (1 if forward else -1)
            continue
        if number >= start and length:
            for line in hunk:
                here, there = ((line.source_line_no, line.target_line_no) if forward
                               else (line.target_line_no, line.source_line_no))
                if here == number:
                    return there
        break
    return number + shift


# a line git's C funcname pattern takes for a section header: code in the first column that is
# not a label
SECTION_HEAD = re.compile(r"[A-Za-z_](?![A-Za-z_0-9]*[ \t]*:[ \t]*($|/[/*]))")


def context_after_patch(pf: unidiff.PatchedFile, index: int) -> str:
    """The section header hunk `index` of `pf` has in the post-image. Git names the last line
    above the hunk in the pre-image that opens a definition; the lines between hunks are the
    same on both sides, so only an earlier hunk of the patch can change the answer: when the
    header's line is in one (or above it, with nothing between), the post-image's header is
    the last such line that hunk leaves, if it adds one (the function after a rename, or a
    function the patch put before this hunk)."""
    context = pf[index].section_header
    if not context.strip():
        return context
    for earlier in reversed(pf[:index]):
        old_heads = [line.value for line in earlier if not line.is_added and SECTION_HEAD.match(line.value)]
        new_heads = [line for line in earlier if not line.is_removed and SECTION_HEAD.match(line.value)]
        if old_heads[-1:] and not old_heads[-1].startswith(context.rstrip()):
            return context  # the header is in the unchanged lines below `earlier`
        if not old_heads and earlier.section_header != context:
            return context  # likewise
        if new_heads and new_heads[-1].is_added:
            return new_heads[-1].value.rstrip("\r\n")
        if new_heads or old_heads:
            # the header's line stays, or goes with nothing in view replacing it
            return context if new_heads else moved_context(pf, context, forward=True)
    return context


def moved_context(pf: unidiff.PatchedFile, context: str, forward: bool) -> str:
    """A section header names a line of one side of the diff (a function's head, cut at 80
    characters by git). When the patch rewrites that line, the header on the other side is
    the most similar line that replaced it, within the same run of -/+ lines."""
    if not context.strip():
        return context
    for hunk in pf:
        removed: list[str] = []
        added: list[str] = []
        for line in [*hunk, None]:
            if line is not None and (line.is_removed or line.is_added):
                (removed if line.is_removed else added).append(line.value.rstrip("\r\n"))
                continue
            gone, came = (removed, added) if forward else (added, removed)
            if came and any(text.startswith(context.rstrip()) for text in gone):
                return max(came, key=lambda text: SequenceMatcher(None, context, text).ratio())
            removed, added = [], []
    return context
