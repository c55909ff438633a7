"""The external API's points, sessions and app balance over real HTTP with real tokens."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from http_api.settings import Settings
from tests.e2e.oauth_helpers import verified_person
from tests.e2e.points_helpers import connected_user


async def test_spend_moves_points_from_the_user_to_the_app(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    await world.grant(world.user, 100)

    response = await client.post(
        "/api/external/points/spend",
        json={"amount": 30, "description": "a hat", "metadata": {"sku": "hat-1"}},
        headers=world.auth,
    )

    assert response.status == 201, await response.text()
    transaction = (await response.json())["transaction"]
    assert transaction["type"] == "spend"
    assert (transaction["amount"], transaction["balance_after"]) == (30, 70)
    assert transaction["app_id"] == world.app.id
    assert transaction["metadata"] == {"sku": "hat-1"}
    assert await world.balance() == 70
    app_balance = await client.get("/api/external/app/balance", headers=world.auth)
    assert (await app_balance.json())["balance"] == 30


async def test_a_keyed_spend_replays_and_a_changed_body_conflicts(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    await world.grant(world.user, 100)
    headers = {**world.auth, "Idempotency-Key": "order-1"}

    first = await client.post("/api/external/points/spend", json={"amount": 10}, headers=headers)
    again = await client.post("/api/external/points/spend", json={"amount": 10}, headers=headers)
    other = await client.post("/api/external/points/spend", json={"amount": 11}, headers=headers)

    assert (first.status, again.status, other.status) == (201, 201, 409)
    assert await first.json() == await again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert await world.balance() == 90


async def test_an_overdraft_is_refused_with_the_balance(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    await world.grant(world.user, 5)

    response = await client.post(
        "/api/external/points/spend", json={"amount": 6}, headers=world.auth
    )

    assert response.status == 422
    body = await response.json()
    assert (body["error"], body["balance"]) == ("insufficient_points", 5)


async def test_transfer_by_username_and_history(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    friend = await verified_person(client, settings.data_dir)
    await world.grant(world.user, 50)

    sent = await client.post(
        "/api/external/points/transfer",
        json={"to_username": friend.username, "amount": 20, "note": "lunch"},
        headers=world.auth,
    )
    to_self = await client.post(
        "/api/external/points/transfer",
        json={"to_user_id": world.user.user["id"], "amount": 1},
        headers=world.auth,
    )

    assert sent.status == 201, await sent.text()
    transaction = (await sent.json())["transaction"]
    assert (transaction["to_user_id"], transaction["balance_after"]) == (friend.user["id"], 30)
    assert to_self.status == 422
    history = await client.get("/api/external/points/history", headers=world.auth)
    items = (await history.json())["transactions"]
    assert [item["type"] for item in items] == ["transfer"]


async def test_session_status_and_end(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)

    status = await client.get("/api/external/session/status", headers=world.auth)
    ended = await client.post("/api/external/session/end", headers=world.auth)
    refreshed = await client.post(
        "/api/session/refresh", json={"session_token": world.tokens["session_token"]}
    )

    assert status.status == 200, await status.text()
    assert (await status.json())["session"]["active"] is True
    assert (await ended.json())["session"]["active"] is False
    assert refreshed.status == 401


async def test_operator_endpoints_are_for_the_owner_only(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    stranger = await connected_user(client, settings.data_dir)
    owner = await connected_user(client, settings.data_dir, user_is_owner=True)

    refused = await client.get("/api/operator/app", headers=stranger.auth)
    app = await client.get("/api/operator/app", headers=owner.auth)
    analytics = await client.get("/api/operator/analytics?window_days=7", headers=owner.auth)

    assert refused.status == 403
    assert app.status == 200, await app.text()
    assert (await app.json())["app"]["total_users"] == 1
    assert (await analytics.json())["analytics"]["window_days"] == 7
