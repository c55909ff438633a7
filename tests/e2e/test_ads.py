"""Ads over real HTTP with real OAuth tokens: funding with the rake, serving, paid events."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from aiohttp.test_utils import TestClient

from http_api.keys import SERVICES
from http_api.settings import Settings
from tests.e2e.helpers import Person
from tests.e2e.oauth_helpers import bearer, connect, verified_person
from tests.e2e.points_helpers import Connected, connected_user

CAMPAIGNS = "/api/admin/ads/campaigns"
SERVE = "/api/external/ads/serve"
EVENT = "/api/external/ads/event"


async def balances(client: TestClient) -> dict[str, int]:  # type: ignore[type-arg]
    """Every account's balance, read from the balances read model."""
    rows = await client.server.app[SERVICES].reads.fetch_all(
        "SELECT account, balance FROM balances"
    )
    return {row["account"]: int(row["balance"]) for row in rows}


async def assert_books_balance(client: TestClient) -> None:  # type: ignore[type-arg]
    assert sum((await balances(client)).values()) == 0


async def launch(world: Connected, advertiser: Person, **fields: Any) -> dict[str, Any]:
    """A campaign launched by the world's admin (201 expected)."""
    response = await post_campaign(world, advertiser, **fields)
    assert response.status == 201, await response.text()
    campaign: dict[str, Any] = (await response.json())["campaign"]
    return campaign


async def post_campaign(
    world: Connected, advertiser: Person, headers: dict[str, str] | None = None, **fields: Any
) -> Any:
    body = {
        "advertiser_user_id": advertiser.user["id"],
        "name": "Spring sale",
        "surface_type": "banner",
        "payout_rate": 5,
        "user_reward": 0,
        "budget": 1_000,
        **fields,
    }
    return await world.client.post(
        CAMPAIGNS, json=body, headers={**world.admin.auth, **(headers or {})}
    )


async def report(
    world: Connected, campaign_id: str, event_type: str, **fields: Any
) -> dict[str, Any]:
    """An ad event the world's app reports for its user (201 expected)."""
    response = await world.client.post(
        EVENT,
        json={"campaign_id": campaign_id, "event_type": event_type, **fields},
        headers=world.auth,
    )
    assert response.status == 201, await response.text()
    event: dict[str, Any] = (await response.json())["event"]
    return event


async def served(world: Connected, surface: str) -> dict[str, Any]:
    response = await world.client.get(SERVE, params={"surface_type": surface}, headers=world.auth)
    assert response.status == 200, await response.text()
    campaign: dict[str, Any] = (await response.json())["campaign"]
    return campaign


async def campaign_now(world: Connected, campaign_id: str) -> dict[str, Any]:
    response = await world.client.get(f"{CAMPAIGNS}/{campaign_id}", headers=world.admin.auth)
    assert response.status == 200, await response.text()
    campaign: dict[str, Any] = (await response.json())["campaign"]
    return campaign


