"""The `reviewbot` command: one module per subcommand under reviewbot.commands.

Each subcommand module (a module of reviewbot.commands whose name does not start with `_`) has
add_arguments(parser), run(args) -> int, and a docstring whose first line is the help text.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import signal
import sys
import threading
import traceback

from reviewbot import __version__, commands
from reviewbot.c import cache
from reviewbot.errors import ReviewbotError

EXIT_BAD_INPUT = 2  # a usage or input error, or a server that could not be asked
EXIT_INTERNAL = 3  # a bug in reviewbot (1 means findings, so a bug must not look like one)


def subcommand_modules() -> dict[str, object]:
    """Subcommand name -> module, discovered so that a new command is just a new module."""
    found = {}
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        found[info.name.replace("_", "-")] = importlib.import_module(f"reviewbot.commands.{info.name}")
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reviewbot",
        description="Review assistant for C patch series: which tracked fields each function "
        "changes, under which lock, and whether the changes balance.",
    )
    parser.add_argument("--version", action="version", version=f"reviewbot {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="on an internal error, print the whole traceback")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in subcommand_modules().items():
        summary = (module.__doc__ or "").strip().splitlines()[0]
        sp = sub.add_parser(name, help=summary, description=module.__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sp)
        sp.set_defaults(run=module.run)
    return parser


class Terminated(BaseException):
    """SIGTERM, raised where the program is, so that it unwinds as on Ctrl-C: every `with`
    and `finally` runs, temporary directories and half-written outputs go away."""


def _terminate(signum, frame) -> None:
    raise Terminated()


def write_stdout(text: str) -> None:
    """Write `text` to stdout. A reader that quit (`| head`) or a closed stdout loses the
    text, said on stderr, but never the exit status: the caller goes on to return it."""
    try:
        if sys.stdout is None:  # started with stdout closed
            raise BrokenPipeError
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        _drop_stdout()
        print("reviewbot: stdout: closed before the output was written", file=sys.stderr)
    except OSError as err:  # a full disk, ...: the output is lost, and that is an error
        _drop_stdout()
        raise ReviewbotError("stdout", err.strerror or str(err)) from None


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):  # no stdout at all
        sys.stdout = None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    on_main_thread = threading.current_thread() is threading.main_thread()
    if on_main_thread:
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        # a bad cache bound is said now, not by the first put in the middle of a review (in a
        # server: by every review)
        cache.max_bytes()
        return args.run(args)
    except ReviewbotError as err:
        print(f"reviewbot: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    except Terminated:
        return 128 + signal.SIGTERM
    except BrokenPipeError:  # a command's own print to a reader that quit: nothing to report
        _drop_stdout()
        return 0
    except Exception as err:  # a bug of reviewbot's, not the user's: say so in one line
        if args.debug:
            traceback.print_exc()
        print(f"reviewbot: internal error: {type(err).__name__}: {err} (this is a bug in "
              f"reviewbot {__version__}: please report it with the command and its input; "
              "--debug shows the traceback)", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)
