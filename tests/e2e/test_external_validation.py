"""Refusals of the external points API: bad input, impossible transfers, blocked pairs.
Each is a 4xx error body and moves no points."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from commands.store import get_as
from http_api.keys import SERVICES
from http_api.settings import Settings
from ledger.social import Block
from tests.e2e.oauth_helpers import verified_person
from tests.e2e.points_helpers import Connected, app_balance, connected_user, error_body, spend

BAD_AMOUNTS: list[Any] = [0, -1, 1.5, "3", True, None, 1_000_000_001, [1], {"n": 1}]
BAD_SPENDS: list[dict[str, Any]] = [
    *({"amount": amount} for amount in BAD_AMOUNTS),
    {},
    {"amount": 1, "description": "d" * 201},
    {"amount": 1, "description": 7},
    {"amount": 1, "metadata": {f"k{n}": n for n in range(21)}},
    {"amount": 1, "metadata": {"nested": {"a": 1}}},
    {"amount": 1, "metadata": {"list": [1, 2]}},
    {"amount": 1, "metadata": {"float": 1.5}},
    {"amount": 1, "metadata": ["a"]},
    {"amount": 1, "unknown": "field"},
]
BAD_KEYS = ["", "k" * 256, "tab\there", "caf\u00e9"]


async def money(world: Connected) -> tuple[int, int]:
    """The user's and the app's balances."""
    return await world.balance(), await app_balance(world)


async def assert_error_json(response: Any) -> dict[str, Any]:
    text = await response.text()
    assert 400 <= response.status < 500, (response.status, text)
    assert response.content_type == "application/json", text
    body: dict[str, Any] = await response.json()
    assert isinstance(body["error"], str), body
    assert isinstance(body["message"], str), body
    return body


async def test_bad_spend_bodies_are_refused_before_anything_moves(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    await world.grant(world.user, 1_000_000_000)
    await world.grant(world.user, 1_000_000_000)
    before = await money(world)

    for body in BAD_SPENDS:
        response = await client.post("/api/external/points/spend", json=body, headers=world.auth)
        refused = await assert_error_json(response)
        assert refused["error"] in {"validation_failed", "invalid_request"}, (body, refused)
        if refused["error"] == "validation_failed":
            assert isinstance(refused["fields"], dict), refused
            assert refused["fields"], refused

    # The largest amount and the longest description and metadata the spec allows do pass.
    edge = await spend(
        world,
        1_000_000_000,
        description="d" * 200,
        metadata={f"k{n}": n for n in range(20)},
    )
    assert edge.status == 201, await edge.text()
    user, app = await money(world)
    assert (user, app) == (before[0] - 1_000_000_000, before[1] + 1_000_000_000)


async def test_malformed_requests_are_refused_before_anything_moves(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    await world.grant(world.user, 100)
    before = await money(world)
    json_headers = {**world.auth, "Content-Type": "application/json"}

    for raw in (b"{", b"not json", b"[1]", b'"amount"', b"", b'{"amount": NaN}', b"\xff\xfe"):
        for path in ("/api/external/points/spend", "/api/external/points/transfer"):
            response = await client.post(path, data=raw, headers=json_headers)
            refused = await assert_error_json(response)
            assert refused["error"] in {"invalid_request", "validation_failed"}, (raw, refused)

    too_big = b'{"amount": 1, "description": "' + b"x" * 70_000 + b'"}'
    response = await client.post("/api/external/points/spend", data=too_big, headers=json_headers)
    await error_body(response, 413, "payload_too_large")

    for key in BAD_KEYS:
        response = await spend(world, 1, key=key)
        refused = await assert_error_json(response)
        assert refused["error"] in {"validation_failed", "invalid_request"}, (key, refused)
    twice = {**world.auth}
    response = await client.post(
        "/api/external/points/spend",
        json={"amount": 1},
        headers=[*twice.items(), ("Idempotency-Key", "a"), ("Idempotency-Key", "b")],
    )
    await assert_error_json(response)

    assert await money(world) == before


async def test_a_body_naming_a_field_twice_is_refused_and_moves_nothing(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    """Which of two `amount`s counts is up to each parser (RFC 8259 4): a proxy that logs the
    first and a server that spends the last must never disagree about money."""
    world = await connected_user(client, settings.data_dir)
    await world.grant(world.user, 1_000)
    before = await money(world)
    json_headers = {**world.auth, "Content-Type": "application/json"}

    for raw in (b'{"amount": 1, "amount": 500}', b'{"amount": 1, "metadata": {"k": 1, "k": 2}}'):
        response = await client.post("/api/external/points/spend", data=raw, headers=json_headers)
        await error_body(response, 400, "invalid_request")

    assert await money(world) == before


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 0},
        {"amount": -1},
        {"amount": 1.5},
        {"amount": "3"},
        {"amount": True},
        {"amount": 1_000_000_001},
        {"amount": 1, "note": "n" * 201},
        {"amount": 1, "to_user_id": "not-a-uuid"},
        {"amount": 1, "unknown": "field"},
    ],
)
async def test_bad_transfer_bodies_are_refused(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    body: dict[str, Any],
) -> None:
    world = await connected_user(client, settings.data_dir)
    friend = await verified_person(client, settings.data_dir)
    await world.grant(world.user, 1_000_000_000)
    await world.grant(world.user, 1_000_000_000)
    request = {"to_user_id": friend.user["id"], **body}

    response = await client.post("/api/external/points/transfer", json=request, headers=world.auth)

    refused = await assert_error_json(response)
    assert refused["error"] in {"validation_failed", "invalid_request"}, refused
    assert await world.balance() == 2_000_000_000


async def test_transfers_to_oneself_or_nobody_are_validation_failures(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    friend = await verified_person(client, settings.data_dir)
    await world.grant(world.user, 100)
    me = world.user

    for recipient, field in [
        ({"to_user_id": me.user["id"]}, "to_user_id"),
        ({"to_username": me.username}, "to_user_id"),
        ({"to_user_id": str(uuid.uuid4())}, "to_user_id"),
        ({"to_username": "nobody_by_this_name"}, "to_username"),
        ({}, "to_user_id"),
        ({"to_user_id": friend.user["id"], "to_username": friend.username}, "to_user_id"),
        # An app's id is no user's id.
        ({"to_user_id": world.app.id}, "to_user_id"),
    ]:
        response = await client.post(
            "/api/external/points/transfer", json={"amount": 5, **recipient}, headers=world.auth
        )
        refused = await error_body(response, 422, "validation_failed")
        assert field in refused["fields"], (recipient, refused)

    assert await world.balance() == 100


@pytest.mark.parametrize("who_blocks", ["sender", "recipient"])
async def test_a_transfer_between_users_where_either_blocked_the_other_is_refused(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    who_blocks: str,
) -> None:
    world = await connected_user(client, settings.data_dir)
    friend = await verified_person(client, settings.data_dir)
    await world.grant(world.user, 100)
    sender, recipient = uuid.UUID(world.user.user["id"]), uuid.UUID(friend.user["id"])
    blocker, blocked = (sender, recipient) if who_blocks == "sender" else (recipient, sender)
    store = client.server.app[SERVICES].bus.store
    store.save(Block(blocker_id=blocker, blocked_id=blocked))

    by_id, by_name = {"to_user_id": str(recipient)}, {"to_username": friend.username}
    for n, recipient_field in enumerate((by_id, by_name)):
        response = await client.post(
            "/api/external/points/transfer",
            json={"amount": 5, **recipient_field},
            headers={**world.auth, "Idempotency-Key": f"blocked-{n}"},
        )
        await error_body(response, 422, "transfer_refused")
    assert await world.balance() == 100

    # Once the block is lifted, the same transfer goes through.
    block = get_as(store, Block.create_id(blocker, blocked), Block)
    block.unblock()
    store.save(block)
    response = await client.post(
        "/api/external/points/transfer",
        json={"amount": 5, "to_user_id": str(recipient)},
        headers=world.auth,
    )
    assert response.status == 201, await response.text()
    assert await world.balance() == 95
