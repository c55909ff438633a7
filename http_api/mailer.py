"""Outgoing mail (verification and reset codes): SMTP in production, an outbox on disk by default.

A mail carries a one-time code, so neither the body nor the SMTP password is ever logged or put
in an error. The tree of ledger.errors gains, under UnavailableError:
    MailDeliveryError       the mail could not be handed on (retry_after)      503
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import re
import secrets
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import SplitResult, parse_qsl, quote, unquote, urlsplit

import aiosmtplib

from commands.users import RESET_CODE_LIFETIME, VERIFICATION_CODE_LIFETIME
from ledger.errors import UnavailableError

log = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 10.0  # for one whole send: connect, TLS, login, message, quit
MAIL_RETRY_AFTER_SECONDS = 30
OUTBOX_DIR_MODE = 0o700
DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
_HOST = re.compile(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?")
_URL_FORM = "smtp[s]://[user[:password]@]host[:port][?starttls=1]"


class MailDeliveryError(UnavailableError):
    """The mail could not be sent or stored; `reason` is for operators and holds no secret."""

    code = "mail_unavailable"

    def __init__(self, target: str, reason: str) -> None:
        super().__init__(
            "The mail could not be sent just now; please try again later.",
            retry_after=MAIL_RETRY_AFTER_SECONDS,
        )
        self.target = target
        self.reason = reason


@dataclass(frozen=True)
class Mail:
    """One plain-text message to one recipient."""

    to: str
    subject: str
    text: str

    def __post_init__(self) -> None:
        # A line break in a header would let a caller add headers of its own.
        if any(c in value for value in (self.to, self.subject) for c in "\r\n"):
            raise ValueError("mail headers must not contain line breaks")


class Mailer(Protocol):
    """Anything that can deliver a Mail."""

    async def send(self, mail: Mail) -> None:
        """Deliver `mail` or raise MailDeliveryError."""

    def describe(self) -> str:
        """Where mail goes, without credentials (for the log at startup)."""


def compose(mail: Mail, sender: str, now: datetime) -> EmailMessage:
    """The RFC 5322 message for `mail`, from `sender`, dated `now`."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(now)
    # An explicit domain: make_msgid() would otherwise ask DNS for our name, blocking.
    message["Message-ID"] = make_msgid(
        domain=parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    )
    message.set_content(mail.text)
    return message


