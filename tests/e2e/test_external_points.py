"""The external API's points, sessions and app balance over real HTTP with real tokens."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from http_api.settings import Settings
from tests.e2e.oauth_helpers import verified_person
from tests.e2e.points_helpers import connected_user, join, spend


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


async def test_history_pages_newest_first_with_only_this_apps_entries(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    other_app = await connected_user(client, settings.data_dir)
    elsewhere = await join(other_app, person=world.user)  # the same user in another app
    friend = await join(world)  # another user of the same app
    await world.grant(world.user, 100)  # the treasury's entry: not made through any app
    await world.grant(friend.user, 100)
    mine = []
    for amount in (1, 2, 3):
        response = await spend(world, amount, description=f"spend {amount}")
        assert response.status == 201, await response.text()
        mine.append((await response.json())["transaction"]["id"])
    received = await client.post(
        "/api/external/points/transfer",
        json={"to_user_id": world.user.user["id"], "amount": 7},
        headers=friend.auth,
    )
    assert received.status == 201, await received.text()
    mine.append((await received.json())["transaction"]["id"])
    assert (await spend(elsewhere, 4)).status == 201
    assert (await spend(world, 5)).status == 201
    mine.append(
        (await (await spend(world, 6)).json())["transaction"]["id"],
    )
    newest_first = [*reversed(mine[:4])]
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await client.get("/api/external/points/history", params=params, headers=world.auth)
        assert page.status == 200, await page.text()
        body = await page.json()
        assert len(body["transactions"]) <= 2
        seen += body["transactions"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert [item["app_id"] for item in seen] == [world.app.id] * 6
    assert seen[0]["id"] == mine[-1]
    assert [item["id"] for item in seen][2:] == newest_first
    assert [item["delta"] for item in seen] == [-6, -5, 7, -3, -2, -1]
    assert [item["balance_after"] for item in seen] == [86, 92, 101, 94, 97, 99]
    assert seen[2]["counterparty"] is not None
    assert seen[2]["type"] == "transfer"
    assert seen[3]["description"] == "spend 3"

    other = await client.get("/api/external/points/history", headers=elsewhere.auth)
    assert [t["amount"] for t in (await other.json())["transactions"]] == [4]
    for bad in ({"limit": "0"}, {"limit": "201"}, {"limit": "x"}, {"cursor": "garbage"}):
        response = await client.get("/api/external/points/history", params=bad, headers=world.auth)
        assert response.status == 422, (bad, await response.text())
        assert (await response.json())["error"] == "validation_failed"


async def test_a_refreshed_session_shows_its_heartbeat_and_an_ended_one_stops_refreshing(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    before = await client.get("/api/external/session/status", headers=world.auth)
    assert (await before.json())["session"]["last_heartbeat_at"] is None

    refreshed = await client.post(
        "/api/session/refresh", json={"session_token": world.tokens["session_token"]}
    )
    assert refreshed.status == 200, await refreshed.text()
    rotated = (await refreshed.json())["session_token"]
    after = (await (await client.get("/api/external/session/status", headers=world.auth)).json())[
        "session"
    ]
    assert after["last_heartbeat_at"] is not None
    assert after["active"] is True
    assert after["last_heartbeat_at"] >= after["started_at"]

    ended = await client.post("/api/external/session/end", headers=world.auth)
    assert ended.status == 200, await ended.text()
    for token in (rotated, world.tokens["session_token"]):
        refused = await client.post("/api/session/refresh", json={"session_token": token})
        assert refused.status == 401, await refused.text()
    status = (await (await client.get("/api/external/session/status", headers=world.auth)).json())[
        "session"
    ]
    assert (status["active"], status["ended_at"] is not None) == (False, True)
    assert status["last_heartbeat_at"] == after["last_heartbeat_at"]
    # Ending twice answers the ended session again.
    again = await client.post("/api/external/session/end", headers=world.auth)
    assert again.status == 200, await again.text()
    assert (await again.json())["session"]["ended_at"] == status["ended_at"]
