"""Social over HTTP (spec 7): friends, blocks, search, presence and chat, on both backends."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from aiohttp.test_utils import TestClient

from commands.social import AnswerFriendRequest, RequestFriend
from commands.transfers import SendPoints
from commands.users import RegisterUser
from http_api.keys import SERVICES
from http_api.settings import Settings
from ledger.errors import TransferRefusedError
from tests.e2e.helpers import PASSWORD, Person
from tests.e2e.oauth_helpers import verified_person
from tests.e2e.paging_helpers import assert_pages, assert_refuses_bad_paging, page, walk


def by_user(row: dict[str, Any]) -> Any:
    return row["user_id"]


async def people(client: TestClient, settings: Settings, count: int) -> list[Person]:  # type: ignore[type-arg]
    return [await verified_person(client, settings.data_dir) for _ in range(count)]


async def befriend(client: TestClient, one: Person, other: Person) -> dict[str, Any]:  # type: ignore[type-arg]
    sent = await client.post(
        "/api/social/friends", json={"user_id": other.user["id"]}, headers=one.auth
    )
    assert sent.status == 201, await sent.text()
    request: dict[str, Any] = (await sent.json())["request"]
    accepted = await client.put(
        f"/api/social/friends/{request['id']}", json={"action": "accept"}, headers=other.auth
    )
    assert accepted.status == 200, await accepted.text()
    return request


async def friend_ids(client: TestClient, person: Person) -> set[str]:  # type: ignore[type-arg]
    response = await client.get("/api/social/friends", headers=person.auth)
    assert response.status == 200, await response.text()
    return {friend["user_id"] for friend in (await response.json())["friends"]}


async def test_friend_request_accepted(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    ann, bob = await people(client, settings, 2)
    sent = await client.post(
        "/api/social/friends", json={"user_id": bob.user["id"]}, headers=ann.auth
    )
    assert sent.status == 201, await sent.text()
    request = (await sent.json())["request"]
    assert request["from_user_id"] == ann.user["id"]
    assert request["to_user_id"] == bob.user["id"]
    assert request["status"] == "pending"

    pending = await (await client.get("/api/social/friends/pending", headers=bob.auth)).json()
    assert [r["id"] for r in pending["incoming"]] == [request["id"]]
    assert pending["outgoing"] == []
    mine = await (await client.get("/api/social/friends/pending", headers=ann.auth)).json()
    assert [r["id"] for r in mine["outgoing"]] == [request["id"]]

    by_sender = await client.put(
        f"/api/social/friends/{request['id']}", json={"action": "accept"}, headers=ann.auth
    )
    assert by_sender.status == 403
    accepted = await client.put(
        f"/api/social/friends/{request['id']}", json={"action": "accept"}, headers=bob.auth
    )
    assert accepted.status == 200, await accepted.text()
    assert (await accepted.json())["request"]["status"] == "accepted"
    again = await client.put(
        f"/api/social/friends/{request['id']}", json={"action": "decline"}, headers=bob.auth
    )
    assert again.status == 409

    friends = (await (await client.get("/api/social/friends", headers=ann.auth)).json())["friends"]
    assert [(f["user_id"], f["username"]) for f in friends] == [(bob.user["id"], bob.username)]
    assert friends[0]["since"].endswith("Z")
    assert await friend_ids(client, bob) == {ann.user["id"]}


async def test_friend_request_refusals(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    ann, bob = await people(client, settings, 2)
    to_self = await client.post(
        "/api/social/friends", json={"user_id": ann.user["id"]}, headers=ann.auth
    )
    assert to_self.status == 422
    unknown = await client.post(
        "/api/social/friends",
        json={"user_id": "00000000-0000-4000-8000-000000000000"},
        headers=ann.auth,
    )
    assert unknown.status == 404
    bad = await client.post("/api/social/friends", json={"user_id": "nope"}, headers=ann.auth)
    assert bad.status == 422
    no_token = await client.post("/api/social/friends", json={"user_id": bob.user["id"]})
    assert no_token.status == 401
    await befriend(client, ann, bob)
    twice = await client.post(
        "/api/social/friends", json={"user_id": ann.user["id"]}, headers=bob.auth
    )
    assert twice.status == 409
    bad_action = await client.put(
        "/api/social/friends/00000000-0000-4000-8000-000000000000",
        json={"action": "accept"},
        headers=bob.auth,
    )
    assert bad_action.status == 404


async def test_decline_cancel_and_unfriend(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    ann, bob = await people(client, settings, 2)
    sent = await client.post(
        "/api/social/friends", json={"user_id": bob.user["id"]}, headers=ann.auth
    )
    request = (await sent.json())["request"]
    declined = await client.put(
        f"/api/social/friends/{request['id']}", json={"action": "decline"}, headers=bob.auth
    )
    assert (await declined.json())["request"]["status"] == "declined"

    await client.post("/api/social/friends", json={"user_id": bob.user["id"]}, headers=ann.auth)
    cancelled = await client.delete(f"/api/social/friends/{bob.user['id']}", headers=ann.auth)
    assert cancelled.status == 204
    pending = await (await client.get("/api/social/friends/pending", headers=bob.auth)).json()
    assert pending == {"incoming": [], "outgoing": [], "next_cursor": None}

    await befriend(client, bob, ann)
    unfriended = await client.delete(f"/api/social/friends/{ann.user['id']}", headers=bob.auth)
    assert unfriended.status == 204
    assert await friend_ids(client, ann) == set()
    nothing = await client.delete(f"/api/social/friends/{ann.user['id']}", headers=bob.auth)
    assert nothing.status == 404


async def block(client: TestClient, blocker: Person, blocked: Person) -> None:  # type: ignore[type-arg]
    response = await client.post(
        "/api/social/block", json={"user_id": blocked.user["id"]}, headers=blocker.auth
    )
    assert response.status == 200, await response.text()
    assert await response.json() == {"status": "blocked"}


async def test_block_ends_friendship_and_requests(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    ann, bob, cat = await people(client, settings, 3)
    await befriend(client, ann, bob)
    await client.post("/api/social/friends", json={"user_id": cat.user["id"]}, headers=ann.auth)
    await block(client, bob, ann)
    await block(client, ann, cat)
    assert await friend_ids(client, ann) == set()
    assert await friend_ids(client, bob) == set()
    pending = await (await client.get("/api/social/friends/pending", headers=cat.auth)).json()
    assert pending["incoming"] == []
    for sender, recipient in ((ann, bob), (bob, ann), (cat, ann)):
        refused = await client.post(
            "/api/social/friends", json={"user_id": recipient.user["id"]}, headers=sender.auth
        )
        assert refused.status == 403, (sender.username, recipient.username)

    lifted = await client.delete(f"/api/social/block/{ann.user['id']}", headers=bob.auth)
    assert lifted.status == 200
    assert await lifted.json() == {"status": "unblocked"}
    allowed = await client.post(
        "/api/social/friends", json={"user_id": ann.user["id"]}, headers=bob.auth
    )
    assert allowed.status == 201, await allowed.text()


async def search(client: TestClient, person: Person, q: str) -> list[str]:  # type: ignore[type-arg]
    response = await client.get("/api/social/users/search", params={"q": q}, headers=person.auth)
    assert response.status == 200, await response.text()
    return [user["username"] for user in (await response.json())["users"]]


async def test_search_hides_blocks_both_ways(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    ann = await Person(client, settings.data_dir, username="Findme_ann").signed_up()
    bob = await Person(client, settings.data_dir, username="findme_bob").signed_up()
    cat = await Person(client, settings.data_dir, username="FINDME_cat").signed_up()
    assert await search(client, ann, "fINDme") == ["findme_bob", "FINDME_cat"]
    assert await search(client, ann, "findme_c") == ["FINDME_cat"]
    await block(client, bob, ann)  # bob blocked ann: each is hidden from the other
    assert await search(client, ann, "findme") == ["FINDME_cat"]
    assert await search(client, bob, "findme") == ["FINDME_cat"]
    assert await search(client, cat, "findme") == ["Findme_ann", "findme_bob"]
    assert await search(client, ann, "f%") == []  # no wildcards: a prefix is a prefix
    short = await client.get("/api/social/users/search", params={"q": "f"}, headers=ann.auth)
    assert short.status == 422
    missing = await client.get("/api/social/users/search", headers=ann.auth)
    assert missing.status == 422


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_presence_lasts_five_minutes(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    clock = FakeClock()
    client.server.app[SERVICES].presence.clock = clock  # type: ignore[attr-defined]
    ann, bob, cat = await people(client, settings, 3)
    await befriend(client, ann, bob)
    said = await client.post(
        "/api/social/presence", json={"status": "in_game", "table_id": "t-1"}, headers=bob.auth
    )
    assert said.status == 200, await said.text()
    assert (await said.json())["presence"]["status"] == "in_game"
    await client.post("/api/social/presence", json={"status": "online"}, headers=cat.auth)

    seen = (await (await client.get("/api/social/presence", headers=ann.auth)).json())["presence"]
    assert [(p["user_id"], p["status"], p["table_id"]) for p in seen] == [
        (bob.user["id"], "in_game", "t-1")
    ]
    table = await client.get("/api/social/presence/table?table_id=t-1", headers=cat.auth)
    assert [u["username"] for u in (await table.json())["users"]] == [bob.username]

    clock.now += timedelta(minutes=4, seconds=59)
    assert (
        len((await (await client.get("/api/social/presence", headers=ann.auth)).json())["presence"])
        == 1
    )
    clock.now += timedelta(seconds=2)
    assert (await (await client.get("/api/social/presence", headers=ann.auth)).json())[
        "presence"
    ] == []
    table = await client.get("/api/social/presence/table?table_id=t-1", headers=cat.auth)
    assert (await table.json())["users"] == []

    await client.post("/api/social/presence", json={"status": "away"}, headers=bob.auth)
    left = await client.delete("/api/social/presence", headers=bob.auth)
    assert left.status == 204
    assert (await (await client.get("/api/social/presence", headers=ann.auth)).json())[
        "presence"
    ] == []
    bad = await client.post("/api/social/presence", json={"status": "busy"}, headers=bob.auth)
    assert bad.status == 422
    no_table = await client.get("/api/social/presence/table", headers=bob.auth)
    assert no_table.status == 422


async def test_a_block_laid_over_http_stops_transfers(
    client: TestClient, settings: Settings
) -> None:  # type: ignore[type-arg]
    """The transfer command reads `Block` by `block_id(blocker, blocked)`: a block laid through
    the social endpoint is the one it finds, both ways, and lifting it lets transfers through."""
    ann, bob = await people(client, settings, 2)
    transfers = client.server.app[SERVICES].bus.transfers
    a, b = UUID(ann.user["id"]), UUID(bob.user["id"])
    await block(client, ann, bob)
    assert await asyncio.to_thread(transfers.blocked, a, b) is True
    with pytest.raises(TransferRefusedError):
        await asyncio.to_thread(
            transfers.prepare, SendPoints(from_user_id=b, amount=1, to_user_id=a)
        )
    await client.delete(f"/api/social/block/{bob.user['id']}", headers=ann.auth)
    assert await asyncio.to_thread(transfers.blocked, a, b) is False
    await asyncio.to_thread(transfers.prepare, SendPoints(from_user_id=b, amount=1, to_user_id=a))


async def seeded_friends(client: TestClient, person: Person, count: int) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    """`count` friends of `person`, made through the command bus in no particular order, with
    usernames in mixed case; their (id, username)."""
    codes = [f"fr{chr(97 + n // 26)}{chr(97 + n % 26)}" for n in range(count)]
    random.Random(5).shuffle(codes)
    me, bus, made = UUID(person.user["id"]), client.server.app[SERVICES].bus, []
    for n, code in enumerate(codes):
        name = code.upper() if n % 3 == 0 else code
        user = await bus.execute(RegisterUser(f"{code}@example.com", name, PASSWORD))
        asked = await bus.execute(RequestFriend(me, user.user_id))
        await bus.execute(AnswerFriendRequest(user.user_id, me, asked.request_id, accept=True))
        made.append((str(user.user_id), name))
    return made


async def test_friends_page_by_username_in_any_case(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    me = await verified_person(client, settings.data_dir)
    made = await seeded_friends(client, me, 52)
    expected = [user_id for user_id, name in sorted(made, key=lambda f: f[1].casefold())]
    await assert_pages(client, "/api/social/friends", me.auth, "friends", expected, by_user)


async def test_pending_requests_page_both_lists_with_one_cursor(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    """`limit` holds for each list; one cursor carries both on, and a list that is done stays
    empty on the pages after it; the cursor is null once both are done."""
    me = await verified_person(client, settings.data_dir)
    my_id, bus = UUID(me.user["id"]), client.server.app[SERVICES].bus
    incoming, outgoing = [], []
    for n in range(58):
        code = f"pend{chr(97 + n // 26)}{chr(97 + n % 26)}"
        other = await bus.execute(RegisterUser(f"{code}@example.com", code, PASSWORD))
        if n < 52:
            incoming.append(
                str((await bus.execute(RequestFriend(other.user_id, my_id))).request_id)
            )
        else:
            outgoing.append(
                str((await bus.execute(RequestFriend(my_id, other.user_id))).request_id)
            )
    path = "/api/social/friends/pending"

    first = await page(client, path, me.auth)
    rest = await page(client, f"{path}?cursor={first['next_cursor']}", me.auth)
    pages = await walk(client, path, me.auth, limit=4)

    assert [r["id"] for r in first["incoming"]] == incoming[:50]
    assert [r["id"] for r in first["outgoing"]] == outgoing
    assert ([r["id"] for r in rest["incoming"]], rest["outgoing"]) == (incoming[50:], [])
    assert rest["next_cursor"] is None
    assert [(len(p["incoming"]), len(p["outgoing"])) for p in pages] == [(4, 4), (4, 2)] + [
        (4, 0)
    ] * 11
    assert [r["id"] for p in pages for r in p["incoming"]] == incoming
    assert [r["id"] for p in pages for r in p["outgoing"]] == outgoing
    await assert_refuses_bad_paging(client, path, me.auth)
