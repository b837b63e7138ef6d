"""Sending over SMTP (the standard library's smtplib): settings from the Settings sheet, the password from
the environment or the OS keyring — never from the workbook."""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Optional

PASSWORD_ENV = "XL_LEDGER_SMTP_PASSWORD"
KEYRING_SERVICE = "xl-ledger"


class SetupError(Exception):
    """The mail settings cannot work; the message names the cell and what to do."""


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    security: str  # starttls, ssl, none
    sender: str
    user: Optional[str]
    password: Optional[str]
    cafile: Optional[str] = None  # a CA bundle to trust (a studio's own server; the tests' server)


def settings_from(records, book: str, env=os.environ) -> Optional[Smtp]:
    """The SMTP settings, or None when smtp_host is blank (reminders are then only queued)."""
    values: dict[str, object] = {}
    rows: dict[str, int] = {}
    for row, rec in records:
        key = str(rec.get("key") or "").strip().lower()
        if key.startswith("smtp_"):
            values[key], rows[key] = rec.get("value"), row
    if "smtp_password" in values and values["smtp_password"] not in (None, ""):
        raise SetupError(f"{book}!Settings!B{rows['smtp_password']}: a password is typed in the workbook.\n"
                         f"  Anyone with the file could read it: delete the row, and set the environment variable "
                         f"{PASSWORD_ENV} (or store it in the OS keyring as service {KEYRING_SERVICE!r}).")
    host = str(values.get("smtp_host") or "").strip()
    if not host:
        return None
    where = lambda key: f"{book}!Settings!B{rows[key]}" if key in rows else f"{book}!Settings ({key})"  # noqa: E731
    try:
        port = int(str(values.get("smtp_port") or 587).strip().split(".")[0])
    except ValueError:
        raise SetupError(f"{where('smtp_port')}: {values.get('smtp_port')!r} is not a port number.\n"
                         "  Type 587 (starttls) or 465 (ssl).") from None
    security = str(values.get("smtp_security") or "starttls").strip().lower()
    if security not in ("starttls", "ssl", "none"):
        raise SetupError(f"{where('smtp_security')}: {security!r} is not starttls, ssl or none.\n"
                         "  Choose one from the list.")
    sender = str(values.get("smtp_from") or "").strip()
    if "@" not in sender:
        raise SetupError(f"{where('smtp_from')}: {sender!r} is not an email address.\n"
                         "  Type the address reminders come from, e.g. Studio <desk@example.com>.")
    user = str(values.get("smtp_user") or "").strip() or None
    password = None
    if user:
        password = env.get(PASSWORD_ENV) or _keyring(user, host)
        if not password:
            raise SetupError(f"{where('smtp_user')}: {user!r} needs a password, and none is set.\n"
                             f"  Set the environment variable {PASSWORD_ENV}, or store it in the OS keyring "
                             f"(service {KEYRING_SERVICE!r}, user {user!r}).")
    return Smtp(host, port, security, sender, user, password, env.get("XL_LEDGER_SMTP_CAFILE") or None)


def _keyring(user: str, host: str) -> Optional[str]:
    try:
        import keyring  # optional: only when installed
    except ImportError:
        return None
    try:
        return keyring.get_password(KEYRING_SERVICE, user) or keyring.get_password(KEYRING_SERVICE, f"{user}@{host}")
    except Exception:  # no keyring backend on this machine: as if none were stored
        return None


def message(smtp: Smtp, to: str, subject: str, plain: str, html: str, key: str,
            attachment: Optional[tuple[str, bytes]] = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = smtp.sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(idstring=key.replace(":", "."), domain=smtp.sender.rpartition("@")[2].strip(">"))
    msg["X-Xl-Ledger-Key"] = key
    msg.set_content(plain)
    msg.add_alternative(html, subtype="html")
    if attachment is not None:
        name, data = attachment
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return msg


class Connection:
    """One SMTP session for a run; `send` returns (ok, the server's answer)."""

    def __init__(self, smtp: Smtp, timeout: float = 30):
        self.smtp = smtp
        self.timeout = timeout
        self.client: Optional[smtplib.SMTP] = None

    def open(self) -> None:
        s = self.smtp
        context = ssl.create_default_context(cafile=s.cafile)
        if s.security == "ssl":
            self.client = smtplib.SMTP_SSL(s.host, s.port, timeout=self.timeout, context=context)
        else:
            self.client = smtplib.SMTP(s.host, s.port, timeout=self.timeout)
            if s.security == "starttls":
                self.client.starttls(context=context)
        if s.user:
            self.client.login(s.user, s.password or "")

    def send(self, msg: EmailMessage) -> tuple[bool, str]:
        try:
            if self.client is None:
                self.open()
            refused = self.client.send_message(msg)
        except smtplib.SMTPRecipientsRefused as e:
            code, text = next(iter(e.recipients.values()))
            return False, f"{code} {_text(text)} (recipient refused)"
        except smtplib.SMTPResponseException as e:
            self.close()
            return False, f"{e.smtp_code} {_text(e.smtp_error)}"
        except (OSError, smtplib.SMTPException, socket.timeout) as e:
            self.close()
            return False, f"could not reach {self.smtp.host}:{self.smtp.port}: {e}"
        if refused:
            return False, "; ".join(f"{rcpt}: {code} {_text(t)}" for rcpt, (code, t) in refused.items())
        return True, f"250 accepted by {self.smtp.host}:{self.smtp.port}"

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self.client = None


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
