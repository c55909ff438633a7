"""The public directory (spec 7): operators of listed apps, and public app cards; no auth."""

from __future__ import annotations

import random
from typing import Any

from aiohttp.test_utils import TestClient

from commands.oauth import RegisterApp, UpdateApp
from commands.users import RegisterUser
from http_api.keys import SERVICES
from http_api.settings import Settings
from tests.e2e.helpers import PASSWORD
from tests.e2e.oauth_helpers import AUTO_SCOPES, REDIRECT_URI, register_app, verified_person
from tests.e2e.paging_helpers import assert_pages


def by_username(row: dict[str, Any]) -> Any:
    return row["username"]


async def test_operators_are_owners_of_listed_apps(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    ann = await verified_person(client, settings.data_dir)
    bob = await verified_person(client, settings.data_dir)
    listed = await register_app(client, ann, app_name="Listed")
    await register_app(client, ann, app_name="Unlisted")
    await register_app(client, bob, app_name="Bob's")
    response = await client.get("/api/public/operators")
    assert response.status == 200
    assert await response.json() == {"operators": [], "next_cursor": None}

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
        ],
        "next_cursor": None,
    }
    deleted = await client.delete(f"/api/oauth/my-apps/{listed.id}", headers=ann.auth)
    assert deleted.status == 204
    empty = {"operators": [], "next_cursor": None}
    assert await (await client.get("/api/public/operators")).json() == empty


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


async def test_operators_page_by_username_in_any_case(
    client: TestClient, settings: Settings
) -> None:  # type: ignore[type-arg]
    bus, made = client.server.app[SERVICES].bus, []
    codes = [f"op{chr(97 + n // 26)}{chr(97 + n % 26)}" for n in range(53)]
    random.Random(7).shuffle(codes)
    for n, code in enumerate(codes):
        name = code.upper() if n % 3 == 0 else code
        owner = (await bus.execute(RegisterUser(f"{code}@example.com", name, PASSWORD))).user_id
        details = {"app_name": name, "redirect_uris": [REDIRECT_URI]}
        for _ in range(1 + n % 2):  # some operators have two apps
            app = (await bus.execute(RegisterApp(owner, details, list(AUTO_SCOPES)))).app_id
            if n:  # the first owner's apps stay unlisted: not an operator
                await bus.execute(UpdateApp(owner, app, {"listed": True}))
        made += [name] if n else []
    expected = sorted(made, key=str.casefold)
    await assert_pages(client, "/api/public/operators", {}, "operators", expected, by_username)
    first = await (await client.get("/api/public/operators?limit=2")).json()
    assert [len(o["apps"]) for o in first["operators"]] == [
        1 + codes.index(name.lower()) % 2 for name in expected[:2]
    ]
