"""OAuth apps over real HTTP: registration, visibility, secrets, scope requests, admin decisions."""

from __future__ import annotations

from uuid import UUID

import pytest
from aiohttp.test_utils import TestClient

from commands.oauth import RequestScopes
from http_api.settings import Settings
from tests.e2e.auth_helpers import services
from tests.e2e.helpers import Person
from tests.e2e.oauth_helpers import (
    AUTO_SCOPES,
    OTHER_REDIRECT_URI,
    REDIRECT_URI,
    admin_person,
    authorize,
    connect,
    error_of,
    pkce_pair,
    post_app,
    refresh,
    register_app,
    seeded_apps,
    verified_person,
)
from tests.e2e.paging_helpers import assert_pages, page

APP_FIELDS = {
    "id",
    "client_id",
    "client_secret",
    "app_name",
    "app_description",
    "logo_url",
    "website_url",
    "redirect_uris",
    "allowed_scopes",
    "is_approved",
    "inserted_at",
}
PUBLIC_FIELDS = {
    "client_id",
    "app_name",
    "app_description",
    "logo_url",
    "website_url",
    "allowed_scopes",
}


async def test_a_new_app_shows_its_secret_once_and_never_again(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner, app_name="Dice Night")

    assert set(app.body) >= APP_FIELDS
    assert app.body["app_name"] == "Dice Night"
    assert app.body["redirect_uris"] == [REDIRECT_URI, OTHER_REDIRECT_URI]
    assert set(AUTO_SCOPES) <= set(app.body["allowed_scopes"])
    assert app.body["is_approved"] is True
    assert app.body["inserted_at"].endswith("Z")
    assert isinstance(app.secret, str)
    assert app.secret not in {app.client_id, app.id}

    listing = await client.get("/api/oauth/my-apps", headers=owner.auth)
    one = await client.get(f"/api/oauth/my-apps/{app.id}", headers=owner.auth)
    public = await client.get(f"/api/oauth/apps/{app.client_id}")
    for response in (listing, one, public):
        assert response.status == 200, await response.text()
        assert app.secret not in await response.text()
    [listed] = (await listing.json())["apps"]
    detail = (await one.json())["app"]
    assert listed["id"] == app.id
    assert "client_secret" not in listed
    assert "client_secret" not in detail
    assert detail["client_id"] == app.client_id
    assert detail["pending_scopes"] == []


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post", "none"])
async def test_reads_show_the_token_endpoint_auth_method_the_app_was_registered_with(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    method: str,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner, token_endpoint_auth_method=method)

    one = await client.get(f"/api/oauth/my-apps/{app.id}", headers=owner.auth)
    listing = await client.get("/api/oauth/my-apps", headers=owner.auth)

    assert app.body["token_endpoint_auth_method"] == method
    assert (await one.json())["app"]["token_endpoint_auth_method"] == method
    assert [a["token_endpoint_auth_method"] for a in (await listing.json())["apps"]] == [method]


async def test_the_public_lookup_shows_only_public_fields(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner, app_name="Card Table")

    response = await client.get(f"/api/oauth/apps/{app.client_id}")

    assert response.status == 200
    public = (await response.json())["app"]
    assert set(public) == PUBLIC_FIELDS
    assert public["app_name"] == "Card Table"
    assert public["website_url"] == "https://app.example/"
    assert (await client.get("/api/oauth/apps/bc_no_such_client")).status == 404


