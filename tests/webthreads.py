"""Threads for the web tests: a hostile one written to break a page, and the seed with a v2."""

from __future__ import annotations

import mailbox
from email.message import EmailMessage
from pathlib import Path

import b4

from conftest import SEED_COVER, SEED_MBOX

HOSTILE_COVER = "hostile-0@evil.example"
HOSTILE_PATCH = "hostile-1@evil.example"
HOSTILE_REPLY = "hostile-2@evil.example"
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'
RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: makes text read other than it is
DIFF = f"""\
diff --git a/fs/evil/evil.c b/fs/evil/evil.c
new file mode 100644
index 0000000..1111111
--- /dev/null
+++ b/fs/evil/evil.c
@@ -0,0 +1,6 @@
+/* {SCRIPT} */
+int evil_state;
+int evil(void)
+{{
+	return evil_state; /* {RLO} {IMG} */
+}}
"""


def _message(msgid: str, subject: str, body: str, reply_to: str | None, date: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f'"{SCRIPT}" <evil@evil.example>'
    msg["To"] = "list@evil.example"
    msg["Subject"] = subject
    msg["Date"] = date
    msg["Message-Id"] = f"<{msgid}>"
    if reply_to:
        msg["In-Reply-To"] = f"<{reply_to}>"
        msg["References"] = f"<{HOSTILE_COVER}>"
    msg.set_content(body, cte="8bit")
    return msg


def write_mbox(path: Path, messages: list[EmailMessage]) -> Path:
    box = mailbox.mbox(str(path))
    for msg in messages:
        box.add(msg)
    box.close()
    return path


def hostile_thread(path: Path, reply_bytes: int = 0) -> Path:
    """A cover letter, one patch and one reply whose subjects, names, bodies and diff carry
    markup, an attribute break-out and a bidi override; the reply `reply_bytes` long."""
    title = f"{SCRIPT} {IMG} {RLO}evil"
    filler = "".join(f"line {n:08d} of a very long reply {IMG}\n" for n in range(reply_bytes // 48 + 1))
    messages = [
        _message(HOSTILE_COVER, f"[PATCH 0/1] {title}", f"Cover {SCRIPT} {IMG} {RLO} end\n",
                 None, "Mon, 1 Apr 2024 10:00:00 +0000"),
        _message(HOSTILE_PATCH, f"[PATCH 1/1] {title}",
                 f"Commit message {SCRIPT} {IMG}\n\nSigned-off-by: Evil <evil@evil.example>\n"
                 f"---\n{DIFF}--\n2.40.0\n", HOSTILE_COVER, "Mon, 1 Apr 2024 10:00:01 +0000"),
        _message(HOSTILE_REPLY, f"Re: [PATCH 1/1] {title}",
                 f"> quoted {SCRIPT}\n\nReply {IMG} {RLO}\n" + filler[:reply_bytes],
                 HOSTILE_PATCH, "Mon, 1 Apr 2024 11:00:00 +0000"),
    ]
    return write_mbox(path, messages)


def seed_with_v2(path: Path) -> Path:
    """The seed thread plus a v2 of the series sent in reply to the v1 cover letter."""
    messages = b4.get_msgs_from_mailbox_or_maildir(str(SEED_MBOX))
    resent = b4.get_msgs_from_mailbox_or_maildir(str(SEED_MBOX))[:4]
    for msg in resent:
        msgid = b4.LoreMessage.get_clean_msgid(msg)
        for name, value in [
                ("Subject", msg["Subject"].replace("[PATCH ", "[PATCH v2 ")),
                ("Message-Id", f"<v2-{msgid}>"),
                ("Date", msg["Date"].replace("7 Apr", "14 Apr")),
                ("In-Reply-To", f"<{SEED_COVER}>" if msgid == SEED_COVER else f"<v2-{SEED_COVER}>"),
                ("References", f"<{SEED_COVER}>")]:
            del msg[name]
            msg[name] = value
    return write_mbox(path, messages + resent)
