"""Every external and operator endpoint over real HTTP with real OAuth tokens: the spec's
shapes on the happy path, the scope each one needs, and the wrong kind of token refused."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from http_api.settings import Settings
from tests.e2e.oauth_helpers import bearer, verified_person
from tests.e2e.points_helpers import connected_user, error_body, join, spend

ISO_Z = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$"

# (method, path, scope it needs, JSON body of a request that would succeed).
EXTERNAL: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("GET", "/api/external/user", "profile:read", None),
    ("GET", "/api/external/points", "points:read", None),
    ("POST", "/api/external/points/spend", "points:spend", {"amount": 1}),
    ("POST", "/api/external/points/transfer", "points:transfer", {"amount": 1}),
    ("GET", "/api/external/points/history", "points:read", None),
    ("GET", "/api/external/session/status", "profile:read", None),
    ("POST", "/api/external/session/end", "profile:read", None),
    ("GET", "/api/external/app/balance", "app:balance:read", None),
]
OPERATOR: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("GET", "/api/operator/app", "app:balance:read", None),
    ("PUT", "/api/operator/app", "app:balance:read", {"app_description": "changed"}),
    ("GET", "/api/operator/analytics", "app:balance:read", None),
]
ALL_ENDPOINTS = EXTERNAL + OPERATOR


def is_iso_z(value: object) -> bool:
    return isinstance(value, str) and re.match(ISO_Z, value) is not None


async def call(
    client: TestClient,  # type: ignore[type-arg]
    method: str,
    path: str,
    headers: dict[str, str],
    body: dict[str, Any] | None,
) -> Any:
    return await client.request(method, path, json=body, headers=headers)


async def test_the_happy_paths_answer_the_spec_shapes(  # noqa: PLR0915 - one walk through every endpoint
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir, user_is_owner=True)
    friend = await verified_person(client, settings.data_dir)
    granted = await world.grant(world.user, 100)

    entry = granted["entry"]
    assert set(entry) == {"id", "kind", "postings", "memo", "app_id", "inserted_at"}
    assert entry["app_id"] is None
    assert entry["memo"] == "test"
    assert is_iso_z(entry["inserted_at"])
    assert {(p["account"], p["delta"]) for p in entry["postings"]} == {
        ("treasury", -100),
        (f"user:{world.user.user['id']}", 100),
    }

    user = (await (await client.get("/api/external/user", headers=world.auth)).json())["user"]
    assert user == {
        "id": world.user.user["id"],
        "username": world.user.username,
        "email": world.user.email,
        "tier": user["tier"],
        "email_verified": True,
    }

    points = await (await client.get("/api/external/points", headers=world.auth)).json()
    assert set(points) == {"balance", "user_id", "as_of"}
    assert (points["balance"], points["user_id"]) == (100, world.user.user["id"])
    assert is_iso_z(points["as_of"])

    spent = await spend(world, 25, description="a hat", metadata={"sku": "h1", "n": 2})
    assert spent.status == 201, await spent.text()
    transaction = (await spent.json())["transaction"]
    assert set(transaction) == {
        "id",
        "type",
        "amount",
        "from_user_id",
        "app_id",
        "description",
        "metadata",
        "balance_after",
        "inserted_at",
    }
    assert transaction["type"] == "spend"
    assert (transaction["amount"], transaction["balance_after"]) == (25, 75)
    assert (transaction["from_user_id"], transaction["app_id"]) == (
        world.user.user["id"],
        world.app.id,
    )
    assert (transaction["description"], transaction["metadata"]) == ("a hat", {"sku": "h1", "n": 2})
    assert is_iso_z(transaction["inserted_at"])

    sent = await client.post(
        "/api/external/points/transfer",
        json={"to_user_id": friend.user["id"], "amount": 5, "note": "thanks"},
        headers=world.auth,
    )
    assert sent.status == 201, await sent.text()
    transfer = (await sent.json())["transaction"]
    assert set(transfer) == {
        "id",
        "type",
        "amount",
        "from_user_id",
        "to_user_id",
        "app_id",
        "note",
        "balance_after",
        "inserted_at",
    }
    assert (transfer["type"], transfer["amount"], transfer["balance_after"]) == ("transfer", 5, 70)
    assert (transfer["to_user_id"], transfer["note"]) == (friend.user["id"], "thanks")
    assert transfer["app_id"] == world.app.id

    history = await (await client.get("/api/external/points/history", headers=world.auth)).json()
    assert set(history) == {"transactions", "next_cursor"}
    assert history["next_cursor"] is None
    assert [(t["id"], t["type"], t["amount"]) for t in history["transactions"]] == [
        (transfer["id"], "transfer", 5),
        (transaction["id"], "spend", 25),
    ]

    balance = await (await client.get("/api/external/app/balance", headers=world.auth)).json()
    assert balance["app_id"] == world.app.id
    assert balance["balance"] == 25
    assert set(balance) == {"app_id", "balance", "as_of"}
    assert is_iso_z(balance["as_of"])

    status = await (await client.get("/api/external/session/status", headers=world.auth)).json()
    session = status["session"]
    assert set(session) == {
        "id",
        "active",
        "started_at",
        "last_heartbeat_at",
        "expires_at",
        "ended_at",
    }
    assert session["active"] is True
    assert session["ended_at"] is None
    assert is_iso_z(session["started_at"])
    assert is_iso_z(session["expires_at"])

    app = (await (await client.get("/api/operator/app", headers=world.auth)).json())["app"]
    assert app["id"] == world.app.id
    assert app["total_users"] == 1
    assert {"listed", "updated_at", "allowed_scopes"} <= set(app)
    updated = await client.put(
        "/api/operator/app", json={"app_name": "Renamed", "listed": True}, headers=world.auth
    )
    assert updated.status == 200, await updated.text()
    changed = (await updated.json())["app"]
    assert "total_users" not in changed
    assert (changed["app_name"], changed["listed"]) == ("Renamed", True)

    analytics = await client.get("/api/operator/analytics", headers=world.auth)
    assert analytics.status == 200, await analytics.text()
    figures = (await analytics.json())["analytics"]
    assert {
        "total_awards",
        "total_spends",
        "total_users",
        "window_days",
        "daily",
        "ad_impressions",
        "ad_clicks",
    } == set(figures)
    assert (figures["total_spends"], figures["window_days"], figures["total_users"]) == (25, 30, 1)

    ended = await client.post("/api/external/session/end", headers=world.auth)
    assert ended.status == 200, await ended.text()
    finished = (await ended.json())["session"]
    assert (finished["id"], finished["active"]) == (session["id"], False)
    assert is_iso_z(finished["ended_at"])


async def test_each_endpoint_refuses_a_token_without_its_scope(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    # The owner's tokens, so the operator endpoints fail for the scope and not for ownership.
    world = await connected_user(client, settings.data_dir, user_is_owner=True)
    await world.grant(world.user, 10)
    profile_only = await join(world, frozenset({"profile:read"}), person=world.user)
    points_only = await join(world, frozenset({"points:read"}), person=world.user)
    before = await world.balance()

    for method, path, scope, body in ALL_ENDPOINTS:
        lacking = points_only if scope == "profile:read" else profile_only
        response = await call(client, method, path, lacking.auth, body)
        refused = await error_body(response, 403, "insufficient_scope")
        assert refused["required_scope"] == scope, (path, refused)
        assert f'scope="{scope}"' in response.headers["WWW-Authenticate"], path

    assert await world.balance() == before
    status = await client.get("/api/external/session/status", headers=profile_only.auth)
    assert (await status.json())["session"]["active"] is True  # session/end was refused


async def test_each_endpoint_refuses_a_jwt_and_the_grant_refuses_an_access_token(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir, user_is_owner=True)
    await world.grant(world.user, 10)

    for method, path, _, body in ALL_ENDPOINTS:
        response = await call(client, method, path, world.user.auth, body)
        await error_body(response, 401, "wrong_token_type")

    grant = {"user_id": world.user.user["id"], "amount": 5, "reason": "x"}
    for token in (world.tokens["access_token"], world.tokens["refresh_token"]):
        response = await client.post("/api/admin/points/grant", json=grant, headers=bearer(token))
        assert response.status == 401, await response.text()
    response = await client.post("/api/admin/points/grant", json=grant, headers=world.auth)
    await error_body(response, 401, "wrong_token_type")
    assert await world.balance() == 10


async def test_missing_or_bad_credentials_are_401_with_a_bearer_challenge(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    for headers in ({}, bearer("not-a-real-token"), {"Authorization": "Basic eDp5"}):
        response = await client.get("/api/external/points", headers=headers)
        assert response.status == 401, await response.text()
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    refused = await spend(world, 1)
    assert refused.status == 422  # the real token is fine: no points


async def test_the_grant_is_for_admins_only(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    grant = {"user_id": world.user.user["id"], "amount": 5, "reason": "x"}

    response = await client.post("/api/admin/points/grant", json=grant, headers=world.owner.auth)

    await error_body(response, 403, "forbidden")
    assert await world.balance() == 0


async def test_operator_endpoints_refuse_a_user_who_does_not_own_the_app(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)  # the user is not the owner
    await world.grant(world.user, 10)

    for method, path, _, body in OPERATOR:
        response = await call(client, method, path, world.auth, body)
        await error_body(response, 403, "forbidden")

    owner = await join(world, person=world.owner)
    app = (await (await client.get("/api/operator/app", headers=owner.auth)).json())["app"]
    assert app["app_description"] != "changed"  # the stranger's PUT changed nothing
