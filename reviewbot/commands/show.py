"""Show a series: revision, mode and base, each patch's files and the replies to it.

SOURCE is a lore message-id or URL, an mbox, a directory of patch files, patch files, or a
git range A..B (in --tree, default the current directory). Examples:

  reviewbot show 20240407155758.575216-1-amir73il@gmail.com
  reviewbot show https://lore.kernel.org/linux-fsdevel/<message-id>/
  reviewbot show series.mbox
  reviewbot show --tree ~/linux origin/master..HEAD
"""

from __future__ import annotations

from reviewbot import service
from reviewbot.commands._source import add_source_arguments, spec_from_args
from reviewbot.series import Reply, Series
from reviewbot.workspace import TREE, FileChange, Workspace

STATUS_LETTERS = {"modified": "M", "added": "A", "deleted": "D", "renamed": "R", "binary": "B"}


def add_arguments(parser) -> None:
    add_source_arguments(parser)


def run(args) -> int:
    loaded = service.load(spec_from_args(args))
    print(render(loaded.series, loaded.workspace), end="")
    return 0


def render(series: Series, workspace: Workspace) -> str:
    lines = [series.subject,
             f"  revision: v{series.revision}, {len(series.patches)} patches",
             f"  from: {series.author}, {series.date}",
             f"  mode: {workspace.mode}",
             f"  base: {base_text(series, workspace)}"]
    if series.change_id:
        lines.append(f"  change-id: {series.change_id}")
    if series.cover_msgid:
        lines.append(f"  cover letter: <{series.cover_msgid}>")
        lines += reply_lines(series.cover_replies)
    for patch, changes in zip(series.patches, workspace.changes):
        lines += ["", f"[{patch.number}/{patch.total}] {patch.subject}",
                  f"  from: {patch.author}, {patch.date}"]
        if patch.commit:
            lines.append(f"  commit: {patch.commit}")
        elif patch.msgid:
            lines.append(f"  message-id: <{patch.msgid}>")
        lines += change_lines(changes)
        lines += reply_lines(patch.replies)
    return "\n".join(lines) + "\n"


def base_text(series: Series, workspace: Workspace) -> str:
    if workspace.mode == TREE:
        return workspace.base or "none (the series starts from an empty tree)"
    if series.base_commit:
        return f"{series.base_commit} named by the series, not used (give --tree for whole files)"
    return "unknown (give --tree for whole files)"


def change_lines(changes: list[FileChange]) -> list[str]:
    names = [change_name(change) for change in changes]
    width = max(map(len, names), default=0)
    return [f"  {STATUS_LETTERS[change.status]} {name:<{width}}  +{change.added} -{change.removed}"
            for change, name in zip(changes, names)]


def change_name(change: FileChange) -> str:
    if change.status == "renamed":
        return f"{change.old_path} -> {change.new_path}"
    return change.new_path or change.old_path


def reply_lines(replies: list[Reply]) -> list[str]:
    if not replies:
        return []
    lines = [f"  {len(replies)} {'reply' if len(replies) == 1 else 'replies'}:"]
    for reply in replies:
        lines.append(f"    {reply.author}, {reply.date}")
        lines.append(f"      {reply.first_line}")
    return lines
