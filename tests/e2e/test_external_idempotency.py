"""Idempotency-Key on the endpoints that move points (spec section 1), over real HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from http_api.settings import Settings
from tests.e2e.oauth_helpers import verified_person
from tests.e2e.points_helpers import app_balance, connected_user, error_body, join, spend

RACERS = 12


async def test_a_retried_spend_moves_points_once_and_answers_the_same(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    await world.grant(world.user, 100)
    body = {"description": "a hat", "metadata": {"sku": "h1"}}

    answers = [await spend(world, 10, key="order-7", **body) for _ in range(3)]

    assert [a.status for a in answers] == [201, 201, 201]
    first, *replays = [await a.json() for a in answers]
    assert all(replay == first for replay in replays)
    assert [a.headers.get("Idempotent-Replayed") for a in answers] == [None, "true", "true"]
    assert (await world.balance(), await app_balance(world)) == (90, 10)
    # The same key with any other body is a conflict, and moves nothing.
    for other in (
        {"amount": 11, **body},
        {"amount": 10, "description": "another hat", "metadata": {"sku": "h1"}},
        {"amount": 10, "description": "a hat", "metadata": {"sku": "h2"}},
        {"amount": 10},
    ):
        response = await client.post(
            "/api/external/points/spend",
            json=other,
            headers={**world.auth, "Idempotency-Key": "order-7"},
        )
        await error_body(response, 409, "idempotency_conflict")
    # ... and so is the same key on the other endpoint that moves points.
    friend = await verified_person(client, settings.data_dir)
    response = await client.post(
        "/api/external/points/transfer",
        json={"to_user_id": friend.user["id"], "amount": 10},
        headers={**world.auth, "Idempotency-Key": "order-7"},
    )
    await error_body(response, 409, "idempotency_conflict")
    assert (await world.balance(), await app_balance(world)) == (90, 10)


async def test_racing_retries_of_one_keyed_spend_move_points_once(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    await world.grant(world.user, 100)

    answers = await asyncio.gather(*(spend(world, 3, key="race") for _ in range(RACERS)))

    statuses = [a.status for a in answers]
    assert set(statuses) <= {201, 409}, [await a.text() for a in answers]
    bodies = [await a.json() for a in answers]
    done = [b for a, b in zip(answers, bodies, strict=True) if a.status == 201]
    fresh = [a for a in answers if a.status == 201 and "Idempotent-Replayed" not in a.headers]
    assert len(fresh) == 1
    assert all(body == done[0] for body in done)
    for a, b in zip(answers, bodies, strict=True):
        if a.status == 409:
            assert b["error"] == "idempotency_in_progress", b
    assert (await world.balance(), await app_balance(world)) == (97, 3)
    # Once settled, every retry replays the one answer.
    late = await spend(world, 3, key="race")
    assert (late.status, await late.json()) == (201, done[0])


async def test_a_refused_keyed_spend_stays_refused_after_a_top_up(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    await world.grant(world.user, 5)

    first = await spend(world, 8, key="too-much")
    refused = await error_body(first, 422, "insufficient_points")
    assert refused["balance"] == 5
    await world.grant(world.user, 100)
    again = await spend(world, 8, key="too-much")

    assert await error_body(again, 422, "insufficient_points") == refused
    assert (await world.balance(), await app_balance(world)) == (105, 0)
    fresh = await spend(world, 8, key="another-key")
    assert fresh.status == 201, await fresh.text()


async def test_keys_are_per_app_and_user(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    neighbour = await join(world)  # another user of the same app
    elsewhere = await join(await connected_user(client, settings.data_dir), person=world.user)
    for person in (world.user, neighbour.user):
        await world.grant(person, 100)

    mine = await spend(world, 10, key="shared-key")
    theirs = await spend(neighbour, 20, key="shared-key")
    other_app = await spend(elsewhere, 30, key="shared-key")

    assert [r.status for r in (mine, theirs, other_app)] == [201, 201, 201]
    ids = {(await r.json())["transaction"]["id"] for r in (mine, theirs, other_app)}
    assert len(ids) == 3
    assert all("Idempotent-Replayed" not in r.headers for r in (mine, theirs, other_app))
    assert await world.balance() == 100 - 10 - 30
    assert await neighbour.balance() == 80
    assert await app_balance(world) == 30
    assert await app_balance(elsewhere) == 30


async def test_keyed_transfers_and_grants_replay_too(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    friend = await join(world)
    grant = {"user_id": world.user.user["id"], "amount": 50, "reason": "bonus"}
    grants = [
        await client.post(
            "/api/admin/points/grant",
            json=grant,
            headers={**world.admin.auth, "Idempotency-Key": "bonus-1"},
        )
        for _ in range(2)
    ]
    assert [g.status for g in grants] == [201, 201]
    assert await grants[0].json() == await grants[1].json()
    assert grants[1].headers["Idempotent-Replayed"] == "true"

    headers = {**world.auth, "Idempotency-Key": "gift"}
    body: dict[str, Any] = {"to_username": friend.user.username, "amount": 15, "note": "gift"}
    sent = [
        await client.post("/api/external/points/transfer", json=body, headers=headers)
        for _ in range(2)
    ]
    assert [s.status for s in sent] == [201, 201]
    assert await sent[0].json() == await sent[1].json()
    assert (await world.balance(), await friend.balance()) == (35, 15)


async def test_a_replayed_grant_answers_the_first_position_after_other_entries(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    grant = {"user_id": world.user.user["id"], "amount": 50, "reason": "bonus"}
    headers = {**world.admin.auth, "Idempotency-Key": "bonus-2"}

    first = await client.post("/api/admin/points/grant", json=grant, headers=headers)
    assert (await spend(world, 1)).status == 201  # anything recorded in between
    again = await client.post("/api/admin/points/grant", json=grant, headers=headers)

    assert (first.status, again.status) == (201, 201)
    assert (await world.balance()) == 49  # moved once
    assert await again.json() == await first.json()
