"""SmtpMailer against a real SMTP server on loopback (aiosmtpd), with and without AUTH."""

from __future__ import annotations

import email
import logging
import socket
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from http_api.mailer import MailDeliveryError, SmtpMailer, verification_mail

SENDER = "Buddo <no-reply@buddo.test>"
CODE = "Zq3-one-time-code-9xK"
USER = "buddo@relay.test"
PASSWORD = "s3cret:p@ss/w%rd"  # every character that needs percent-encoding in a URL
LOOPBACK = "127.0.0.1"


class Collector:
    """An aiosmtpd handler that keeps every envelope and refuses one recipient."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_RCPT(  # noqa: N802 -- aiosmtpd's hook name
        self,
        _server: SMTP,
        _session: Session,
        envelope: Envelope,
        address: str,
        _options: list[str],
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 -- aiosmtpd's hook name
        self, _server: SMTP, _session: Session, envelope: Envelope
    ) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted"


def authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
) -> AuthResult:
    """Accept exactly USER / PASSWORD."""
    ok = isinstance(auth_data, LoginPassword) and auth_data == (USER.encode(), PASSWORD.encode())
    return AuthResult(success=ok, handled=False)  # False: aiosmtpd sends the 535 reply


def free_port() -> int:
    """A loopback port nothing listens on (just bound and closed)."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def collector() -> Collector:
    return Collector()


@pytest.fixture
def smtp_port(collector: Collector) -> Iterator[int]:
    """A plain SMTP server without AUTH."""
    controller = Controller(collector, hostname=LOOPBACK, port=free_port())
    controller.start()
    yield controller.port
    controller.stop()


@pytest.fixture
def auth_smtp_port(collector: Collector) -> Iterator[int]:
    """An SMTP server that offers AUTH over plain text (loopback only) and checks the login."""
    controller = Controller(
        collector,
        hostname=LOOPBACK,
        port=free_port(),
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    yield controller.port
    controller.stop()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts the connection but never greets (the kernel completes the handshake)."""
    with socket.create_server((LOOPBACK, 0)) as listener:
        port: int = listener.getsockname()[1]
        yield port


def received(envelope: Envelope) -> EmailMessage:
    assert isinstance(envelope.content, bytes)
    message = email.message_from_bytes(envelope.content, policy=default_policy)
    assert isinstance(message, EmailMessage)
    return message


def authenticated_url(port: int, password: str = PASSWORD) -> str:
    return f"smtp://{quote(USER, safe='')}:{quote(password, safe='')}@{LOOPBACK}:{port}"


async def test_the_server_receives_the_mail(collector: Collector, smtp_port: int) -> None:
    mailer = SmtpMailer(f"smtp://{LOOPBACK}:{smtp_port}", SENDER)
    await mailer.send(verification_mail("ana@example.com", CODE))

    [envelope] = collector.envelopes
    message = received(envelope)
    assert envelope.mail_from == "no-reply@buddo.test"
    assert envelope.rcpt_tos == ["ana@example.com"]
    assert message["Subject"] == "Your Buddo verification code"
    assert message["Message-ID"]
    assert message["Date"]
    body = message.get_body()
    assert body is not None
    assert CODE in body.get_content()


async def test_sending_logs_the_recipient_but_not_the_code(
    smtp_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    mailer = SmtpMailer(f"smtp://{LOOPBACK}:{smtp_port}", SENDER)
    with caplog.at_level(logging.INFO, logger="http_api.mailer"):
        await mailer.send(verification_mail("ana@example.com", CODE))
    assert "ana@example.com" in caplog.text
    assert CODE not in caplog.text


async def test_a_login_with_percent_encoded_credentials_is_accepted(
    collector: Collector, auth_smtp_port: int
) -> None:
    await SmtpMailer(authenticated_url(auth_smtp_port), SENDER).send(
        verification_mail("ana@example.com", CODE)
    )
    [envelope] = collector.envelopes
    assert envelope.rcpt_tos == ["ana@example.com"]


async def test_a_refused_login_raises_without_the_password(
    collector: Collector, auth_smtp_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-Pa55word"
    mailer = SmtpMailer(authenticated_url(auth_smtp_port, wrong), SENDER)
    with pytest.raises(MailDeliveryError) as caught:
        await mailer.send(verification_mail("ana@example.com", CODE))

    error = caught.value
    assert "SMTPAuthenticationError" in error.reason
    for text in (str(error), error.reason, error.target, caplog.text):
        assert wrong not in text
    assert collector.envelopes == []


async def test_a_refused_recipient_raises_mail_delivery_error(
    collector: Collector, smtp_port: int
) -> None:
    mailer = SmtpMailer(f"smtp://{LOOPBACK}:{smtp_port}", SENDER)
    with pytest.raises(MailDeliveryError) as caught:
        await mailer.send(verification_mail("nobody@example.com", CODE))
    assert "No such user" in caught.value.reason
    assert collector.envelopes == []


async def test_an_unreachable_server_fails_fast_without_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    mailer = SmtpMailer(authenticated_url(port), SENDER, timeout=2)
    started = time.monotonic()
    with pytest.raises(MailDeliveryError) as caught:
        await mailer.send(verification_mail("ana@example.com", CODE))

    assert time.monotonic() - started < 1.5
    error = caught.value
    assert error.target == f"smtp://{LOOPBACK}:{port}"
    for text in (str(error), error.reason, error.target, caplog.text):
        assert PASSWORD not in text
        assert quote(PASSWORD, safe="") not in text
        assert CODE not in text


async def test_a_silent_server_times_out(silent_port: int) -> None:
    mailer = SmtpMailer(f"smtp://{LOOPBACK}:{silent_port}", SENDER, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(MailDeliveryError, match="try again later"):
        await mailer.send(verification_mail("ana@example.com", CODE))
    assert time.monotonic() - started < 2
