"""Review a branch or a series in CI and post the findings: a GitHub or GitLab review, patchwork
checks, or a reply mail to the list.

    reviewbot ci --tree . --base REV [--head REV] --post github|gitlab|patchwork|mail|none

GitHub and GitLab read their CI environment (docs/ci.md has a workflow and a job to copy): on
a pull or merge request one review with inline comments and one summary comment, edited in
place on reruns; on a push a comment on the commit that introduced each finding. A rerun never
posts a finding twice. Patchwork and mail need the series as it was sent: give it as SOURCE
(a message-id or an mbox), applied at --base in --tree. Settings for patchwork, the review
page and SMTP are in a TOML file (--ci-config, default $XDG_CONFIG_HOME/reviewbot/ci.toml);
tokens and passwords come from environment variables and are never printed.

Exit status: 0, or 1 when a new finding is at or above --fail-on (default high); 2 when the
input is bad or a server refuses (a bad token, no permission).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from reviewbot import service
from reviewbot.commands.check import FAIL_ON, git_identity, write_file, failing
from reviewbot.errors import InputError
from reviewbot.forges import MAX_INLINE, github, gitlab, patchwork, smtp
from reviewbot.report import mail, render
from reviewbot.service import SourceSpec

POST = ("github", "gitlab", "patchwork", "mail", "none")
SETTINGS = {  # section -> keys known in the ci config
    "patchwork": {"url", "project", "token_env"},
    "web": {"url"},
    "smtp": {"host", "port", "starttls", "user", "password_env"},
    "mail": {"from", "lists"},
}
SMTP_PASSWORD_VARIABLE = "REVIEWBOT_SMTP_PASSWORD"


def add_arguments(parser) -> None:
    parser.add_argument("source", nargs="?", metavar="SOURCE",
                        help="the series as sent (message-id, mbox, patch directory) instead "
                             "of the commits --base..--head; needed for patchwork and mail")
    parser.add_argument("--tree", default=".", metavar="DIR",
                        help="the git tree (default: the current directory)")
    parser.add_argument("--base", metavar="REV",
                        help="where the branch starts (the pull request's base); with SOURCE: "
                             "the commit to apply it on")
    parser.add_argument("--head", default="HEAD", metavar="REV",
                        help="the branch's last commit (default: HEAD)")
    parser.add_argument("--post", choices=POST, required=True, help="where the findings go")
    parser.add_argument("--sarif", metavar="FILE", help="also write SARIF here (code scanning)")
    parser.add_argument("--max-inline", type=int, default=MAX_INLINE, metavar="N",
                        help=f"inline comments per patch; the rest go to the summary "
                             f"(default: {MAX_INLINE})")
    parser.add_argument("--send", action="store_true",
                        help="mail: send the replies (without it they are printed)")
    parser.add_argument("--ci-config", metavar="FILE",
                        help="settings for patchwork, the review page and SMTP "
                             "(default: $XDG_CONFIG_HOME/reviewbot/ci.toml, if there)")
    parser.add_argument("--fail-on", choices=FAIL_ON, default="high",
                        help="exit 1 when a new finding is this severe or more (default: high)")


def run(args) -> int:
    settings = load_settings(args.ci_config)
    if args.max_inline < 0:
        raise InputError("--max-inline", f"not a number of comments: {args.max_inline}")
    if args.source is None and not args.base:
        raise InputError("reviewbot ci", "--base is needed (or the series as SOURCE)")
    inputs = (args.source,) if args.source else (f"{args.base}..{args.head}",)
    review = service.review(SourceSpec(inputs, tree=args.tree, base=args.base if args.source
                                       else None))
    if args.post != "mail" or args.send:  # else the replies printed are the report
        sys.stdout.write(render("text", review))
    if args.sarif:
        write_file(Path(args.sarif), render("sarif", review))
    for line in post(args, review, settings):
        print(line)
    return 1 if failing(review, args.fail_on) else 0


def post(args, review, settings: dict) -> list[str]:
    if args.post == "github":
        context = github.Context.from_environment()
        return github.post(review, context, _branch_diff(args), args.max_inline, context.api())
    if args.post == "gitlab":
        context = gitlab.Context.from_environment()
        return gitlab.post(review, context, _branch_diff(args), args.max_inline, context.api())
    if args.post == "patchwork":
        config = settings.get("patchwork", {})
        if "url" not in config:
            raise InputError("patchwork", "no [patchwork] url in the ci config")
        variable = config.get("token_env", patchwork.TOKEN_VARIABLE)
        token = os.environ.get(variable)
        if not token:
            raise InputError("patchwork", f"{variable} (the API token) is not set")
        return patchwork.post(review, patchwork.api(config["url"], token), config.get("project"),
                              settings.get("web", {}).get("url"))
    if args.post == "mail":
        return _mail(args, review, settings)
    return []


def _mail(args, review, settings: dict) -> list[str]:
    config = settings.get("mail", {})
    sender = config.get("from") or git_identity(review.tree)
    replies = [smtp.stamp(msg) for msg in mail.replies(review, sender)]
    going = smtp.opted_in(replies, config.get("lists", []))
    skipped = f"{len(replies) - len(going)} reply(s) to lists not opted in ([mail] lists)"
    if not args.send:
        sys.stdout.write(mail.mbox(going))
        return [f"mail: {len(going)} reply(s) printed, not sent (--send sends); {skipped}"]
    server = settings.get("smtp", {})
    if "host" not in server:
        raise InputError("mail", "no [smtp] host in the ci config")
    if not sender:
        raise InputError("mail", "no sender: set [mail] from in the ci config")
    password = os.environ.get(server.get("password_env", SMTP_PASSWORD_VARIABLE))
    connection = smtp.Smtp(server["host"], server.get("port", 587), server.get("starttls", True),
                           server.get("user"), password)
    data = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return [*smtp.send(going, connection, data / "reviewbot" / "sent-mail"), f"mail: {skipped}"]


def _branch_diff(args) -> str:
    """The pull or merge request's diff: from where the branch left --base to --head."""
    done = subprocess.run(["git", "-C", args.tree, "diff", "--no-color", "--no-ext-diff", "-M",
                           f"{args.base}...{args.head}"], capture_output=True, text=True)
    if done.returncode != 0:
        raise InputError(f"{args.base}...{args.head}", done.stderr.strip().splitlines()[-1]
                         if done.stderr.strip() else "git diff failed")
    return done.stdout


def load_settings(path: str | None) -> dict:
    """The ci config: the file named, else the user's ci.toml if there is one."""
    if path is None:
        config_home = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
        default = Path(config_home) / "reviewbot" / "ci.toml"
        if not default.exists():
            return {}
        path = str(default)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise InputError(path, err.strerror or str(err)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InputError(path, f"not valid TOML: {err}") from None
    for section, table in data.items():
        if section not in SETTINGS or not isinstance(table, dict):
            raise InputError(path, f"unknown section [{section}] (known: "
                                   f"{', '.join(sorted(SETTINGS))})")
        unknown = set(table) - SETTINGS[section]
        if unknown:
            raise InputError(path, f"[{section}]: unknown key {sorted(unknown)[0]!r} (known: "
                                   f"{', '.join(sorted(SETTINGS[section]))})")
    return data
