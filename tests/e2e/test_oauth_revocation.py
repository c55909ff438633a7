"""Every way an OAuth token is revoked takes effect on the very next request, over real HTTP."""

from __future__ import annotations

import asyncio
from uuid import UUID

import pytest
from aiohttp.test_utils import TestClient

from commands.grants import IssueCode
from http_api.settings import Settings
from tests.e2e.auth_helpers import services
from tests.e2e.helpers import outbox_codes
from tests.e2e.oauth_helpers import (
    AUTO_SCOPES,
    REDIRECT_URI,
    admin_person,
    assert_tokens_dead,
    assert_tokens_work,
    connect,
    external_user,
    introspect,
    new_mailed_code,
    pkce_pair,
    refreshed,
    register_app,
    revoke,
    seeded_apps,
    verified_person,
)
from tests.e2e.paging_helpers import assert_pages

NEW_PASSWORD = "another horse battery"


async def test_revoking_an_access_token_stops_only_that_token(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    tokens = await connect(client, owner, app)

    response = await revoke(client, app, tokens["access_token"], hint="access_token")

    assert response.status == 200
    assert await response.json() == {}
    refused = await external_user(client, tokens["access_token"])
    assert refused.status == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert await introspect(client, tokens["access_token"]) == {"active": False}
    renewed = await refreshed(client, app, tokens["refresh_token"])
    assert (await external_user(client, renewed["access_token"])).status == 200


@pytest.mark.parametrize("hint", ["refresh_token", "access_token", None])
async def test_revoking_a_refresh_token_revokes_its_whole_family(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    hint: str | None,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    first = await connect(client, owner, app)
    second = await refreshed(client, app, first["refresh_token"])

    response = await revoke(client, app, second["refresh_token"], hint=hint, form=True)

    assert response.status == 200
    assert await response.json() == {}
    await assert_tokens_dead(client, app, second)
    assert await introspect(client, first["access_token"]) == {"active": False}


async def test_revoking_one_grant_spares_the_others(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    other = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    mine = await connect(client, owner, app)
    theirs = await connect(client, other, app)

    await revoke(client, app, mine["refresh_token"])

    await assert_tokens_dead(client, app, mine)
    await assert_tokens_work(client, app, theirs)


@pytest.mark.parametrize(
    "token",
    ["bat_" + "A" * 43, "brt_" + "B" * 43, "nonsense", "", "x" * 4000],
    ids=["unknown-access", "unknown-refresh", "garbage", "empty", "long"],
)
@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
async def test_revoking_an_unknown_or_malformed_token_is_still_200(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    token: str,
    form: bool,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)

    response = await revoke(client, app, token, form=form)

    assert response.status == 200, await response.text()
    assert await response.json() == {}


async def test_connected_apps_lists_each_app_the_user_authorized(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    user = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner, app_name="Lucky Wheel")
    empty = await client.get("/api/user/connected-apps", headers=user.auth)
    assert empty.status == 200, await empty.text()
    assert (await empty.json())["apps"] == []

    await connect(client, user, app, scope="profile:read")

    response = await client.get("/api/user/connected-apps", headers=user.auth)
    [connected] = (await response.json())["apps"]
    assert set(connected) >= {
        "app_id",
        "client_id",
        "app_name",
        "logo_url",
        "scopes",
        "connected_at",
        "last_used_at",
    }
    assert connected["app_id"] == app.id
    assert connected["client_id"] == app.client_id
    assert connected["app_name"] == "Lucky Wheel"
    assert connected["logo_url"] == "https://app.example/logo.png"
    assert connected["scopes"] == ["profile:read"]
    assert connected["connected_at"].endswith("Z")
    owners = await client.get("/api/user/connected-apps", headers=owner.auth)
    assert (await owners.json())["apps"] == []


async def test_removing_a_connected_app_revokes_that_users_tokens_only(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    user = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    mine = await connect(client, user, app)
    theirs = await connect(client, owner, app)

    response = await client.delete(f"/api/user/connected-apps/{app.id}", headers=user.auth)

    assert response.status == 204, await response.text()
    await assert_tokens_dead(client, app, mine)
    listing = await client.get("/api/user/connected-apps", headers=user.auth)
    assert (await listing.json())["apps"] == []
    await assert_tokens_work(client, app, theirs)


async def test_deleting_an_app_revokes_its_tokens(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    user = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    kept = await register_app(client, owner, app_name="Kept")
    tokens = await connect(client, user, app)
    other = await connect(client, user, kept)

    response = await client.delete(f"/api/oauth/my-apps/{app.id}", headers=owner.auth)

    assert response.status == 204, await response.text()
    await assert_tokens_dead(client, app, tokens, client_gone=True)
    await assert_tokens_work(client, kept, other)


async def test_suspending_an_app_revokes_its_tokens(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    user = await verified_person(client, settings.data_dir)
    admin = await admin_person(client, settings.data_dir)
    app = await register_app(client, owner)
    kept = await register_app(client, owner, app_name="Kept")
    tokens = await connect(client, user, app)
    other = await connect(client, user, kept)

    response = await client.post(f"/api/admin/apps/{app.id}/suspend", headers=admin.auth)

    assert response.status == 200, await response.text()
    await assert_tokens_dead(client, app, tokens)
    await assert_tokens_work(client, kept, other)
    detail = await client.get(f"/api/oauth/my-apps/{app.id}", headers=owner.auth)
    assert (await detail.json())["app"]["is_approved"] is False


async def test_suspending_a_user_revokes_their_tokens(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    user = await verified_person(client, settings.data_dir)
    admin = await admin_person(client, settings.data_dir)
    app = await register_app(client, owner)
    tokens = await connect(client, user, app)
    others = await connect(client, owner, app)

    response = await client.post(f"/api/admin/users/{user.user['id']}/suspend", headers=admin.auth)

    assert response.status == 200, await response.text()
    await assert_tokens_dead(client, app, tokens)
    await assert_tokens_work(client, app, others)


async def test_changing_the_password_revokes_the_users_tokens(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    tokens = await connect(client, owner, app)

    response = await client.post(
        "/api/auth/change-password",
        json={"current_password": owner.password, "new_password": NEW_PASSWORD},
        headers=owner.auth,
    )

    assert response.status == 200, await response.text()
    await assert_tokens_dead(client, app, tokens)
    # The JWT that changed the password still works, so the user can connect again.
    fresh = await connect(client, owner, app)
    await assert_tokens_work(client, app, fresh)


async def test_resetting_the_password_revokes_the_users_tokens(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    tokens = await connect(client, owner, app)
    already = len(outbox_codes(settings.data_dir, owner.email))
    forgot = await client.post("/api/auth/forgot-password", json={"email": owner.email})
    assert forgot.status == 200, await forgot.text()
    code = await new_mailed_code(owner, already)

    response = await client.post(
        "/api/auth/reset-password", json={"token": code, "password": NEW_PASSWORD}
    )

    assert response.status == 200, await response.text()
    await assert_tokens_dead(client, app, tokens)


async def test_concurrent_requests_each_get_the_answer_of_their_own_token(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    """Token checks of requests in flight together are looked up together (one query per turn
    of the event loop): each request still gets its own token's user, or its own refusal."""
    owner = await verified_person(client, settings.data_dir)
    other = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    mine, theirs, revoked = (
        await connect(client, owner, app),
        await connect(client, other, app),
        await connect(client, other, app),
    )
    await revoke(client, app, revoked["access_token"], hint="access_token")
    expected = {
        mine["access_token"]: (200, owner.user["id"]),
        theirs["access_token"]: (200, other.user["id"]),
        revoked["access_token"]: (401, None),
        "never-issued-token": (401, None),
    }
    tokens = list(expected) * 10

    responses = await asyncio.gather(*(external_user(client, token) for token in tokens))
    verdicts = await asyncio.gather(*(introspect(client, token) for token in tokens))

    for token, response in zip(tokens, responses, strict=True):
        status, user_id = expected[token]
        assert response.status == status
        if user_id is not None:
            assert (await response.json())["user"]["id"] == user_id
    for token, verdict in zip(tokens, verdicts, strict=True):
        assert verdict["active"] is (expected[token][0] == 200)


async def test_connected_apps_page_by_time_of_connection(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    user = await verified_person(client, settings.data_dir)
    apps = await seeded_apps(client, owner, 52)
    for app in reversed(apps):  # connected in the other order than made
        _, challenge = pkce_pair()
        command = IssueCode(
            UUID(user.user["id"]), app.client_id, REDIRECT_URI, list(AUTO_SCOPES), challenge
        )
        await services(client).bus.execute(command)
    connected = [str(app.app_id) for app in reversed(apps)]
    await assert_pages(
        client, "/api/user/connected-apps", user.auth, "apps", connected, lambda a: a["app_id"]
    )
