"""The mailer: outbox files, SMTP URL parsing, the two mails, and what a failure shows."""

from __future__ import annotations

import email
import json
import logging
import stat
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from http_api.errors import error_response
from http_api.mailer import (
    Mail,
    MailDeliveryError,
    OutboxMailer,
    SmtpMailer,
    SmtpTarget,
    build_mailer,
    parse_smtp_url,
    password_reset_mail,
    verification_mail,
)

SENDER = "Buddo <no-reply@buddo.test>"
CODE = "Zq3-one-time-code-9xK"


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def eml_files(directory: Path) -> list[Path]:
    return sorted(directory.iterdir())


def read_message(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=default_policy)
    assert isinstance(message, EmailMessage)
    return message


async def test_outbox_writes_a_parseable_private_message(tmp_path: Path) -> None:
    outbox = tmp_path / "data" / "outbox"
    await OutboxMailer(outbox, SENDER).send(verification_mail("ana@example.com", CODE))

    [path] = eml_files(outbox)
    message = read_message(path)
    assert path.suffix == ".eml"
    assert mode_of(outbox) == 0o700
    assert mode_of(path) == 0o600
    assert message["To"] == "ana@example.com"
    assert message["From"] == SENDER
    assert message["Subject"] == "Your Buddo verification code"
    assert parsedate_to_datetime(message["Date"]).tzinfo is not None
    assert message["Message-ID"].endswith("@buddo.test>")
    body = message.get_body()
    assert body is not None
    assert CODE in body.get_content()


