"""Hostile input, table-driven over every endpoint that moves points: each malformed request
is a 4xx with the error JSON (never a 5xx), and afterwards every balance is what it was."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient

from http_api.keys import SERVICES
from http_api.settings import Settings
from tests.e2e.deploy_helpers import IMAGE, deploy_client
from tests.e2e.oauth_helpers import verified_person
from tests.e2e.points_helpers import Connected, connected_user

WRONG_TYPES: list[Any] = [None, True, 1.5, "7", [], {}, 7, [1], {"a": 1}]
BAD_STRINGS = [
    "nul\x00byte",
    "lone \ud800 surrogate",
    "bidi \u202e override",
    "non\ufffecharacter",
    "bell\x07",
    "x" * 5_000,
]
BAD_INTEGERS: list[Any] = [0, -1, 10**30, 2**63, -(2**63), 1e3]
NULLABLE = frozenset({"creative_url"})  # null is a valid value of these fields
DEEP = ("[" * 200 + "]" * 200).encode()
RAW_BODIES: list[tuple[bytes, str]] = [
    (b"", "application/json"),
    (b"{", "application/json"),
    (b"not json", "application/json"),
    (b"[]", "application/json"),
    (b"null", "application/json"),
    (b'"text"', "application/json"),
    (b'{"amount": NaN}', "application/json"),
    (b'{"amount": Infinity}', "application/json"),
    (b'{"a": "\xff\xfe"}', "application/json"),
    (b'{"a": ' + DEEP + b"}", "application/json"),
    (b"\xef\xbb\xbf{}", "application/json"),
    (b"{}", "text/plain"),
    (b"{}", "application/xml"),
    (b"amount=5", "application/x-www-form-urlencoded"),
    (b"{" + b" " * 70_000 + b"}", "application/json"),  # over 64 KiB: 413
]


@dataclass(frozen=True)
class MoneyEndpoint:
    """An endpoint that moves points, a valid body for it, and which fields it requires."""

    path: str
    valid: dict[str, Any]
    required: frozenset[str]
    as_admin: bool = False


def variants(endpoint: MoneyEndpoint) -> list[dict[str, Any]]:
    """The valid body broken one field at a time, plus an unknown field."""
    bodies: list[dict[str, Any]] = [{**endpoint.valid, "unknown_field": 1}]
    for name, good in endpoint.valid.items():
        if name in endpoint.required:
            bodies.append({k: v for k, v in endpoint.valid.items() if k != name})
        wrong = [v for v in WRONG_TYPES if type(v) is not type(good)]
        if isinstance(good, str):
            wrong += BAD_STRINGS
        if isinstance(good, int):
            wrong += BAD_INTEGERS
        if isinstance(good, dict):
            wrong += [{"k": "\x00"}, {"k": {"nested": 1}}, {f"k{n}": n for n in range(200)}]
        bodies.extend(
            {**endpoint.valid, name: value}
            for value in wrong
            if not (value is None and name in NULLABLE)
            and not (type(value) is type(good) and value == good)
        )
    return bodies


async def balances(client: TestClient) -> dict[str, int]:  # type: ignore[type-arg]
    rows = await client.server.app[SERVICES].reads.fetch_all(
        "SELECT account, balance FROM balances"
    )
    return {row["account"]: int(row["balance"]) for row in rows}


async def assert_refused(response: Any, what: object) -> None:
    text = await response.text()
    assert 400 <= response.status < 500, (response.status, what, text[:300])
    assert response.content_type == "application/json", (what, text[:300])
    body = json.loads(text)
    assert isinstance(body.get("error"), str), (what, body)
    assert isinstance(body.get("message"), str), (what, body)
    assert "Traceback" not in text
    assert "SELECT" not in text


async def money_world(client: TestClient) -> tuple[Connected, list[MoneyEndpoint]]:  # type: ignore[type-arg]
    data_dir = client.server.app[SERVICES].settings.data_dir
    world = await connected_user(client, data_dir)
    other = await verified_person(client, data_dir)
    await world.grant(world.user, 1_000_000)
    funded = await client.post(
        "/api/admin/points/grant",
        json={"app_id": world.app.id, "amount": 1_000_000, "reason": "test"},
        headers=world.admin.auth,
    )
    assert funded.status == 201, await funded.text()
    user_id = world.user.user["id"]
    campaign = {
        "advertiser_user_id": user_id,
        "name": "Spring sale",
        "surface_type": "banner",
        "payout_rate": 5,
        "user_reward": 0,
        "budget": 1_000,
    }
    launched = await client.post(
        "/api/admin/ads/campaigns", json=campaign, headers=world.admin.auth
    )
    assert launched.status == 201, await launched.text()
    campaign_id = (await launched.json())["campaign"]["id"]
    endpoints = [
        MoneyEndpoint(
            "/api/external/points/spend",
            {"amount": 5, "description": "d", "metadata": {"k": "v"}},
            frozenset({"amount"}),
        ),
        MoneyEndpoint(
            "/api/external/points/transfer",
            {"to_user_id": other.user["id"], "amount": 5, "note": "n"},
            frozenset({"amount"}),
        ),
        MoneyEndpoint(
            "/api/admin/points/grant",
            {"user_id": user_id, "amount": 5, "reason": "r"},
            frozenset({"amount", "reason"}),
            as_admin=True,
        ),
        MoneyEndpoint(
            "/api/admin/ads/campaigns",
            {**campaign, "creative_url": "https://ads.example/a.png"},
            frozenset(campaign),
            as_admin=True,
        ),
        MoneyEndpoint(
            "/api/external/ads/event",
            {"campaign_id": campaign_id, "event_type": "click", "surface_type": "banner"},
            frozenset({"campaign_id", "event_type"}),
        ),
        MoneyEndpoint(
            "/api/deploy/apps",
            {"image": IMAGE, "subdomain": "hostile", "tier": "starter", "port": 8080},
            frozenset({"image", "subdomain", "tier"}),
        ),
    ]
    return world, endpoints


async def test_hostile_bodies_to_money_endpoints_are_4xx_and_move_nothing(
    settings: Settings,
    aiohttp_client: Any,
) -> None:
    client = await deploy_client(settings, aiohttp_client)
    world, endpoints = await money_world(client)
    before = await balances(client)
    for endpoint in endpoints:
        auth = world.admin.auth if endpoint.as_admin else world.auth
        for raw, content_type in RAW_BODIES:
            headers = {**auth, "Content-Type": content_type}
            response = await client.post(endpoint.path, data=raw, headers=headers)
            await assert_refused(response, (endpoint.path, raw[:40], content_type))
        for body in variants(endpoint):
            response = await client.post(endpoint.path, json=body, headers=auth)
            await assert_refused(response, (endpoint.path, body))
        too_large = await client.post(
            endpoint.path, json={**endpoint.valid, "pad": "x" * 70_000}, headers=auth
        )
        assert too_large.status == 413
        assert (await too_large.json())["error"] == "payload_too_large"
    assert await balances(client) == before


async def test_malformed_paths_and_repeated_queries_are_4xx(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    admin = world.admin.auth
    for path, headers in [
        ("/api/admin/ads/campaigns/not-a-uuid", admin),
        ("/api/admin/ads/campaigns/%00", admin),
        ("/api/deploy/apps/..%2F..%2Fetc", world.auth),
        ("/api/deploy/apps/" + "9" * 5000, world.auth),
        ("/api/oauth/apps/%E2%80%AE", {}),
        ("/api/external/points/history?limit=1&limit=2", world.auth),
        ("/api/external/points/history?limit=-1", world.auth),
        ("/api/external/points/history?limit=abc", world.auth),
        ("/api/external/points/history?cursor=%00", world.auth),
        ("/api/admin/audit/events?after=1&after=2", admin),
    ]:
        response = await client.get(path, headers=headers)
        await assert_refused(response, path)