def _reason(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class OutboxMailer:
    """The embedded default: each mail becomes a private .eml file, plus one log line."""

    def __init__(self, directory: Path, sender: str) -> None:
        self.directory = directory
        self.sender = sender

    def describe(self) -> str:
        return f"outbox:{self.directory}"

    async def send(self, mail: Mail) -> None:
        now = datetime.now(UTC)
        data = compose(mail, self.sender, now).as_bytes()
        # Names start with the UTC time, so listing the directory sorts the mails by age.
        name = f"{now:%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(4)}.eml"
        try:
            path = await asyncio.to_thread(self._write, name, data)
        except OSError as error:
            log.warning("mail to %s not stored in %s: %s", mail.to, self.directory, _reason(error))
            raise MailDeliveryError(self.describe(), _reason(error)) from error
        log.info("mail to %s stored in %s", mail.to, path)

    def _write(self, name: str, data: bytes) -> Path:
        """Write atomically: a reader sees the whole file or none (mkstemp makes it 0600)."""
        self.directory.mkdir(mode=OUTBOX_DIR_MODE, parents=True, exist_ok=True)
        self.directory.chmod(OUTBOX_DIR_MODE)  # also when it already existed, wider
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            return Path(temporary).replace(self.directory / name)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


@dataclass(frozen=True)
class SmtpTarget:
    """Where and how to reach the SMTP server, parsed from BUDDO_SMTP_URL."""

    scheme: str  # "smtp" (plain, or STARTTLS if asked) or "smtps" (implicit TLS)
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    start_tls: bool = False

    @property
    def use_tls(self) -> bool:
        return self.scheme == "smtps"

    def describe(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        query = "?starttls=1" if self.start_tls else ""
        return f"{self.scheme}://{host}:{self.port}{query}"


def parse_smtp_url(url: str) -> SmtpTarget:
    """Parse and check an SMTP URL; a ValueError says what is wrong but never echoes the URL."""
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ValueError("an SMTP URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ValueError(f"not a valid SMTP URL; the form is {_URL_FORM}") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise ValueError("an SMTP URL starts with smtp:// or smtps://")
    if parts.path not in {"", "/"} or parts.fragment:
        raise ValueError(
            f"an SMTP URL has no path or fragment (the form is {_URL_FORM}; "
            "percent-encode any / ? # @ : in the user or password)"
        )
    username, password = _credentials(parts.username, parts.password)
    return SmtpTarget(
        scheme=parts.scheme,
        host=_host(parts.hostname),
        port=_port(parts),
        username=username,
        password=password,
        start_tls=_start_tls(parts.query, parts.scheme),
    )


def _port(parts: SplitResult) -> int:
    try:
        port = parts.port  # the property raises on a port that is not a number
    except ValueError:
        port = 0
    if port is None:
        return DEFAULT_PORTS[parts.scheme]
    if not 1 <= port <= 65_535:
        raise ValueError("the SMTP port must be a number from 1 to 65535")
    return port


def _host(host: str | None) -> str:
    if not host:
        raise ValueError(f"an SMTP URL needs a host; the form is {_URL_FORM}")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError("the SMTP host is not a valid IPv6 address") from None
    elif not _HOST.fullmatch(host):
        raise ValueError("the SMTP host is not a valid host name or address")
    return host


def _credentials(user: str | None, password: str | None) -> tuple[str | None, str | None]:
    if user is None and password is None:
        return None, None
    if not user or not password:
        raise ValueError("SMTP credentials need both a user and a password: smtp://user:pw@host")
    try:
        return unquote(user, errors="strict"), unquote(password, errors="strict")
    except UnicodeDecodeError:
        raise ValueError("the SMTP user or password is not valid percent-encoded UTF-8") from None


def _start_tls(query: str, scheme: str) -> bool:
    pairs = parse_qsl(query, keep_blank_values=True)
    names = sorted({name for name, _ in pairs} - {"starttls"})
    if names:
        raise ValueError(f"unknown SMTP URL parameter(s) {', '.join(names)}; only starttls=1")
    if len(pairs) > 1 or any(value not in {"0", "1"} for _, value in pairs):
        raise ValueError("starttls is given once, as starttls=1 or starttls=0")
    start_tls = pairs == [("starttls", "1")]
    if start_tls and scheme == "smtps":
        raise ValueError("smtps:// already uses TLS; starttls=1 is for smtp://")
    return start_tls


class SmtpMailer:
    """Sends through an SMTP server; one connection per mail, bounded by `timeout` in all."""

    def __init__(self, url: str, sender: str, timeout: float = SMTP_TIMEOUT_SECONDS) -> None:
        self.target = parse_smtp_url(url)
        self.sender = sender
        self.timeout = timeout

    def describe(self) -> str:
        return self.target.describe()

    async def send(self, mail: Mail) -> None:
        target = self.target
        message = compose(mail, self.sender, datetime.now(UTC))
        try:
            async with asyncio.timeout(self.timeout):
                await aiosmtplib.send(
                    message,
                    hostname=target.host,
                    port=target.port,
                    username=target.username,
                    password=target.password,
                    use_tls=target.use_tls,
                    start_tls=target.start_tls,  # never upgrade opportunistically
                    timeout=self.timeout,
                )
        except (aiosmtplib.SMTPException, OSError) as error:
            reason = self._scrub(_reason(error))
            log.warning("mail to %s not sent via %s: %s", mail.to, self.describe(), reason)
            raise MailDeliveryError(self.describe(), reason) from error
        log.info("mail to %s sent via %s", mail.to, self.describe())

    def _scrub(self, text: str) -> str:
        """Server and library texts should not hold the password; make sure of it."""
        password = self.target.password
        for secret in (password, quote(password or "", safe="")):
            if secret:
                text = text.replace(secret, "***")
        return text


def build_mailer(smtp_url: str, data_dir: Path, sender: str) -> Mailer:
    """SMTP when a URL is configured, else the outbox in the data directory."""
    if smtp_url:
        return SmtpMailer(smtp_url, sender)
    return OutboxMailer(data_dir / "outbox", sender)


def _lifetime(lifetime: timedelta) -> str:
    minutes = int(lifetime.total_seconds()) // 60
    if minutes % 60:
        return f"{minutes} minutes"
    hours = minutes // 60
    return "1 hour" if hours == 1 else f"{hours} hours"


def verification_mail(
    to: str, code: str, *, lifetime: timedelta = VERIFICATION_CODE_LIFETIME
) -> Mail:
    """The mail with a code that proves `to` is the reader's address."""
    text = (
        "Hello,\n\n"
        "Here is your code to confirm this email address for your Buddo account:\n\n"
        f"    {code}\n\n"
        f"The code works once and expires in {_lifetime(lifetime)}. "
        "If you ask for a new code, this one stops working.\n\n"
        "If you did not sign up for Buddo, you can safely ignore this mail.\n\n"
        "The Buddo team\n"
    )
    return Mail(to=to, subject="Your Buddo verification code", text=text)


def password_reset_mail(to: str, code: str, *, lifetime: timedelta = RESET_CODE_LIFETIME) -> Mail:
    """The mail with a code that lets the reader choose a new password."""
    text = (
        "Hello,\n\n"
        "Someone asked to reset the password of the Buddo account for this address.\n"
        "To choose a new password, use this code:\n\n"
        f"    {code}\n\n"
        f"The code can be used once and expires in {_lifetime(lifetime)}.\n\n"
        "If you did not ask for this, you can safely ignore this mail: "
        "your password stays as it is.\n\n"
        "The Buddo team\n"
    )
    return Mail(to=to, subject="Reset your Buddo password", text=text)
