"""Deployments over HTTP (spec 6.4): tiers, create with its rules and first month's charge,
uniqueness of subdomains, and who may call."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import pytest

from commands.deployments import MoveDeployment
from http_api.settings import Settings
from tests.e2e.auth_helpers import services
from tests.e2e.deploy_helpers import IMAGE, deploy_client, operator
from tests.e2e.oauth_helpers import bearer, connect, register_app, verified_person
from tests.e2e.paging_helpers import assert_pages, page


async def test_tiers_and_health_name_the_runtime(settings: Settings, aiohttp_client: Any) -> None:
    client = await deploy_client(settings, aiohttp_client)
    app = await operator(client, settings)
    response = await client.get("/api/deploy/tiers", headers=app.auth)
    assert response.status == 200
    tiers = {tier["slug"]: tier for tier in (await response.json())["tiers"]}
    assert tiers["starter"]["monthly_cost_points"] == 500
    assert tiers["starter"]["payment_method"] == "buddo_points"
    assert tiers["pro"]["monthly_cost_points"] == 2_000
    assert any(tier["payment_method"] == "bitcoin" for tier in tiers.values())
    assert set(tiers["pro"]) == {
        "id",
        "slug",
        "name",
        "payment_method",
        "monthly_cost_points",
        "monthly_cost_sats",
        "cpu_limit_millicores",
        "memory_limit_mb",
    }
    health = await (await client.get("/health")).json()
    assert health["runtime"] == "simulated"


async def test_create_charges_the_first_month_and_comes_up(
    settings: Settings, aiohttp_client: Any
) -> None:
    client = await deploy_client(settings, aiohttp_client)
    app = await operator(client, settings, points=600)
    deployment = await app.created(
        subdomain="My-App", env_vars={"GREETING": "hi", "SECRET_TOKEN": "s3cret"}, port=8080
    )
    assert deployment["status"] == "pending"
    assert deployment["subdomain"] == "my-app"
    assert deployment["container_image"] == IMAGE
    assert deployment["app_id"] == app.connected.app.id
    assert deployment["billing_status"] == "paid"
    assert deployment["cpu_limit_millicores"] == 250
    assert deployment["env_var_names"] == ["GREETING", "SECRET_TOKEN"]
    assert "s3cret" not in str(deployment)
    assert await app.balance() == 100
    status = await app.wait_for(deployment["id"], "running")
    assert status["health_status"] == "healthy"
    assert status["last_health_check"] is not None
    shown = (await app.get(deployment["id"]))["deployment"]
    assert shown["deployed_at"] is not None
    logs = (await app.get(deployment["id"], "/logs"))["logs"]
    assert logs
    assert {"at", "stream", "line"} == set(logs[0])
    assert any("simulated" in entry["line"] for entry in logs)
    listed = await client.get("/api/deploy/apps", headers=app.auth)
    assert [d["id"] for d in (await listed.json())["deployments"]] == [deployment["id"]]


async def test_the_list_pages_newest_first_with_an_opaque_cursor(
    settings: Settings, aiohttp_client: Any
) -> None:
    client = await deploy_client(settings, aiohttp_client)
    app = await operator(client, settings)
    made = [(await app.created(subdomain=f"paged-{n}", tier="btc-basic"))["id"] for n in range(3)]
    seen, cursor, pages = [], None, 0
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        response = await client.get(f"/api/deploy/apps{query}", headers=app.auth)
        assert response.status == 200, await response.text()
        page = await response.json()
        assert len(page["deployments"]) <= 2
        seen += [d["id"] for d in page["deployments"]]
        pages += 1
        if (cursor := page["next_cursor"]) is None:
            break
    assert (seen, pages) == (made[::-1], 2)
    whole = await (await client.get("/api/deploy/apps", headers=app.auth)).json()
    assert whole["next_cursor"] is None
    for bad in ("limit=0", "limit=201", "cursor=not-ours"):
        response = await client.get(f"/api/deploy/apps?{bad}", headers=app.auth)
        assert response.status == 422, bad


async def test_the_logs_page_oldest_first(settings: Settings, aiohttp_client: Any) -> None:
    client = await deploy_client(settings, aiohttp_client, step_seconds=3_600.0)  # stays pending
    app = await operator(client, settings)
    deployment_id = (await app.created(tier="btc-basic"))["id"]
    logs = f"/api/deploy/apps/{deployment_id}/logs"
    before = (await page(client, f"{logs}?limit=200", app.auth))["logs"]
    written = tuple(("stdout", f"line {n}") for n in range(60 - len(before)))
    move = MoveDeployment(UUID(app.connected.app.id), UUID(deployment_id), "destroy", written)
    await services(client).bus.execute(move)
    expected = [(row["stream"], row["line"]) for row in before] + list(written)
    await assert_pages(client, logs, app.auth, "logs", expected, lambda r: (r["stream"], r["line"]))


async def test_short_of_points_creates_nothing(settings: Settings, aiohttp_client: Any) -> None:
    client = await deploy_client(settings, aiohttp_client)
    app = await operator(client, settings, points=499)
    refused = await app.create(subdomain="too-poor")
    assert refused.status == 422
    body = await refused.json()
    assert body["error"] == "insufficient_points"
    assert body["balance"] == 499
    listed = await client.get("/api/deploy/apps", headers=app.auth)
    assert (await listed.json())["deployments"] == []
    assert await app.balance() == 499
    await app.fund(1)
    assert (await app.create(subdomain="too-poor")).status == 201  # the subdomain stayed free


async def test_bitcoin_tier_charges_no_points(settings: Settings, aiohttp_client: Any) -> None:
    client = await deploy_client(settings, aiohttp_client)
    app = await operator(client, settings)
    deployment = await app.created(tier="btc-basic", subdomain="sats-app")
    assert deployment["billing_status"] == "awaiting_payment"
    assert await app.balance() == 0


async def test_create_refusals(settings: Settings, aiohttp_client: Any) -> None:
    client = await deploy_client(settings, aiohttp_client)
    app = await operator(client, settings, points=10_000)
    bad: list[dict[str, Any]] = [
        {"image": "quay.io/evil/miner"},
        {"image": "docker.io/someone/thing"},
        {"image": "ghcr.io/"},
        {"subdomain": "ab"},
        {"subdomain": "x" * 64},
        {"subdomain": "-leading"},
        {"subdomain": "trailing-"},
        {"subdomain": "under_score"},
        {"subdomain": "dot.ted"},
        {"tier": "platinum"},
        {"port": 0},
        {"port": "80"},
        {"env_vars": {f"KEY_{n}": "v" for n in range(51)}},
        {"env_vars": {"1BAD": "v"}},
        {"env_vars": {"NUMBER": 5}},
        {"custom_domain": "not a domain"},
    ]
    for fields in bad:
        refused = await app.create(**fields)
        assert refused.status == 422, (fields, await refused.text())
    fifty = {f"KEY_{n}": "v" for n in range(50)}
    assert (await app.create(env_vars=fifty, custom_domain="app.example.com")).status == 201
    taken = await app.create()
    assert taken.status == 409
    assert await app.balance() == 10_000 - 500


async def test_two_concurrent_creates_of_one_subdomain(
    settings: Settings, aiohttp_client: Any
) -> None:
    client = await deploy_client(settings, aiohttp_client)
    first = await operator(client, settings, points=1_000)
    second = await operator(client, settings, points=1_000)
    answers = await asyncio.gather(
        first.create(subdomain="contested"),
        second.create(subdomain="contested"),
        first.create(subdomain="contested"),
    )
    assert sorted(answer.status for answer in answers) == [201, 409, 409]
    assert sorted([await first.balance(), await second.balance()]) == [500, 1_000]


async def test_idempotency_key_replays_the_create(settings: Settings, aiohttp_client: Any) -> None:
    client = await deploy_client(settings, aiohttp_client)
    app = await operator(client, settings, points=2_000)
    body = {"image": IMAGE, "subdomain": "keyed", "tier": "starter"}
    headers = {**app.auth, "Idempotency-Key": "create-1"}
    first = await client.post("/api/deploy/apps", json=body, headers=headers)
    again = await client.post("/api/deploy/apps", json=body, headers=headers)
    assert (first.status, again.status) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    ids = {(await r.json())["deployment"]["id"] for r in (first, again)}
    assert len(ids) == 1
    assert await app.balance() == 1_500
    other = await client.post(
        "/api/deploy/apps", json={**body, "subdomain": "other"}, headers=headers
    )
    assert other.status == 409


@pytest.mark.parametrize(("tier", "other_tier"), [("starter", "btc-basic"), ("btc-basic", "pro")])
async def test_a_key_reused_for_another_request_is_an_idempotency_conflict(
    settings: Settings, aiohttp_client: Any, tier: str, other_tier: str
) -> None:
    client = await deploy_client(settings, aiohttp_client)
    app = await operator(client, settings, points=5_000)
    body = {"image": IMAGE, "subdomain": "keyed", "tier": tier}
    headers = {**app.auth, "Idempotency-Key": "create-1"}
    first = await client.post("/api/deploy/apps", json=body, headers=headers)
    assert first.status == 201, await first.text()
    for changed in (
        {"image": "ghcr.io/buddo/other:2.0"},
        {"tier": other_tier},
        {"port": 8080},
        {"env_vars": {"EXTRA": "1"}},
        {"custom_domain": "app.example.com"},
        {"subdomain": "other"},
    ):
        response = await client.post("/api/deploy/apps", json=body | changed, headers=headers)
        assert response.status == 409, changed
        assert (await response.json())["error"] == "idempotency_conflict", changed
    again = await client.post("/api/deploy/apps", json=body, headers=headers)
    assert (again.status, again.headers["Idempotent-Replayed"]) == (201, "true")
    listed = await (await client.get("/api/deploy/apps", headers=app.auth)).json()
    assert [d["id"] for d in listed["deployments"]] == [(await first.json())["deployment"]["id"]]


async def test_a_replayed_create_answers_the_first_response_unchanged(
    settings: Settings, aiohttp_client: Any
) -> None:
    client = await deploy_client(settings, aiohttp_client)
    app = await operator(client, settings, points=600)
    body = {"image": IMAGE, "subdomain": "replayed", "tier": "starter"}
    headers = {**app.auth, "Idempotency-Key": "create-once"}
    first = await client.post("/api/deploy/apps", json=body, headers=headers)
    assert first.status == 201, await first.text()
    shown = await first.json()
    await app.wait_for(shown["deployment"]["id"], "running")
    again = await client.post("/api/deploy/apps", json=body, headers=headers)
    assert (again.status, again.headers["Idempotent-Replayed"]) == (201, "true")
    assert await again.json() == shown  # "pending", as first answered, not the status now
    assert await app.balance() == 100


async def test_who_may_call(settings: Settings, aiohttp_client: Any) -> None:
    client = await deploy_client(settings, aiohttp_client)
    app = await operator(client, settings, points=500)
    deployment = await app.created()
    stranger = await operator(client, settings)
    for suffix in ("", "/status", "/logs"):
        hidden = await client.get(
            f"/api/deploy/apps/{deployment['id']}{suffix}", headers=stranger.auth
        )
        assert hidden.status == 404
    assert (await stranger.control(deployment["id"], "stop")).status == 404
    assert (await client.get("/api/deploy/apps")).status == 401
    person = app.connected.user
    jwt = await client.get("/api/deploy/apps", headers=person.auth)
    assert (jwt.status, (await jwt.json())["error"]) == (401, "wrong_token_type")
    owner = await verified_person(client, settings.data_dir)
    plain = await register_app(client, owner)
    tokens = await connect(client, owner, plain)
    scoped = await client.get("/api/deploy/apps", headers=bearer(tokens["access_token"]))
    assert (scoped.status, (await scoped.json())["error"]) == (403, "insufficient_scope")


async def test_documented_rate_limits(settings: Settings, aiohttp_client: Any) -> None:
    client = await deploy_client(settings, aiohttp_client, limits={})
    app = await operator(client, settings)
    for _ in range(30):
        listed = await client.get("/api/deploy/apps", headers=app.auth)
        assert listed.status == 200
    over = await client.get("/api/deploy/apps", headers=app.auth)
    assert over.status == 429
    assert "Retry-After" in over.headers
    for _ in range(10):
        assert (await app.create(image="nope")).status == 422
    assert (await app.create()).status == 429
