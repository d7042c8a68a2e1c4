"""The mail bot: list-style replies (the `mail` format of `check`) sent over SMTP.

Opt-in per list: a reply goes out only when the patch was sent to one of the lists the config
names. Each reply gets a Message-ID made from the patch and its findings, and is written to a
log of sent mail once the server took it: a rerun sends what is missing and nothing twice.
"""

from __future__ import annotations

import email.utils
import hashlib
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from reviewbot.errors import InputError, Unavailable

TIMEOUT = 60.0


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int = 587
    starttls: bool = True
    user: str | None = None
    password: str | None = None


def opted_in(replies: list[EmailMessage], lists: list[str]) -> list[EmailMessage]:
    """The replies to patches sent to one of `lists` (which stay in their Cc)."""
    wanted = {address.lower() for address in lists}
    return [msg for msg in replies
            if wanted & {addr.lower() for _name, addr in
                         email.utils.getaddresses(msg.get_all("Cc", []) + msg.get_all("To", []))}]


def stamp(msg: EmailMessage) -> EmailMessage:
    """Give the reply its Message-ID (the same on every run for the same findings) and Date."""
    domain = email.utils.parseaddr(str(msg["From"] or ""))[1].rpartition("@")[2] or "reviewbot"
    digest = hashlib.sha256(f"{msg['In-Reply-To']}\0{msg.get_content()}".encode()).hexdigest()
    msg["Message-ID"] = f"<reviewbot.{digest[:24]}@{domain}>"
    msg["Date"] = email.utils.formatdate(localtime=False)
    return msg


def send(messages: list[EmailMessage], server: Smtp, sent_log: Path) -> list[str]:
    sent = set(sent_log.read_text().split()) if sent_log.exists() else set()
    todo = [msg for msg in messages if msg["Message-ID"] not in sent]
    if not todo:
        return [f"mail: nothing to send ({len(messages)} reply(s) sent before)"]
    where = f"{server.host}:{server.port}"
    try:
        with smtplib.SMTP(server.host, server.port, timeout=TIMEOUT) as smtp:
            if server.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if server.user:
                smtp.login(server.user, server.password or "")
            sent_log.parent.mkdir(parents=True, exist_ok=True)
            for msg in todo:
                smtp.send_message(msg)
                with sent_log.open("a") as log:
                    log.write(f"{msg['Message-ID']}\n")
    except smtplib.SMTPAuthenticationError as err:
        raise InputError(f"smtp {where}", f"login refused: {err.smtp_code}") from None
    except (smtplib.SMTPException, OSError) as err:
        raise Unavailable(f"smtp {where}", f"{type(err).__name__}: {err}") from None
    return [f"mail: {len(todo)} reply(s) sent through {where}"]
