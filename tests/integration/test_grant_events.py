"""Every issuance, rotation and revocation of an OAuth token is a stored event, revocations say
why, and no event holds a code or token in usable form (spec 5.4), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from commands import grants
from commands.bus import CommandBus
from commands.credentials import digest
from commands.store import BuddoStore
from http_api.settings import Settings
from ledger.errors import OAuthProtocolError
from tests.integration.grant_helpers import (
    REDIRECT_URI,
    Client,
    connect,
    credential_row,
    exchange,
    grant_events,
    grant_of,
    issue_code,
    refresh,
    register_app,
    register_user,
)
from tests.secret_scan import assert_secrets_not_stored


@pytest.fixture
def user_and_app(bus: CommandBus) -> tuple[UUID, Client]:
    owner = register_user(bus)
    return register_user(bus), register_app(bus, owner)


def kinds(events: list[Any]) -> list[str]:
    return [type(event).__qualname__ for event in events]


def event_text(event: Any) -> str:
    """Everything an event carries, as text."""
    return repr(sorted((name, repr(value)) for name, value in vars(event).items()))


def assert_no_usable_secret(events: list[Any], secrets: list[str]) -> None:
    for event in events:
        text = event_text(event)
        for secret in secrets:
            assert secret not in text, f"{type(event).__qualname__} holds a usable credential"


def revoke(bus: CommandBus, app: Client, token: str) -> None:
    bus.handle(grants.RevokeToken(app.credentials, token))


def test_issue_rotate_revoke_are_events_with_digests_and_a_reason(
    bus: CommandBus, store: BuddoStore, settings: Settings, user_and_app: tuple[UUID, Client]
) -> None:
    user_id, app = user_and_app
    code, verifier = issue_code(bus, user_id, app)
    first = exchange(bus, app, code, verifier)
    second = refresh(bus, app, first.refresh_token)
    revoke(bus, app, second.refresh_token)

    grant = grant_of(store, code)
    events = grant_events(store, grant.id)
    assert kinds(events) == [
        "Grant.CodeIssued",
        "Grant.CodeRedeemed",
        "Grant.Rotated",
        "Grant.Revoked",
    ]
    issued, redeemed, rotated, revoked = events
    assert issued.code_digest == digest(code)
    assert (redeemed.access_digest, redeemed.refresh_digest) == (
        digest(first.access_token),
        digest(first.refresh_token),
    )
    assert rotated.retired_digest == digest(first.refresh_token)
    assert (rotated.access_digest, rotated.refresh_digest) == (
        digest(second.access_token),
        digest(second.refresh_token),
    )
    assert revoked.reason == "revoked_by_client"
    for token in (second.access_token, second.refresh_token, first.access_token):
        assert credential_row(store, token)["revoked_reason"] == "revoked_by_client"
    assert digest(first.access_token) in event_text(redeemed)  # the scan sees the fields
    secrets = [code, verifier, *tokens_of(first), *tokens_of(second)]
    assert_no_usable_secret(events, secrets)
    assert_secrets_not_stored(settings, secrets)


def tokens_of(pair: grants.TokenPair) -> list[str]:
    session = [pair.session.token] if pair.session else []
    return [pair.access_token, pair.refresh_token, *session]


def test_revoking_one_access_token_is_an_event_with_its_reason(
    bus: CommandBus, store: BuddoStore, user_and_app: tuple[UUID, Client]
) -> None:
    user_id, app = user_and_app
    first = connect(bus, user_id, app)

    revoke(bus, app, first.access_token)

    grant = grant_of(store, first.access_token)
    events = grant_events(store, grant.id)
    assert kinds(events)[-1] == "Grant.AccessTokenRevoked"
    assert events[-1].access_digest == digest(first.access_token)
    assert events[-1].reason == "revoked_by_client"
    assert not grant.revoked
    assert credential_row(store, first.access_token)["revoked_reason"] == "revoked_by_client"
    assert credential_row(store, first.refresh_token)["revoked_at"] is None
    assert_no_usable_secret(events, tokens_of(first))


def test_refresh_reuse_revokes_the_family_with_its_reason(
    bus: CommandBus, store: BuddoStore, user_and_app: tuple[UUID, Client]
) -> None:
    user_id, app = user_and_app
    first = connect(bus, user_id, app)
    second = refresh(bus, app, first.refresh_token)
    third = refresh(bus, app, second.refresh_token)

    # `first` was retired two rotations ago: no retry window covers it.
    with pytest.raises(OAuthProtocolError) as error:
        refresh(bus, app, first.refresh_token)

    assert error.value.code == "invalid_grant"
    grant = grant_of(store, first.refresh_token)
    events = grant_events(store, grant.id)
    assert kinds(events) == [
        "Grant.CodeIssued",
        "Grant.CodeRedeemed",
        "Grant.Rotated",
        "Grant.Rotated",
        "Grant.Revoked",
    ]
    assert events[-1].reason == "refresh_reuse"
    for token in (third.access_token, third.refresh_token, second.access_token):
        assert credential_row(store, token)["revoked_reason"] == "refresh_reuse"
    assert_no_usable_secret(events, [*tokens_of(first), *tokens_of(second), *tokens_of(third)])


def test_code_reuse_revokes_what_the_code_issued_with_its_reason(
    bus: CommandBus, store: BuddoStore, user_and_app: tuple[UUID, Client]
) -> None:
    user_id, app = user_and_app
    code, verifier = issue_code(bus, user_id, app)
    first = exchange(bus, app, code, verifier)

    again = grants.ExchangeCode(app.credentials, code, REDIRECT_URI, verifier)
    with pytest.raises(OAuthProtocolError) as error:
        bus.handle(again)

    assert error.value.code == "invalid_grant"
    grant = grant_of(store, code)
    events = grant_events(store, grant.id)
    assert kinds(events) == ["Grant.CodeIssued", "Grant.CodeRedeemed", "Grant.Revoked"]
    assert events[-1].reason == "code_reuse"
    for token in (first.access_token, first.refresh_token):
        assert credential_row(store, token)["revoked_reason"] == "code_reuse"
    with pytest.raises(OAuthProtocolError):
        refresh(bus, app, first.refresh_token)
    assert_no_usable_secret(events, [code, verifier, *tokens_of(first)])
