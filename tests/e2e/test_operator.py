"""The operator API (spec 6.2) over real HTTP: the app for its owner, and its analytics."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from aiohttp.test_utils import TestClient

from http_api.settings import Settings
from tests.e2e.points_helpers import Connected, connected_user, error_body, join, spend


async def analytics(world: Connected, window: str | None = None) -> dict[str, object]:
    params = {} if window is None else {"window_days": window}
    response = await world.client.get("/api/operator/analytics", params=params, headers=world.auth)
    assert response.status == 200, await response.text()
    found: dict[str, object] = (await response.json())["analytics"]
    return found


async def test_analytics_count_spends_through_the_app_and_users_who_authorized_it(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    operator = await connected_user(client, settings.data_dir, user_is_owner=True)
    empty = await analytics(operator)
    assert (empty["total_spends"], empty["total_awards"], empty["daily"]) == (0, 0, [])
    assert empty["total_users"] == 1  # the owner authorized their own app

    alice = await join(operator)
    bob = await join(operator)
    await join(operator, person=alice.user)  # authorizing again is still one user
    elsewhere = await connected_user(client, settings.data_dir)
    alice_elsewhere = await join(elsewhere, person=alice.user)
    for world in (alice, bob):
        await world.grant(world.user, 100)

    spends = [(alice, 10), (alice, 5), (bob, 7)]
    for world, amount in spends:
        response = await spend(world, amount)
        assert response.status == 201, await response.text()
    assert (await spend(bob, 1_000)).status == 422  # refused: not counted
    assert (await spend(alice_elsewhere, 30)).status == 201  # another app: not counted
    transfer = await client.post(
        "/api/external/points/transfer",
        json={"to_user_id": bob.user.user["id"], "amount": 3},
        headers=alice.auth,
    )
    assert transfer.status == 201  # a transfer is no spend
    replayed = [await spend(alice, 2, key="once") for _ in range(2)]
    assert [r.status for r in replayed] == [201, 201]  # counted once

    figures = await analytics(operator)
    assert figures["total_spends"] == 10 + 5 + 7 + 2
    assert (figures["total_awards"], figures["ad_impressions"], figures["ad_clicks"]) == (0, 0, 0)
    assert figures["total_users"] == 3
    daily = figures["daily"]
    assert isinstance(daily, list)
    assert daily
    assert sum(day["spends"] for day in daily) == 24
    today = datetime.now(UTC).date()
    assert all(today - timedelta(days=29) <= date.fromisoformat(d["date"]) <= today for d in daily)
    assert [d["date"] for d in daily] == sorted(d["date"] for d in daily)
    assert max(day["active_users"] for day in daily) <= 2
    assert sum(day["active_users"] for day in daily) >= 2  # alice and bob spent

    narrow = await analytics(operator, "1")
    assert narrow["window_days"] == 1
    assert narrow["total_spends"] == sum(d["spends"] for d in narrow["daily"])  # type: ignore[attr-defined]
    assert narrow["total_users"] == 3  # not windowed: who ever authorized the app
    assert (await analytics(operator, "365"))["total_spends"] == 24

    other = await join(elsewhere, person=elsewhere.owner)
    assert (await analytics(other))["total_spends"] == 30


async def test_window_days_outside_1_to_365_is_a_validation_failure(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    operator = await connected_user(client, settings.data_dir, user_is_owner=True)
    for window in ("0", "366", "-1", "1.5", "x", ""):
        response = await client.get(
            "/api/operator/analytics", params={"window_days": window}, headers=operator.auth
        )
        refused = await error_body(response, 422, "validation_failed")
        assert "window_days" in refused["fields"], (window, refused)


async def test_the_owner_reads_and_changes_the_app(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    operator = await connected_user(client, settings.data_dir, user_is_owner=True)
    first = (await (await client.get("/api/operator/app", headers=operator.auth)).json())["app"]
    assert (first["id"], first["listed"], first["total_users"]) == (operator.app.id, False, 1)

    changed = await client.put(
        "/api/operator/app",
        json={"app_description": "Now with hats", "website_url": "https://hats.example/"},
        headers=operator.auth,
    )
    assert changed.status == 200, await changed.text()
    app = (await changed.json())["app"]
    assert (app["app_description"], app["website_url"]) == (
        "Now with hats",
        "https://hats.example/",
    )
    assert app["updated_at"] >= first["updated_at"]
    again = (await (await client.get("/api/operator/app", headers=operator.auth)).json())["app"]
    assert again["app_description"] == "Now with hats"
    mine = await client.get(f"/api/oauth/my-apps/{operator.app.id}", headers=operator.owner.auth)
    if mine.status == 200:  # the same app as the owner's JWT sees it
        assert (await mine.json())["app"]["app_description"] == "Now with hats"

    for bad in (
        {"unknown": 1},
        {"website_url": "javascript:alert(1)"},
        {"listed": "yes"},
        {"app_name": ""},
    ):
        response = await client.put("/api/operator/app", json=bad, headers=operator.auth)
        assert 400 <= response.status < 500, (bad, await response.text())
        assert (await response.json())["error"] in {"validation_failed", "invalid_request"}
    final = (await (await client.get("/api/operator/app", headers=operator.auth)).json())["app"]
    assert {k: final[k] for k in ("app_name", "website_url", "listed")} == {
        k: again[k] for k in ("app_name", "website_url", "listed")
    }
