"""Output and signals: a closed stdout loses the report but not the exit status, a directory
of replies is written whole or not at all, SIGTERM cleans up as Ctrl-C does."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import SEED_MBOX
from fixture_repo import BASE_DIR as MINIFS_BASE
from fixture_repo import SERIES, make_minifs_repo
from reviewbot import cli

REVIEWBOT = [sys.executable, "-m", "reviewbot"]
REPLIES = ["0001-re-fuse-fix-wrong-ff-iomode-state-changes-from-parallel.eml",
           "0002-re-fuse-prepare-for-long-lived-reference-on-backing-fil.eml"]


def run(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*REVIEWBOT, *args], capture_output=True, text=True, timeout=120,
                          **kwargs)


def test_a_reader_that_quits_does_not_hide_the_findings():
    """`reviewbot check ... | head -0`: the pipe's reader is gone before the report comes."""
    proc = subprocess.Popen([*REVIEWBOT, "check", "--fail-on", "low", str(SEED_MBOX)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert err == "reviewbot: stdout: closed before the output was written\n"


@pytest.mark.parametrize("command, status", [("check", 1), ("show", 0)])
def test_a_closed_stdout_keeps_the_exit_status(command, status):
    done = run(command, str(SEED_MBOX), stdout=None, pass_fds=(),
               preexec_fn=lambda: os.close(1))
    assert done.returncode == status
    assert "Traceback" not in done.stderr


def test_a_full_disk_on_stdout_is_exit_2():
    with open("/dev/full", "w") as full:
        done = subprocess.run([*REVIEWBOT, "check", str(SEED_MBOX)], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr == "reviewbot: stdout: No space left on device\n"


def test_replies_into_an_existing_directory_are_all_or_nothing(capsys, tmp_path):
    target = tmp_path / "replies"
    target.mkdir()
    (target / "notes.txt").write_text("mine\n")
    (target / REPLIES[1]).mkdir()  # the second reply cannot be written
    status = cli.main(["check", "--format", "mail", "--output", str(target), str(SEED_MBOX)])
    assert status == 2
    assert capsys.readouterr().err == f"reviewbot: {target / REPLIES[1]}: Is a directory\n"
    assert sorted(p.name for p in target.iterdir()) == [REPLIES[1], "notes.txt"]
    (target / REPLIES[1]).rmdir()
    assert cli.main(["check", "--format", "mail", "--output", str(target), str(SEED_MBOX)]) == 1
    assert sorted(p.name for p in target.iterdir()) == [*REPLIES, "notes.txt"]
    assert (target / "notes.txt").read_text() == "mine\n"


def test_sigterm_removes_the_temporary_index_as_ctrl_c_does(tmp_path):
    """SIGTERM while `git apply` runs in the temporary index: the process unwinds, its
    temporary directory goes, the exit status says it was terminated (128 + 15)."""
    repo = make_minifs_repo(tmp_path / "repo", tmp_path / "no-patches")
    stalled = tmp_path / "stalled"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # a git that stalls in `git apply`, to be stopped there; every other command is git's own
    (bin_dir / "git").write_text(
        f"#!/bin/sh\nfor arg; do [ \"$arg\" = apply ] && touch {stalled} && exec sleep 60; done\n"
        f"exec {shutil.which('git')} \"$@\"\n")
    (bin_dir / "git").chmod(0o755)
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "TMPDIR": str(temp)}
    proc = subprocess.Popen([*REVIEWBOT, "check", "--tree", str(repo.path), str(SERIES)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not stalled.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stalled.exists(), proc.communicate()
    assert [p.name[:10] for p in temp.iterdir()] == ["reviewbot-"]
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM
    assert out == "" and err == ""
    assert list(temp.iterdir()) == []


def heed_ctrl_c() -> None:
    """A test run in the background of a shell inherits SIGINT ignored: a terminal's
    reviewbot does not."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_stopping_an_index_of_worker_processes_prints_no_traceback(tmp_path, sig):
    """Ctrl-C reaches the whole process group (the workers too); SIGTERM only reviewbot."""
    tree = tmp_path / "tree"
    tree.mkdir()
    text = (MINIFS_BASE / "file.c").read_text() * 20  # seconds of work for the workers
    for n in range(60):
        (tree / f"file{n}.c").write_text(f"{text}int v{n};\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = subprocess.Popen([*REVIEWBOT, "index", "--jobs", "2", str(tree)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=heed_ctrl_c)
    workers = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    deadline = time.monotonic() + 30
    while proc.poll() is None and not workers.read_text().strip() and time.monotonic() < deadline:
        time.sleep(0.05)  # until the pool of workers is up
    time.sleep(0.5)
    assert proc.poll() is None, "the index ended before it could be stopped"
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig
    assert err == "" and out == ""