async def test_outbox_tightens_an_existing_directory(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    outbox.mkdir(mode=0o755)
    outbox.chmod(0o755)
    await OutboxMailer(outbox, SENDER).send(Mail("ana@example.com", "Hi", "Hello"))
    assert mode_of(outbox) == 0o700


async def test_outbox_file_names_sort_in_sending_order(tmp_path: Path) -> None:
    mailer = OutboxMailer(tmp_path, SENDER)
    for number in range(5):
        await mailer.send(Mail("ana@example.com", f"mail {number}", "Hello"))

    subjects = [read_message(path)["Subject"] for path in eml_files(tmp_path)]
    assert subjects == [f"mail {number}" for number in range(5)]


async def test_outbox_logs_one_line_without_the_body(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mail = password_reset_mail("ana@example.com", CODE)
    with caplog.at_level(logging.INFO, logger="http_api.mailer"):
        await OutboxMailer(tmp_path, SENDER).send(mail)

    [path] = eml_files(tmp_path)
    [record] = caplog.records
    line = record.getMessage()
    assert record.levelno == logging.INFO
    assert "ana@example.com" in line
    assert str(path) in line
    assert CODE not in caplog.text
    assert mail.text not in caplog.text


async def test_outbox_that_cannot_be_written_raises_mail_delivery_error(tmp_path: Path) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the directory should be")
    with pytest.raises(MailDeliveryError) as caught:
        await OutboxMailer(blocker, SENDER).send(Mail("ana@example.com", "Hi", CODE))
    assert CODE not in str(caught.value)
    assert CODE not in caught.value.reason


def test_mail_delivery_error_is_a_503_with_retry_after() -> None:
    response = error_response(MailDeliveryError("smtp://mail.test:25", "refused"))
    assert response.status == 503
    assert response.headers["Retry-After"] == "30"
    assert response.text is not None
    body = json.loads(response.text)
    assert body["error"] == "mail_unavailable"
    assert "mail.test" not in body["message"]


@pytest.mark.parametrize(
    ("to", "subject"), [("a@x.test\r\nBcc: b@x.test", "Hi"), ("a@x.test", "Hi\nX: 1")]
)
def test_mail_refuses_line_breaks_in_headers(to: str, subject: str) -> None:
    with pytest.raises(ValueError, match="line breaks"):
        Mail(to, subject, "Hello")


def test_verification_mail_explains_the_code() -> None:
    mail = verification_mail("ana@example.com", CODE)
    assert mail.to == "ana@example.com"
    assert CODE in mail.text
    assert CODE not in mail.subject
    assert "24 hours" in mail.text
    assert "ignore" in mail.text


def test_password_reset_mail_explains_the_code() -> None:
    mail = password_reset_mail("ana@example.com", CODE)
    assert CODE in mail.text
    assert CODE not in mail.subject
    assert "expires in 1 hour." in mail.text
    assert "once" in mail.text
    assert "ignore" in mail.text


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", SmtpTarget("smtp", "mail.example.com", 25)),
        ("smtp://Mail.Example.COM:2525/", SmtpTarget("smtp", "mail.example.com", 2525)),
        ("smtp://relay_1", SmtpTarget("smtp", "relay_1", 25)),
        ("smtp://127.0.0.1:1025", SmtpTarget("smtp", "127.0.0.1", 1025)),
        ("smtp://[::1]:2525", SmtpTarget("smtp", "::1", 2525)),
        ("smtp://mx.test?starttls=0", SmtpTarget("smtp", "mx.test", 25)),
        (
            "smtp://ana:pw@mx.test:587?starttls=1",
            SmtpTarget("smtp", "mx.test", 587, "ana", "pw", start_tls=True),
        ),
        ("smtps://ana:pw@mx.test", SmtpTarget("smtps", "mx.test", 465, "ana", "pw")),
        (
            "smtps://ana%40example.com:p%3Ass%2Fw%40rd%20%C3%A9@mx.test:4650",
            SmtpTarget("smtps", "mx.test", 4650, "ana@example.com", "p:ss/w@rd é"),
        ),
    ],
)
def test_parse_smtp_url_accepts(url: str, expected: SmtpTarget) -> None:
    assert parse_smtp_url(url) == expected


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "smtp:// or smtps://"),
        ("http://mx.test", "smtp:// or smtps://"),
        ("mx.test:25", "smtp:// or smtps://"),
        ("smtp://", "needs a host"),
        ("smtp://:25", "needs a host"),
        ("smtp://mx.test:0", "port"),
        ("smtp://mx.test:65536", "port"),
        ("smtp://mx.test:smtp", "port"),
        ("smtp://mx.test/inbox", "no path"),
        ("smtp://mx.test#top", "no path"),
        ("smtp://mx test", "spaces"),
        ("smtp://mx.test\n", "control"),
        ("smtp://mx!.test", "host name"),
        ("smtp://-mx.test", "host name"),
        ("smtp://[::g]", "IPv6|not a valid SMTP URL"),  # urlsplit checks brackets on 3.11.4+
        ("smtp://[::1", "not a valid SMTP URL"),
        ("smtp://ana@mx.test", "both a user and a password"),
        ("smtp://:pw@mx.test", "both a user and a password"),
        ("smtp://ana:@mx.test", "both a user and a password"),
        ("smtp://ana:%FF@mx.test", "UTF-8"),
        ("smtp://mx.test?tls=1", "unknown SMTP URL parameter"),
        ("smtp://mx.test?starttls=yes", "starttls=1"),
        ("smtp://mx.test?starttls=1&starttls=1", "once"),
        ("smtps://mx.test?starttls=1", "already uses TLS"),
    ],
)
def test_parse_smtp_url_rejects(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_smtp_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "smtp://ana:hunter2/x@mx.test",  # an unencoded slash makes the rest a path
        "smtp://ana:hunter2x@mx.test:hunter2",
        "smtp://ana:hunter2@mx.test?hunter=2",
        "smtps://ana:hunter2@mx.test?starttls=1",
    ],
)
def test_parse_smtp_url_errors_never_echo_the_password(url: str) -> None:
    with pytest.raises(ValueError, match=r"SMTP|starttls") as caught:
        parse_smtp_url(url)
    assert "hunter2" not in str(caught.value)


def test_smtp_target_hides_the_password() -> None:
    target = parse_smtp_url("smtp://ana:hunter2@mx.test:587?starttls=1")
    assert "hunter2" not in repr(target)
    assert target.describe() == "smtp://mx.test:587?starttls=1"
    assert parse_smtp_url("smtps://[::1]").describe() == "smtps://[::1]:465"


def test_build_mailer_defaults_to_the_outbox(tmp_path: Path) -> None:
    mailer = build_mailer("", tmp_path, SENDER)
    assert isinstance(mailer, OutboxMailer)
    assert mailer.describe() == f"outbox:{tmp_path / 'outbox'}"
    assert not (tmp_path / "outbox").exists()  # nothing is created before the first mail


def test_build_mailer_uses_smtp_when_configured(tmp_path: Path) -> None:
    mailer = build_mailer("smtps://ana:hunter2@mx.test", tmp_path, SENDER)
    assert isinstance(mailer, SmtpMailer)
    assert mailer.describe() == "smtps://mx.test:465"