async def test_funding_takes_a_tenth_as_rake_in_one_entry(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    advertiser = await verified_person(client, settings.data_dir)
    await world.grant(advertiser, 1_500)

    campaign = await launch(
        world,
        advertiser,
        budget=1_005,
        bitcoin_tier="sats-1",
        creative_url="https://ads.example/a.png",
    )

    assert campaign["budget"] == 905  # 1005 - 100 rake
    assert (campaign["spent"], campaign["status"]) == (0, "active")
    assert campaign["advertiser_user_id"] == advertiser.user["id"]
    assert (campaign["bitcoin_tier"], campaign["creative_url"]) == (
        "sats-1",
        "https://ads.example/a.png",
    )
    books = await balances(client)
    assert books[f"user:{advertiser.user['id']}"] == 495
    assert books["revenue"] == 100
    assert books[f"campaign:{campaign['id']}"] == 905
    assert await campaign_now(world, campaign["id"]) == campaign
    postings = await client.server.app[SERVICES].reads.fetch_all(
        "SELECT account, entry_id, kind, delta FROM account_history WHERE kind = %s",
        ("campaign_funding",),
    )
    assert len({row["entry_id"] for row in postings}) == 1  # one entry, three postings
    assert sorted((row["account"], row["delta"]) for row in postings) == sorted(
        [
            (f"user:{advertiser.user['id']}", -1_005),
            ("revenue", 100),
            (f"campaign:{campaign['id']}", 905),
        ]
    )
    await assert_books_balance(client)


async def test_an_advertiser_short_of_points_is_refused_and_nothing_moves(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    advertiser = await verified_person(client, settings.data_dir)
    await world.grant(advertiser, 99)
    before = await balances(client)

    response = await post_campaign(world, advertiser, budget=100)

    assert response.status == 422
    body = await response.json()
    assert (body["error"], body["balance"]) == ("insufficient_points", 99)
    assert await balances(client) == before
    assert (
        await client.get(SERVE, params={"surface_type": "banner"}, headers=world.auth)
    ).status == 404
    rows = await client.server.app[SERVICES].reads.fetch_all("SELECT id FROM campaigns")
    assert rows == []


async def test_bad_campaign_requests_are_refused(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    advertiser = await verified_person(client, settings.data_dir)
    await world.grant(advertiser, 1_000)

    unknown = await post_campaign(
        world, Person(client, settings.data_dir, user={"id": world.app.id})
    )
    zero_rate = await post_campaign(world, advertiser, payout_rate=0)
    float_budget = await post_campaign(world, advertiser, budget=10.5)
    bad_surface = await post_campaign(world, advertiser, surface_type="billboard")
    bad_url = await post_campaign(world, advertiser, creative_url="javascript:alert(1)")
    by_a_user = await client.post(
        CAMPAIGNS, json={"advertiser_user_id": advertiser.user["id"]}, headers=advertiser.auth
    )
    with_oauth = await client.post(CAMPAIGNS, json={}, headers=world.auth)

    for response, field in [
        (unknown, "advertiser_user_id"),
        (zero_rate, "payout_rate"),
        (float_budget, "budget"),
        (bad_surface, "surface_type"),
        (bad_url, "creative_url"),
    ]:
        assert response.status == 422, await response.text()
        assert field in (await response.json())["fields"]
    assert by_a_user.status == 403
    assert with_oauth.status == 401
    assert (await with_oauth.json())["error"] == "wrong_token_type"
    assert (await balances(client))[f"user:{advertiser.user['id']}"] == 1_000


async def test_a_keyed_funding_replays_once_and_a_changed_body_conflicts(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    advertiser = await verified_person(client, settings.data_dir)
    await world.grant(advertiser, 1_000)
    key = {"Idempotency-Key": "campaign-1"}

    first = await post_campaign(world, advertiser, headers=key, budget=400)
    again = await post_campaign(world, advertiser, headers=key, budget=400)
    other = await post_campaign(world, advertiser, headers=key, budget=400, name="Other")

    assert (first.status, again.status, other.status) == (201, 201, 409)
    assert await first.json() == await again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert (await other.json())["error"] == "idempotency_conflict"
    assert (await balances(client))[f"user:{advertiser.user['id']}"] == 600
    await assert_books_balance(client)


async def test_serve_then_events_pay_the_app_and_one_serve_pays_one_impression(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    await world.grant(world.owner, 1_000)
    launched = await launch(world, world.owner, payout_rate=5, budget=1_000)
    app_account = f"app:{world.app.id}"

    ad = await served(world, "banner")
    first = await report(world, ad["id"], "impression", serve_id=ad["serve_id"])
    second = await report(world, ad["id"], "impression", serve_id=ad["serve_id"])
    click = await report(world, ad["id"], "click", serve_id=ad["serve_id"])

    assert ad["id"] == launched["id"]
    assert set(ad) == {
        "id",
        "name",
        "surface_type",
        "creative_url",
        "payout_rate",
        "user_reward",
        "bitcoin_tier",
        "serve_id",
    }
    assert (first["payout_rate_snapshot"], second["payout_rate_snapshot"]) == (5, 0)
    assert click["payout_rate_snapshot"] == 5
    assert (first["event_type"], first["surface_type"], first["campaign_id"]) == (
        "impression",
        "banner",
        launched["id"],
    )
    books = await balances(client)
    assert books[app_account] == 10
    assert books[f"campaign:{launched['id']}"] == 890
    assert (await campaign_now(world, launched["id"]))["spent"] == 10
    await assert_books_balance(client)


async def test_a_rewarded_impression_pays_the_viewer_and_analytics_count_it(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    await world.grant(world.owner, 1_000)
    launched = await launch(
        world, world.owner, surface_type="rewarded", payout_rate=4, user_reward=3
    )
    before = await world.balance()

    ad = await served(world, "rewarded")
    await report(world, ad["id"], "impression", serve_id=ad["serve_id"], surface_type="rewarded")
    await report(world, ad["id"], "click", serve_id=ad["serve_id"], surface_type="rewarded")

    assert (ad["payout_rate"], ad["user_reward"]) == (4, 3)
    assert await world.balance() == before + 3
    books = await balances(client)
    assert books[f"app:{world.app.id}"] == 8
    assert books[f"campaign:{launched['id']}"] == 900 - 11
    rows = await client.server.app[SERVICES].reads.fetch_all(
        "SELECT awards, ad_impressions, ad_clicks FROM app_daily WHERE app_id = %s", (world.app.id,)
    )
    assert [(r["awards"], r["ad_impressions"], r["ad_clicks"]) for r in rows] == [(3, 1, 1)]
    await assert_books_balance(client)


async def test_a_serve_of_another_user_or_campaign_is_refused(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    await world.grant(world.owner, 1_000)
    first = await launch(world, world.owner, budget=500)
    second = await launch(world, world.owner, budget=400)
    other_user = await verified_person(client, settings.data_dir)
    other_tokens = await connect(client, other_user, world.app, scope="profile:read")
    ad = await served(world, "banner")
    assert ad["id"] == first["id"]  # the most budget left is served

    foreign = await client.post(
        EVENT,
        json={"campaign_id": ad["id"], "event_type": "impression", "serve_id": ad["serve_id"]},
        headers=bearer(other_tokens["access_token"]),
    )
    wrong_campaign = await client.post(
        EVENT,
        json={"campaign_id": second["id"], "event_type": "impression", "serve_id": ad["serve_id"]},
        headers=world.auth,
    )
    unknown = await client.post(
        EVENT, json={"campaign_id": world.app.id, "event_type": "click"}, headers=world.auth
    )

    assert (foreign.status, wrong_campaign.status, unknown.status) == (422, 422, 404)
    assert "serve_id" in (await foreign.json())["fields"]
    assert f"app:{world.app.id}" not in await balances(client)


async def test_the_sixty_first_paid_event_of_an_hour_is_unpaid(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    await world.grant(world.owner, 1_000)
    launched = await launch(world, world.owner, payout_rate=1, budget=1_000)

    events = [await report(world, launched["id"], "click") for _ in range(61)]

    # The cap counts per UTC clock hour: group by the hour each event was recorded in.
    hours = Counter(event["inserted_at"][:13] for event in events)
    paid = [event["payout_rate_snapshot"] for event in events]
    assert set(paid) == {0, 1}
    assert sum(paid) == sum(min(count, 60) for count in hours.values())
    if len(hours) == 1:
        assert paid == [1] * 60 + [0]
    assert (await balances(client))[f"app:{world.app.id}"] == sum(paid)
    await assert_books_balance(client)


async def test_an_exhausted_campaign_is_no_longer_served_and_pays_nothing(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    await world.grant(world.owner, 100)
    launched = await launch(world, world.owner, surface_type="video", payout_rate=5, budget=20)
    assert launched["budget"] == 18

    snapshots = [
        (await report(world, launched["id"], "click"))["payout_rate_snapshot"] for _ in range(4)
    ]
    missing = await client.get(SERVE, params={"surface_type": "video"}, headers=world.auth)

    assert snapshots == [5, 5, 5, 0]
    assert missing.status == 404
    assert (await missing.json())["error"] == "not_found"
    now = await campaign_now(world, launched["id"])
    assert (now["status"], now["spent"], now["budget"]) == ("exhausted", 15, 18)
    assert (await balances(client))[f"campaign:{launched['id']}"] == 3
    await assert_books_balance(client)


async def test_ads_need_an_oauth_token_with_profile_read(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir, scopes=frozenset({"points:read"}))
    await world.grant(world.owner, 1_000)
    launched = await launch(world, world.owner)

    no_scope = await client.get(SERVE, headers=world.auth)
    no_scope_event = await client.post(
        EVENT, json={"campaign_id": launched["id"], "event_type": "click"}, headers=world.auth
    )
    with_jwt = await client.get(SERVE, headers=world.user.auth)
    bad_surface = await client.get(SERVE, params={"surface_type": "billboard"}, headers=world.auth)

    for response in (no_scope, no_scope_event):
        assert response.status == 403
        body = await response.json()
        assert (body["error"], body["required_scope"]) == ("insufficient_scope", "profile:read")
    assert with_jwt.status == 401
    assert (await with_jwt.json())["error"] == "wrong_token_type"
    assert bad_surface.status == 403  # the scope is checked before anything else


async def test_a_keyed_event_is_paid_once_and_a_changed_body_conflicts(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    await world.grant(world.owner, 1_000)
    launched = await launch(world, world.owner, payout_rate=5)
    headers = {**world.auth, "Idempotency-Key": "event-1"}
    body = {"campaign_id": launched["id"], "event_type": "click"}

    first = await client.post(EVENT, json=body, headers=headers)
    again = await client.post(EVENT, json=body, headers=headers)
    other = await client.post(EVENT, json={**body, "event_type": "impression"}, headers=headers)

    assert (first.status, again.status, other.status) == (201, 201, 409)
    assert await first.json() == await again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await other.json())["error"] == "idempotency_conflict"
    assert (await balances(client))[f"app:{world.app.id}"] == 5


async def test_concurrent_impressions_of_one_serve_pay_once(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world = await connected_user(client, settings.data_dir)
    await world.grant(world.owner, 1_000)
    launched = await launch(world, world.owner, payout_rate=5)
    ad = await served(world, "banner")

    events = await asyncio.gather(
        *(report(world, launched["id"], "impression", serve_id=ad["serve_id"]) for _ in range(8))
    )

    assert sorted(event["payout_rate_snapshot"] for event in events) == [0] * 7 + [5]
    assert (await balances(client))[f"app:{world.app.id}"] == 5
    await assert_books_balance(client)


async def advertised(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    **fields: Any,
) -> tuple[Connected, Person, dict[str, Any]]:
    """A connected user's world, an advertiser granted 1,000 points, and their campaign."""
    world = await connected_user(client, settings.data_dir)
    advertiser = await verified_person(client, settings.data_dir)
    await world.grant(advertiser, 1_000)
    return world, advertiser, await launch(world, advertiser, **fields)


async def close(world: Connected, campaign_id: str, key: str | None = None) -> Any:
    headers = {**world.admin.auth, **({"Idempotency-Key": key} if key else {})}
    return await world.client.post(f"{CAMPAIGNS}/{campaign_id}/close", headers=headers)


async def refund_postings(client: TestClient) -> list[Any]:  # type: ignore[type-arg]
    """Every posting of a `campaign_refund` entry, from the history read model."""
    rows: list[Any] = await client.server.app[SERVICES].reads.fetch_all(
        "SELECT account, entry_id, delta FROM account_history WHERE kind = %s",
        ("campaign_refund",),
    )
    return rows


async def test_closing_gives_what_is_left_back_to_the_advertiser_in_one_entry(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world, advertiser, campaign = await advertised(client, settings, payout_rate=7)  # 900 left
    for _ in range(3):
        assert (await report(world, campaign["id"], "click"))["payout_rate_snapshot"] == 7
    app_before = (await balances(client))[f"app:{world.app.id}"]

    response = await close(world, campaign["id"])

    assert response.status == 200, await response.text()
    closed = (await response.json())["campaign"]
    assert (closed["status"], closed["refunded"], closed["spent"]) == ("closed", 879, 21)
    assert closed["closed_at"] is not None
    assert await campaign_now(world, campaign["id"]) == closed
    books = await balances(client)
    assert books[f"campaign:{campaign['id']}"] == 0
    assert books[f"user:{advertiser.user['id']}"] == 879
    assert books[f"app:{world.app.id}"] == app_before
    refunds = await refund_postings(client)
    assert len({row["entry_id"] for row in refunds}) == 1
    assert sorted((row["account"], row["delta"]) for row in refunds) == sorted(
        [(f"campaign:{campaign['id']}", -879), (f"user:{advertiser.user['id']}", 879)]
    )
    await assert_books_balance(client)


async def test_closing_a_spent_campaign_closes_it_and_moves_nothing(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world, _, campaign = await advertised(client, settings, payout_rate=900)  # 900 left
    assert (await report(world, campaign["id"], "click"))["payout_rate_snapshot"] == 900
    before = await balances(client)

    response = await world.client.post(
        f"{CAMPAIGNS}/{campaign['id']}/close", json={}, headers=world.admin.auth
    )

    assert response.status == 200, await response.text()
    closed = (await response.json())["campaign"]
    assert (closed["status"], closed["refunded"], closed["spent"]) == ("closed", 0, 900)
    assert closed["closed_at"] is not None
    assert await balances(client) == before
    assert await refund_postings(client) == []


async def test_a_closed_campaign_is_not_served_and_pays_nothing(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world, _, campaign = await advertised(client, settings, surface_type="native")
    assert (await close(world, campaign["id"])).status == 200
    app_before = (await balances(client)).get(f"app:{world.app.id}", 0)

    unserved = await world.client.get(SERVE, params={"surface_type": "native"}, headers=world.auth)
    event = await report(world, campaign["id"], "impression", surface_type="native")

    assert unserved.status == 404
    assert event["payout_rate_snapshot"] == 0
    assert (await balances(client)).get(f"app:{world.app.id}", 0) == app_before


async def test_closing_twice_is_409_and_only_admins_may_close(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world, _, campaign = await advertised(client, settings)
    path = f"{CAMPAIGNS}/{campaign['id']}/close"

    assert (await world.client.post(path, headers=world.owner.auth)).status == 403
    assert (await world.client.post(path)).status == 401
    assert (await close(world, "00000000-0000-4000-8000-000000000000")).status == 404
    assert (await close(world, "not-a-uuid")).status == 404
    assert (await close(world, campaign["id"])).status == 200
    before = await balances(client)
    again = await close(world, campaign["id"])

    assert again.status == 409
    assert (await again.json())["error"] == "conflict"
    assert await balances(client) == before


async def test_a_keyed_close_replays_the_first_answer_and_another_campaign_conflicts(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world, advertiser, campaign = await advertised(client, settings, payout_rate=7)
    await world.grant(advertiser, 100)
    other = await launch(world, advertiser, budget=100)
    assert (await report(world, campaign["id"], "click"))["payout_rate_snapshot"] == 7

    first = await close(world, campaign["id"], key="close-1")
    again = await close(world, campaign["id"], key="close-1")
    elsewhere = await close(world, other["id"], key="close-1")
    unkeyed = await close(world, campaign["id"])

    assert (first.status, again.status, elsewhere.status, unkeyed.status) == (200, 200, 409, 409)
    assert await again.json() == await first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert (await elsewhere.json())["error"] == "idempotency_conflict"
    assert (await unkeyed.json())["error"] == "conflict"
    assert (await campaign_now(world, other["id"]))["status"] == "active"
    assert len({row["entry_id"] for row in await refund_postings(client)}) == 1
    await assert_books_balance(client)


async def test_a_keyed_close_of_a_spent_campaign_replays_too(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world, _, campaign = await advertised(client, settings, payout_rate=900)  # 900 left
    assert (await report(world, campaign["id"], "click"))["payout_rate_snapshot"] == 900

    answers = await asyncio.gather(*(close(world, campaign["id"], key="c") for _ in range(3)))

    assert [answer.status for answer in answers] == [200, 200, 200]
    bodies = [await answer.json() for answer in answers]
    assert bodies[0]["campaign"]["refunded"] == 0
    assert bodies[1:] == bodies[:1] * 2
    replayed = [answer.headers.get("Idempotent-Replayed") for answer in answers]
    assert sorted(replayed, key=str) == [None, "true", "true"]


async def test_two_concurrent_closes_refund_once(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world, advertiser, campaign = await advertised(client, settings)

    answers = await asyncio.gather(close(world, campaign["id"]), close(world, campaign["id"]))

    assert sorted(answer.status for answer in answers) == [200, 409]
    assert (await balances(client))[f"user:{advertiser.user['id']}"] == 900
    await assert_books_balance(client)


async def test_payouts_racing_a_close_land_before_it_or_are_unpaid(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    world, advertiser, campaign = await advertised(client, settings)  # 900 left, 5 a click
    clicks = [report(world, campaign["id"], "click") for _ in range(10)]

    closing, *events = await asyncio.gather(close(world, campaign["id"]), *clicks)

    assert closing.status == 200, await closing.text()
    paid = sum(event["payout_rate_snapshot"] for event in events)
    closed = (await closing.json())["campaign"]
    assert (closed["refunded"], closed["spent"]) == (900 - paid, paid)
    books = await balances(client)
    assert books[f"user:{advertiser.user['id']}"] == 900 - paid
    assert books.get(f"campaign:{campaign['id']}", 0) == 0
    await assert_books_balance(client)
