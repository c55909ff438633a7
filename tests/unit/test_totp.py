"""TOTP as the service does it: RFC 6238 (SHA-1, 30 s steps), one step of skew and no more."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from commands import credentials

# RFC 6238 appendix B: the SHA-1 seed is the ASCII string "12345678901234567890".
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC_SHA1_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]
STEP = timedelta(seconds=credentials.TOTP_PERIOD_SECONDS)


def at(unix_time: int) -> datetime:
    return datetime.fromtimestamp(unix_time, UTC)


@pytest.mark.parametrize(("unix_time", "expected"), RFC_SHA1_VECTORS)
def test_the_service_totp_parameters_give_the_rfc_6238_sha1_vectors(
    unix_time: int, expected: str
) -> None:
    totp = pyotp.TOTP(RFC_SECRET, digits=8, interval=credentials.TOTP_PERIOD_SECONDS)
    assert totp.at(at(unix_time)) == expected


@pytest.mark.parametrize(("unix_time", "expected"), RFC_SHA1_VECTORS)
def test_totp_step_accepts_the_six_digit_form_of_each_rfc_vector(
    unix_time: int, expected: str
) -> None:
    # RFC 4226 truncation: a 6-digit code is the last six digits of the 8-digit one.
    code = expected[-credentials.TOTP_DIGITS :]
    step = credentials.totp_step(RFC_SECRET, code, at(unix_time))
    assert step == unix_time // credentials.TOTP_PERIOD_SECONDS


def test_the_service_issues_six_digit_codes() -> None:
    assert credentials.TOTP_DIGITS == 6
    code = pyotp.TOTP(RFC_SECRET).at(at(59))
    assert code == "287082"
    assert credentials.totp_step(RFC_SECRET, code, at(59)) == 1


@pytest.mark.parametrize("skew", [-1, 0, 1])
def test_one_step_of_clock_skew_is_accepted(skew: int) -> None:
    now = at(1234567890)
    code = pyotp.TOTP(RFC_SECRET).at(now + skew * STEP)
    assert credentials.totp_step(RFC_SECRET, code, now) == 1234567890 // 30 + skew


@pytest.mark.parametrize("skew", [-2, 2])
def test_two_steps_of_clock_skew_are_refused(skew: int) -> None:
    now = at(1234567890)
    code = pyotp.TOTP(RFC_SECRET).at(now + skew * STEP)
    assert credentials.totp_step(RFC_SECRET, code, now) is None


@pytest.mark.parametrize(
    "code",
    [
        "",
        "12345",
        "1234567",
        "89005924",
        "abcdef",
        " 05924",
        "\u0660\u0665\u0669\u0662\u0664\u0660",
    ],
)
def test_malformed_codes_are_refused(code: str) -> None:
    assert credentials.totp_step(RFC_SECRET, code, at(1234567890)) is None


def test_the_provisioning_uri_names_the_issuer_and_the_account() -> None:
    uri = credentials.totp_uri(RFC_SECRET, "ada@example.com")
    assert uri.startswith("otpauth://totp/Buddo:ada%40example.com?")
    assert f"secret={RFC_SECRET}" in uri
    assert "issuer=Buddo" in uri


def test_a_new_secret_is_base32_and_fresh() -> None:
    first, second = credentials.new_totp_secret(), credentials.new_totp_secret()
    assert first != second
    assert len(base64.b32decode(first)) >= 16
