"""Lifetimes of codes, access and refresh tokens, and the refresh retry window, on a fake clock,
driving the grant commands directly, on SQLite and PostgreSQL (spec 5.3, 5.4)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from uuid import UUID

import pytest

from commands import grants
from commands.bus import CommandBus
from commands.store import BuddoStore
from ledger.errors import OAuthProtocolError
from ledger.grants import Grant
from ledger.times import iso_z
from tests.integration.grant_helpers import (
    START,
    Client,
    FakeClock,
    connect,
    credential_row,
    exchange,
    family_rows,
    grant_events,
    grant_of,
    issue_code,
    refresh,
    register_app,
    register_user,
)

SECOND = timedelta(seconds=1)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def timed_bus(store: BuddoStore, clock: FakeClock) -> Iterator[CommandBus]:
    bus = CommandBus(store, threads=2, clock=clock)
    yield bus
    bus.executor.shutdown(wait=True)


@pytest.fixture
def user_and_app(timed_bus: CommandBus) -> tuple[UUID, Client]:
    owner = register_user(timed_bus)
    return register_user(timed_bus), register_app(timed_bus, owner)


def refused(bus: CommandBus, command: object) -> str:
    """The OAuth error code `command` fails with."""
    with pytest.raises(OAuthProtocolError) as error:
        bus.handle(command)
    return error.value.code


def test_a_code_lives_60_seconds(
    timed_bus: CommandBus, clock: FakeClock, user_and_app: tuple[UUID, Client]
) -> None:
    user_id, app = user_and_app
    on_time = issue_code(timed_bus, user_id, app)
    late = issue_code(timed_bus, user_id, app)

    clock.now = START + grants.CODE_LIFETIME - SECOND
    exchange(timed_bus, app, *on_time)
    clock.now = START + timedelta(seconds=60)
    code, verifier = late
    command = grants.ExchangeCode(app.credentials, code, "https://app.example/callback", verifier)
    assert refused(timed_bus, command) == "invalid_grant"
    clock.now = START + timedelta(minutes=10)
    assert refused(timed_bus, command) == "invalid_grant"


def test_an_access_token_row_expires_3600_seconds_after_issue(
    timed_bus: CommandBus, clock: FakeClock, store: BuddoStore, user_and_app: tuple[UUID, Client]
) -> None:
    user_id, app = user_and_app
    code = issue_code(timed_bus, user_id, app)
    clock.now = START + timedelta(seconds=5)

    first = exchange(timed_bus, app, *code)

    assert first.expires_in == 3600
    access = credential_row(store, first.access_token)
    assert access["kind"] == "access"
    assert access["expires_at"] == iso_z(START + timedelta(seconds=5 + 3600))
    assert access["revoked_at"] is None
    assert credential_row(store, first.refresh_token)["expires_at"] == iso_z(
        START + timedelta(seconds=5) + timedelta(days=30)
    )

    clock.now = START + timedelta(minutes=50)
    second = refresh(timed_bus, app, first.refresh_token)

    assert second.expires_in == 3600
    rotated = credential_row(store, second.access_token)
    assert rotated["expires_at"] == iso_z(START + timedelta(minutes=50, seconds=3600))
    assert credential_row(store, first.refresh_token)["revoked_reason"] == "rotated"
    assert credential_row(store, first.access_token)["revoked_at"] is None  # lives out its hour


@pytest.mark.parametrize("after_seconds", [1, 9])
def test_an_identical_retry_within_10_seconds_gets_the_same_pair(
    timed_bus: CommandBus,
    clock: FakeClock,
    store: BuddoStore,
    user_and_app: tuple[UUID, Client],
    after_seconds: int,
) -> None:
    user_id, app = user_and_app
    first = connect(timed_bus, user_id, app)
    clock.now = START + timedelta(minutes=5)
    second = refresh(timed_bus, app, first.refresh_token)

    clock.now += timedelta(seconds=after_seconds)
    again = refresh(timed_bus, app, first.refresh_token)

    assert (again.access_token, again.refresh_token) == (second.access_token, second.refresh_token)
    assert again.scopes == second.scopes
    grant = grant_of(store, first.refresh_token)
    assert not grant.revoked
    assert not [e for e in grant_events(store, grant.id) if isinstance(e, Grant.Revoked)]
    third = refresh(timed_bus, app, second.refresh_token)  # the successor still rotates
    assert third.refresh_token != second.refresh_token


def test_the_same_refresh_11_seconds_after_its_rotation_is_reuse(
    timed_bus: CommandBus, clock: FakeClock, store: BuddoStore, user_and_app: tuple[UUID, Client]
) -> None:
    user_id, app = user_and_app
    first = connect(timed_bus, user_id, app)
    clock.now = START + timedelta(minutes=5)
    second = refresh(timed_bus, app, first.refresh_token)

    clock.now += timedelta(seconds=11)
    reuse = grants.RefreshTokens(app.credentials, first.refresh_token, None)
    assert refused(timed_bus, reuse) == "invalid_grant"

    successor = grants.RefreshTokens(app.credentials, second.refresh_token, None)
    assert refused(timed_bus, successor) == "invalid_grant"
    grant = grant_of(store, first.refresh_token)
    assert grant.revoked
    revocations = [e for e in grant_events(store, grant.id) if isinstance(e, Grant.Revoked)]
    assert [e.reason for e in revocations] == ["refresh_reuse"]
    for token in (second.access_token, second.refresh_token, first.access_token):
        assert credential_row(store, token)["revoked_reason"] == "refresh_reuse"
    assert credential_row(store, first.refresh_token)["revoked_reason"] == "rotated"
    assert refused(timed_bus, reuse) == "invalid_grant"  # and stays refused, revoked once
    again = [e for e in grant_events(store, grant.id) if isinstance(e, Grant.Revoked)]
    assert len(again) == 1


def test_a_refresh_token_lives_30_days_and_its_expiry_revokes_nothing(
    timed_bus: CommandBus, clock: FakeClock, store: BuddoStore, user_and_app: tuple[UUID, Client]
) -> None:
    user_id, app = user_and_app
    alive = connect(timed_bus, user_id, app)
    expired = connect(timed_bus, user_id, app)

    clock.now = START + grants.REFRESH_LIFETIME - SECOND
    refresh(timed_bus, app, alive.refresh_token)
    clock.now = START + timedelta(days=30)
    command = grants.RefreshTokens(app.credentials, expired.refresh_token, None)
    assert refused(timed_bus, command) == "invalid_grant"

    grant = grant_of(store, expired.refresh_token)
    assert not grant.revoked
    events = grant_events(store, grant.id)
    assert [type(e) for e in events] == [Grant.CodeIssued, Grant.CodeRedeemed]
    rows = family_rows(store, grant.id)
    assert [row["kind"] for row in rows] == ["access", "refresh"]
    assert all(row["revoked_at"] is None for row in rows), rows
    assert refused(timed_bus, command) == "invalid_grant"  # still expired, still nothing revoked
    assert len(grant_events(store, grant.id)) == len(events)
