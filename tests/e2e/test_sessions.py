"""Session tokens (spec 4.3) over real HTTP: rotation, one winner per token, expiry, revocation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from aiohttp.test_utils import TestClient

from commands.sessions import SESSION_LIFETIME, SessionHandlers, StartSession
from http_api.settings import Settings
from tests.e2e.auth_helpers import (
    assert_refused,
    make_admin,
    new_password,
    refresh,
    reset_password,
    services,
    start_session,
)
from tests.e2e.helpers import Person


async def signed_up(client: TestClient, settings: Settings) -> Person:  # type: ignore[type-arg]
    return await Person(client, settings.data_dir).signed_up()


def parse_z(text: str) -> datetime:
    assert text.endswith("Z")
    return datetime.fromisoformat(text.removesuffix("Z")).replace(tzinfo=UTC)


async def test_a_refresh_rotates_the_token(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    person = await signed_up(client, settings)
    first = await start_session(client, person.user["id"])

    before = datetime.now(UTC)
    response = await refresh(client, first)
    after = datetime.now(UTC)
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.json()
    second = body["session_token"]
    assert second != first
    assert before + SESSION_LIFETIME - timedelta(seconds=1) <= parse_z(body["expires_at"])
    assert parse_z(body["expires_at"]) <= after + SESSION_LIFETIME

    await assert_refused(await refresh(client, first))
    third = await refresh(client, second)
    assert third.status == 200
    await assert_refused(await refresh(client, second))


async def test_two_refreshes_of_one_token_at_once_have_one_winner(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    person = await signed_up(client, settings)
    for _ in range(5):
        token = await start_session(client, person.user["id"])
        answers = await asyncio.gather(refresh(client, token), refresh(client, token))
        assert sorted(a.status for a in answers) == [200, 401]
        (winner,) = [a for a in answers if a.status == 200]
        (loser,) = [a for a in answers if a.status == 401]
        await assert_refused(loser)
        successor = (await winner.json())["session_token"]
        assert (await refresh(client, successor)).status == 200


async def test_an_expired_session_token_is_refused(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    person = await signed_up(client, settings)
    started_at = datetime.now(UTC) - SESSION_LIFETIME - timedelta(seconds=1)
    bus = services(client).bus
    # A session started one lifetime and a second ago (a clock of its own, the same store).
    handlers = SessionHandlers(bus.store, clock=lambda: started_at)
    issued = await bus.run(handlers.start, StartSession(UUID(person.user["id"]), uuid4()))
    assert issued.expires_at < datetime.now(UTC)
    await assert_refused(await refresh(client, issued.token))


async def test_unknown_and_malformed_session_tokens_are_refused(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    person = await signed_up(client, settings)
    real = await start_session(client, person.user["id"])
    session_hex, _, secret = real.removeprefix("bst_").partition(".")
    for token in (
        "bst_" + uuid4().hex + "." + secret,  # someone else's session id
        "bst_" + session_hex + ".not-the-secret",  # the right session, a guessed secret
        real.removeprefix("bst_"),  # no prefix
        "bst_",
        person.user["id"],  # a user's id is not a session
        "bst_" + person.user["id"].replace("-", "") + "." + secret,
    ):
        await assert_refused(await refresh(client, token))
    assert (await refresh(client, real)).status == 200  # the guesses did not end it


async def test_a_refresh_without_a_token_is_refused(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.post("/api/session/refresh", json={})
    assert response.status == 422


async def test_a_password_reset_ends_the_session(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    person = await signed_up(client, settings)
    token = await start_session(client, person.user["id"])
    await reset_password(person, new_password())
    await assert_refused(await refresh(client, token))
    await person.login()
    fresh = await start_session(client, person.user["id"])
    assert (await refresh(client, fresh)).status == 200


async def test_a_suspension_ends_the_session_for_good(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    admin = await make_admin(client, settings.data_dir)
    person = await signed_up(client, settings)
    token = await start_session(client, person.user["id"])
    user_id = person.user["id"]

    assert (await client.post(f"/api/admin/users/{user_id}/suspend", headers=admin.auth)).ok
    await assert_refused(await refresh(client, token))
    assert (await client.post(f"/api/admin/users/{user_id}/unsuspend", headers=admin.auth)).ok
    await assert_refused(await refresh(client, token))


async def test_logout_leaves_sessions_alone(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    person = await signed_up(client, settings)
    token = await start_session(client, person.user["id"])
    assert (await client.post("/api/auth/logout", headers=person.auth)).status == 200
    assert (await refresh(client, token)).status == 200
