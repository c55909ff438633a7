"""Helpers for the external API tests: an app with every scope approved, a user connected."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from tests.e2e.helpers import Person
from tests.e2e.oauth_helpers import (
    ALL_SCOPES,
    AUTO_SCOPES,
    RegisteredApp,
    admin_person,
    bearer,
    connect,
    register_app,
    verified_person,
)


@dataclass
class Connected:
    """A user connected to an app with tokens, the app's owner and an admin."""

    client: TestClient  # type: ignore[type-arg]
    admin: Person
    owner: Person
    user: Person
    app: RegisteredApp
    tokens: dict[str, Any]

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.tokens["access_token"])

    async def grant(self, person: Person, amount: int) -> dict[str, Any]:
        """The treasury grants `amount` to `person` (201 expected)."""
        response = await self.client.post(
            "/api/admin/points/grant",
            json={"user_id": person.user["id"], "amount": amount, "reason": "test"},
            headers=self.admin.auth,
        )
        assert response.status == 201, await response.text()
        body: dict[str, Any] = await response.json()
        return body

    async def balance(self) -> int:
        response = await self.client.get("/api/external/points", headers=self.auth)
        assert response.status == 200, await response.text()
        return int((await response.json())["balance"])


async def approve_all(
    client: TestClient,  # type: ignore[type-arg]
    admin: Person,
    app: RegisteredApp,
) -> None:
    """An admin approves every pending scope request of `app`."""
    listed = await client.get("/api/admin/scope-requests?status=pending", headers=admin.auth)
    for request in (await listed.json())["scope_requests"]:
        if request["app_id"] == app.id:
            approved = await client.post(
                f"/api/admin/scope-requests/{request['id']}/approve", json={}, headers=admin.auth
            )
            assert approved.status == 200, await approved.text()


async def connected_user(
    client: TestClient,  # type: ignore[type-arg]
    data_dir: Any,
    scopes: frozenset[str] = ALL_SCOPES,
    *,
    user_is_owner: bool = False,
) -> Connected:
    """An app with every scope approved, and a user who authorized `scopes` for it."""
    admin = await admin_person(client, data_dir)
    owner = await verified_person(client, data_dir)
    app = await register_app(client, owner, requested_scopes=sorted(ALL_SCOPES))
    await approve_all(client, admin, app)
    user = owner if user_is_owner else await verified_person(client, data_dir)
    scope = " ".join(sorted(scopes or AUTO_SCOPES))
    tokens = await connect(client, user, app, scope=scope)
    return Connected(client, admin, owner, user, app, tokens)


async def join(
    world: Connected,
    scopes: frozenset[str] = ALL_SCOPES,
    person: Person | None = None,
) -> Connected:
    """Another user (or `person`) authorizing `scopes` for the same app as `world`."""
    user = person or await verified_person(world.client, world.user.data_dir)
    tokens = await connect(world.client, user, world.app, scope=" ".join(sorted(scopes)))
    return Connected(world.client, world.admin, world.owner, user, world.app, tokens)


async def spend(
    world: Connected, amount: Any, key: str | None = None, **fields: Any
) -> ClientResponse:
    """`POST /api/external/points/spend` for `world`'s user, with an Idempotency-Key if given."""
    headers = world.auth if key is None else {**world.auth, "Idempotency-Key": key}
    return await world.client.post(
        "/api/external/points/spend", json={"amount": amount, **fields}, headers=headers
    )


async def app_balance(world: Connected) -> int:
    response = await world.client.get("/api/external/app/balance", headers=world.auth)
    assert response.status == 200, await response.text()
    return int((await response.json())["balance"])


async def error_body(response: ClientResponse, status: int, code: str) -> dict[str, Any]:
    """The spec's error body (`error`, `message`) of a refusal with `status` and `code`."""
    text = await response.text()
    assert response.status == status, text
    body: dict[str, Any] = await response.json()
    assert body["error"] == code, body
    assert isinstance(body["message"], str), body
    assert body["message"], body
    return body
