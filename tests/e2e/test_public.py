"""The public directory (spec 7): operators of listed apps, and public app cards; no auth."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from http_api.settings import Settings
from tests.e2e.oauth_helpers import register_app, verified_person


async def test_operators_are_owners_of_listed_apps(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    ann = await verified_person(client, settings.data_dir)
    bob = await verified_person(client, settings.data_dir)
    listed = await register_app(client, ann, app_name="Listed")
    await register_app(client, ann, app_name="Unlisted")
    await register_app(client, bob, app_name="Bob's")
    response = await client.get("/api/public/operators")
    assert response.status == 200
    assert await response.json() == {"operators": []}

    made_public = await client.put(
        f"/api/oauth/my-apps/{listed.id}", json={"listed": True}, headers=ann.auth
    )
    assert made_public.status == 200, await made_public.text()
    body = await (await client.get("/api/public/operators")).json()
    assert body == {
        "operators": [
            {
                "username": ann.username,
                "apps": [
                    {
                        "client_id": listed.client_id,
                        "app_name": "Listed",
                        "logo_url": "https://app.example/logo.png",
                        "website_url": "https://app.example/",
                    }
                ],
            }
        ]
    }
    deleted = await client.delete(f"/api/oauth/my-apps/{listed.id}", headers=ann.auth)
    assert deleted.status == 204
    assert await (await client.get("/api/public/operators")).json() == {"operators": []}


async def test_public_app_card(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    ann = await verified_person(client, settings.data_dir)
    app = await register_app(client, ann, app_name="Card")
    card = await client.get(f"/api/public/apps/{app.client_id}")
    assert card.status == 200
    same = await client.get(f"/api/oauth/apps/{app.client_id}")
    body = await card.json()
    assert body == await same.json()
    assert set(body["app"]) == {
        "client_id",
        "app_name",
        "app_description",
        "logo_url",
        "website_url",
        "allowed_scopes",
    }
    missing = await client.get("/api/public/apps/bc_nope")
    assert missing.status == 404
    assert (await missing.json())["error"] == "not_found"
