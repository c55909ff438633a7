"""The pure parts of browser sign-in: scope words, the CSP form source, sealed sign-ins."""

from __future__ import annotations

import pytest

from commands.credentials import SecretBox
from http_api.browser_authorize import SCOPE_WORDS
from http_api.browser_pages import content_security_policy, form_origin
from http_api.browser_session import derive
from ledger.oauth import ALL_SCOPES


def test_every_scope_has_plain_words() -> None:
    assert set(SCOPE_WORDS) == ALL_SCOPES
    assert SCOPE_WORDS["points:spend"] == "Spend your points in this app"


@pytest.mark.parametrize(
    ("redirect_uri", "source"),
    [
        ("https://app.example/callback?x=1", "https://app.example"),
        ("http://127.0.0.1:8123/callback", "http://127.0.0.1:8123"),
        ("com.example.app:/oauth", "com.example.app:"),
        (None, ""),
        ("https://app.example;script-src *", ""),  # never ends the directive
    ],
)
def test_forms_may_go_to_the_clients_origin_only(redirect_uri: str | None, source: str) -> None:
    assert form_origin(redirect_uri) == source


def test_the_policy_allows_no_script_and_no_framing() -> None:
    policy = content_security_policy("https://app.example/cb")

    assert policy == (
        "default-src 'none'; style-src 'self'; img-src https: data:; "
        "form-action 'self' https://app.example; frame-ancestors 'none'; base-uri 'none'"
    )


def test_each_purpose_has_its_own_key() -> None:
    secret = b"k" * 32

    assert derive(secret, "csrf") != derive(secret, "pending sign-in")
    assert len(derive(secret, "csrf")) == 32


def test_a_pending_sign_in_opens_only_for_its_browser() -> None:
    box = SecretBox(derive(b"k" * 32, "pending sign-in"))
    sealed = box.seal('{"email": "a@example.com"}', "pending:browser-one")

    assert box.open(sealed, "pending:browser-one") == '{"email": "a@example.com"}'
    with pytest.raises(ValueError, match="does not open"):
        box.open(sealed, "pending:browser-two")