async def test_an_unverified_user_cannot_register_an_app(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    person = Person(client, settings.data_dir)
    await person.register()
    await person.login()

    response = await post_app(client, person)

    assert response.status == 403
    assert (await response.json())["error"] == "email_not_verified"


async def test_registering_an_app_needs_a_jwt(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.post(
        "/api/oauth/apps", json={"app_name": "x", "redirect_uris": [REDIRECT_URI]}
    )

    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "redirect_uris",
    [
        ["http://example.com/cb"],
        ["https://app.example/cb#fragment"],
        ["/relative/cb"],
        [],
        [f"https://app.example/cb{n}" for n in range(11)],
    ],
    ids=["http-not-loopback", "fragment", "relative", "none", "eleven"],
)
async def test_bad_redirect_uris_are_refused(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    redirect_uris: list[str],
) -> None:
    owner = await verified_person(client, settings.data_dir)

    response = await post_app(client, owner, redirect_uris=redirect_uris)

    assert response.status == 422, await response.text()
    body = await response.json()
    assert body["error"] == "validation_failed"
    assert body["fields"]["redirect_uris"]
    listing = await client.get("/api/oauth/my-apps", headers=owner.auth)
    assert (await listing.json())["apps"] == []


@pytest.mark.parametrize(
    "redirect_uri",
    ["http://127.0.0.1:9/cb", "https://app.example/cb", "com.example.app:/cb"],
    ids=["loopback-http", "https", "native-scheme"],
)
async def test_good_redirect_uris_are_accepted(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    redirect_uri: str,
) -> None:
    owner = await verified_person(client, settings.data_dir)

    response = await post_app(client, owner, redirect_uris=[redirect_uri])

    assert response.status == 201, await response.text()
    assert (await response.json())["app"]["redirect_uris"] == [redirect_uri]


async def test_ten_redirect_uris_are_accepted(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    uris = [f"https://app.example/cb{n}" for n in range(10)]

    response = await post_app(client, owner, redirect_uris=uris)

    assert response.status == 201, await response.text()
    assert (await response.json())["app"]["redirect_uris"] == uris


async def test_another_users_app_is_not_found(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    stranger = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    base = f"/api/oauth/my-apps/{app.id}"

    attempts = [
        await client.get(base, headers=stranger.auth),
        await client.put(base, json={"app_name": "Mine now"}, headers=stranger.auth),
        await client.post(f"{base}/rotate-secret", headers=stranger.auth),
        await client.post(
            f"{base}/scope-request", json={"scopes": ["points:spend"]}, headers=stranger.auth
        ),
        await client.get(f"{base}/scope-requests", headers=stranger.auth),
        await client.delete(base, headers=stranger.auth),
    ]

    assert [response.status for response in attempts] == [404] * len(attempts)
    listing = await client.get("/api/oauth/my-apps", headers=stranger.auth)
    assert (await listing.json())["apps"] == []
    still = await client.get(base, headers=owner.auth)
    assert (await still.json())["app"]["app_name"] == "Test App"


async def test_the_owner_updates_an_app_and_an_old_redirect_uri_stops_working(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)

    response = await client.put(
        f"/api/oauth/my-apps/{app.id}",
        json={"app_name": "Renamed", "redirect_uris": [OTHER_REDIRECT_URI]},
        headers=owner.auth,
    )

    assert response.status == 200, await response.text()
    updated = (await response.json())["app"]
    assert updated["app_name"] == "Renamed"
    assert updated["redirect_uris"] == [OTHER_REDIRECT_URI]
    assert "client_secret" not in updated
    public = await (await client.get(f"/api/oauth/apps/{app.client_id}")).json()
    assert public["app"]["app_name"] == "Renamed"
    _, challenge = pkce_pair()
    old = await authorize(client, owner, app, challenge=challenge, redirect_uri=REDIRECT_URI)
    assert old.status == 400
    assert "Location" not in old.headers


async def test_an_update_is_validated_like_a_registration(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)

    response = await client.put(
        f"/api/oauth/my-apps/{app.id}",
        json={"redirect_uris": ["http://example.com/cb"]},
        headers=owner.auth,
    )

    assert response.status == 422
    assert (await response.json())["fields"]["redirect_uris"]
    detail = await (await client.get(f"/api/oauth/my-apps/{app.id}", headers=owner.auth)).json()
    assert detail["app"]["redirect_uris"] == [REDIRECT_URI, OTHER_REDIRECT_URI]


async def test_rotating_the_secret_retires_the_old_one_at_once(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    tokens = await connect(client, owner, app)
    old_secret = app.secret

    response = await client.post(f"/api/oauth/my-apps/{app.id}/rotate-secret", headers=owner.auth)

    assert response.status == 200, await response.text()
    rotated = await response.json()
    assert rotated["client_id"] == app.client_id
    assert rotated["client_secret"] not in {old_secret, None}
    stale = await refresh(client, app, tokens["refresh_token"])
    assert await error_of(stale, 401) == "invalid_client"
    assert stale.headers["WWW-Authenticate"]
    app.secret = rotated["client_secret"]
    fresh = await refresh(client, app, tokens["refresh_token"])
    assert fresh.status == 200, await fresh.text()


async def test_sensitive_scopes_become_one_pending_request(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(
        client, owner, requested_scopes=["profile:read", "points:spend", "deploy:manage"]
    )

    assert app.body["is_approved"] is False
    assert "profile:read" in app.body["allowed_scopes"]
    assert not {"points:spend", "deploy:manage"} & set(app.body["allowed_scopes"])
    detail = await (await client.get(f"/api/oauth/my-apps/{app.id}", headers=owner.auth)).json()
    assert sorted(detail["app"]["pending_scopes"]) == ["deploy:manage", "points:spend"]
    requests = await client.get(f"/api/oauth/my-apps/{app.id}/scope-requests", headers=owner.auth)
    assert requests.status == 200
    [pending] = (await requests.json())["scope_requests"]
    assert pending["status"] == "pending"
    assert pending["app_id"] == app.id
    assert sorted(pending["scopes"]) == ["deploy:manage", "points:spend"]


async def test_the_owner_asks_for_more_scopes(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)

    response = await client.post(
        f"/api/oauth/my-apps/{app.id}/scope-request",
        json={"scopes": ["app:balance:read"], "reason": "show the app its balance"},
        headers=owner.auth,
    )

    assert response.status == 201, await response.text()
    request = (await response.json())["scope_request"]
    assert {"id", "app_id", "scopes", "status", "reason", "inserted_at"} <= set(request)
    assert request["app_id"] == app.id
    assert request["scopes"] == ["app:balance:read"]
    assert request["status"] == "pending"
    assert request["reason"] == "show the app its balance"
    detail = await (await client.get(f"/api/oauth/my-apps/{app.id}", headers=owner.auth)).json()
    assert detail["app"]["is_approved"] is False
    assert detail["app"]["pending_scopes"] == ["app:balance:read"]


async def test_an_admin_approval_adds_the_scopes_and_approves_the_app(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    admin = await admin_person(client, settings.data_dir)
    app = await register_app(client, owner, requested_scopes=["profile:read", "points:spend"])
    queue = await client.get("/api/admin/scope-requests?status=pending", headers=admin.auth)
    assert queue.status == 200, await queue.text()
    [request] = [r for r in (await queue.json())["scope_requests"] if r["app_id"] == app.id]

    response = await client.post(
        f"/api/admin/scope-requests/{request['id']}/approve",
        json={"note": "fine"},
        headers=admin.auth,
    )

    assert response.status == 200, await response.text()
    decided = (await response.json())["scope_request"]
    assert decided["status"] == "approved"
    assert decided["decided_by"] == admin.user["id"]
    assert decided["decided_at"].endswith("Z")
    detail = await (await client.get(f"/api/oauth/my-apps/{app.id}", headers=owner.auth)).json()
    assert "points:spend" in detail["app"]["allowed_scopes"]
    assert detail["app"]["is_approved"] is True
    assert detail["app"]["pending_scopes"] == []
    queue = await client.get("/api/admin/scope-requests?status=pending", headers=admin.auth)
    assert request["id"] not in [r["id"] for r in (await queue.json())["scope_requests"]]
    tokens = await connect(client, owner, app, scope="profile:read points:spend")
    assert sorted(tokens["scope"].split()) == ["points:spend", "profile:read"]


async def test_an_admin_denial_leaves_the_scopes_out(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    admin = await admin_person(client, settings.data_dir)
    app = await register_app(client, owner, requested_scopes=["profile:read", "points:transfer"])
    requests = await client.get(f"/api/oauth/my-apps/{app.id}/scope-requests", headers=owner.auth)
    [request] = (await requests.json())["scope_requests"]

    response = await client.post(
        f"/api/admin/scope-requests/{request['id']}/deny", json={}, headers=admin.auth
    )

    assert response.status == 200, await response.text()
    decided = (await response.json())["scope_request"]
    assert decided["status"] == "denied"
    assert decided["decided_by"] == admin.user["id"]
    detail = await (await client.get(f"/api/oauth/my-apps/{app.id}", headers=owner.auth)).json()
    assert "points:transfer" not in detail["app"]["allowed_scopes"]
    assert detail["app"]["pending_scopes"] == []
    # Spec 5.1: approved while no request is pending and the app is not suspended.
    assert detail["app"]["is_approved"] is True


@pytest.mark.parametrize(
    ("first", "second"),
    [("approve", "approve"), ("approve", "deny"), ("deny", "approve"), ("deny", "deny")],
)
async def test_a_scope_request_is_decided_only_once(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    first: str,
    second: str,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    admin = await admin_person(client, settings.data_dir)
    app = await register_app(client, owner, requested_scopes=["app:balance:read"])
    requests = await client.get(f"/api/oauth/my-apps/{app.id}/scope-requests", headers=owner.auth)
    [request] = (await requests.json())["scope_requests"]
    base = f"/api/admin/scope-requests/{request['id']}"

    decided = await client.post(f"{base}/{first}", json={}, headers=admin.auth)
    again = await client.post(f"{base}/{second}", json={}, headers=admin.auth)

    assert decided.status == 200, await decided.text()
    assert again.status == 409
    assert (await again.json())["error"] == "conflict"
    detail = await (await client.get(f"/api/oauth/my-apps/{app.id}", headers=owner.auth)).json()
    assert ("app:balance:read" in detail["app"]["allowed_scopes"]) is (first == "approve")


async def test_only_admins_see_and_decide_scope_requests(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner, requested_scopes=["points:spend"])
    requests = await client.get(f"/api/oauth/my-apps/{app.id}/scope-requests", headers=owner.auth)
    [request] = (await requests.json())["scope_requests"]

    queue = await client.get("/api/admin/scope-requests?status=pending", headers=owner.auth)
    approve = await client.post(
        f"/api/admin/scope-requests/{request['id']}/approve", json={}, headers=owner.auth
    )

    assert queue.status == 403
    assert approve.status == 403
    assert (await approve.json())["error"] == "forbidden"
    detail = await (await client.get(f"/api/oauth/my-apps/{app.id}", headers=owner.auth)).json()
    assert "points:spend" not in detail["app"]["allowed_scopes"]


async def test_deciding_an_unknown_scope_request_is_not_found(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    admin = await admin_person(client, settings.data_dir)

    response = await client.post(
        "/api/admin/scope-requests/00000000-0000-4000-8000-000000000000/approve",
        json={},
        headers=admin.auth,
    )

    assert response.status == 404


async def test_a_fourth_app_within_the_hour_is_rate_limited(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    other = await verified_person(client, settings.data_dir)
    for n in range(3):
        await register_app(client, owner, app_name=f"App {n}")

    fourth = await post_app(client, owner, app_name="App 3")

    assert fourth.status == 429
    body = await fourth.json()
    assert body["error"] == "rate_limited"
    assert body["retry_after"] > 0
    assert int(fourth.headers["Retry-After"]) > 0
    listing = await client.get("/api/oauth/my-apps", headers=owner.auth)
    assert len((await listing.json())["apps"]) == 3
    # The limit is per user: someone else may still register.
    assert (await post_app(client, other)).status == 201


async def test_a_deleted_app_is_gone_and_cannot_start_a_grant(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)

    response = await client.delete(f"/api/oauth/my-apps/{app.id}", headers=owner.auth)

    assert response.status == 204
    listing = await client.get("/api/oauth/my-apps", headers=owner.auth)
    assert (await listing.json())["apps"] == []
    assert (await client.get(f"/api/oauth/my-apps/{app.id}", headers=owner.auth)).status == 404
    _, challenge = pkce_pair()
    attempt = await authorize(client, owner, app, challenge=challenge)
    assert attempt.status == 400
    assert "Location" not in attempt.headers


async def test_my_apps_pages_oldest_first(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    other = await verified_person(client, settings.data_dir)
    await seeded_apps(client, other, 1)
    made = [str(app.app_id) for app in await seeded_apps(client, owner, 52)]
    await assert_pages(client, "/api/oauth/my-apps", owner.auth, "apps", made)


async def test_an_apps_scope_requests_page_in_the_order_made(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app, other = await seeded_apps(client, owner, 2)
    made = []
    for n in range(52):
        for each in (app, other):  # the other app's requests are not this app's list
            ask = RequestScopes(UUID(owner.user["id"]), each.app_id, ["points:spend"], f"#{n}")
            asked = await services(client).bus.execute(ask)
            made += [str(asked)] if each is app else []
    path = f"/api/oauth/my-apps/{app.app_id}/scope-requests"
    await assert_pages(client, path, owner.auth, "scope_requests", made)


async def test_the_admin_queue_of_scope_requests_pages_with_an_opaque_cursor(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    admin = await admin_person(client, settings.data_dir)
    owner = await verified_person(client, settings.data_dir)
    [app] = await seeded_apps(client, owner, 1)
    made = []
    for n in range(52):
        ask = RequestScopes(UUID(owner.user["id"]), app.app_id, ["points:spend"], f"#{n}")
        made.append(str(await services(client).bus.execute(ask)))
    first = await page(client, "/api/admin/scope-requests?limit=1", admin.auth)

    assert not first["next_cursor"].isdigit()  # opaque, as every list's (spec section 1)
    await assert_pages(
        client, "/api/admin/scope-requests?status=pending", admin.auth, "scope_requests", made
    )
