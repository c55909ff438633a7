"""Chat over HTTP (spec 7): one channel per type and ref, pages newest first, the word filter,
and blocked senders left out of the blocker's view."""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp.test_utils import TestClient

from http_api.app import create_app
from http_api.settings import Settings
from tests.e2e.helpers import Person
from tests.e2e.oauth_helpers import verified_person


async def channel(client: TestClient, person: Person, **body: Any) -> dict[str, Any]:  # type: ignore[type-arg]
    response = await client.post("/api/social/chat/channels", json=body, headers=person.auth)
    assert response.status == 200, await response.text()
    found: dict[str, Any] = await response.json()
    return found


async def say(client: TestClient, person: Person, channel_id: str, body: str) -> dict[str, Any]:  # type: ignore[type-arg]
    response = await client.post(
        f"/api/social/chat/{channel_id}/messages", json={"body": body}, headers=person.auth
    )
    assert response.status == 201, await response.text()
    message: dict[str, Any] = (await response.json())["message"]
    return message


async def read(
    client: TestClient,  # type: ignore[type-arg]
    person: Person,
    channel_id: str,
    **params: Any,
) -> dict[str, Any]:
    response = await client.get(
        f"/api/social/chat/{channel_id}/messages", params=params, headers=person.auth
    )
    assert response.status == 200, await response.text()
    page: dict[str, Any] = await response.json()
    return page


async def test_same_channel_for_same_type_and_ref(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    ann = await verified_person(client, settings.data_dir)
    bob = await verified_person(client, settings.data_dir)
    table = await channel(client, ann, type="table", ref_id="table-7")
    assert table["type"] == "table"
    assert table["ref_id"] == "table-7"
    assert await channel(client, bob, type="table", ref_id="table-7") == table
    lobby = await channel(client, ann, type="lobby")
    assert lobby == {"id": lobby["id"], "type": "lobby", "ref_id": None}
    assert lobby["id"] != table["id"]
    assert (await channel(client, bob, type="lobby"))["id"] == lobby["id"]
    for body in ({"type": "room"}, {"type": "table"}, {}):
        refused = await client.post("/api/social/chat/channels", json=body, headers=ann.auth)
        assert refused.status == 422, body


async def test_messages_newest_first_with_cursor(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    ann = await verified_person(client, settings.data_dir)
    lobby = (await channel(client, ann, type="lobby"))["id"]
    sent = [await say(client, ann, lobby, f"message {n}") for n in range(5)]
    assert sent[0]["sender_id"] == ann.user["id"]
    assert sent[0]["sender_username"] == ann.username
    assert sent[0]["filtered_body"] == "message 0"
    first = await read(client, ann, lobby, limit=2)
    assert [m["filtered_body"] for m in first["messages"]] == ["message 4", "message 3"]
    second = await read(client, ann, lobby, limit=2, cursor=first["next_cursor"])
    assert [m["filtered_body"] for m in second["messages"]] == ["message 2", "message 1"]
    last = await read(client, ann, lobby, limit=2, cursor=second["next_cursor"])
    assert [m["id"] for m in last["messages"]] == [sent[0]["id"]]
    assert last["next_cursor"] is None
    bad_cursor = await client.get(f"/api/social/chat/{lobby}/messages?cursor=zzz", headers=ann.auth)
    assert bad_cursor.status == 422


async def test_message_refusals(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    ann = await verified_person(client, settings.data_dir)
    lobby = (await channel(client, ann, type="lobby"))["id"]
    for body in ("", "x" * 1001, "   "):
        refused = await client.post(
            f"/api/social/chat/{lobby}/messages", json={"body": body}, headers=ann.auth
        )
        assert refused.status == 422, body
    unknown = "00000000-0000-4000-8000-000000000000"
    for method in ("GET", "POST"):
        missing = await client.request(
            method, f"/api/social/chat/{unknown}/messages", json={"body": "hi"}, headers=ann.auth
        )
        assert missing.status == 404
    assert (await client.get(f"/api/social/chat/{lobby}/messages")).status == 401


async def test_word_filter_masks_configured_words(
    settings: Settings,
    aiohttp_client: Any,
) -> None:
    filtered = dataclasses.replace(settings, chat_word_filter=("darn", "heck"))
    client: TestClient = await aiohttp_client(create_app(filtered))  # type: ignore[type-arg]
    ann = await verified_person(client, settings.data_dir)
    lobby = (await channel(client, ann, type="lobby"))["id"]
    message = await say(client, ann, lobby, "Darn it, what the HECK. darned heckle")
    assert message["filtered_body"] == "**** it, what the ****. darned heckle"


async def test_blocked_senders_are_hidden_from_the_blocker(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    ann = await verified_person(client, settings.data_dir)
    bob = await verified_person(client, settings.data_dir)
    lobby = (await channel(client, ann, type="lobby"))["id"]
    await say(client, bob, lobby, "from bob")
    await say(client, ann, lobby, "from ann")
    blocked = await client.post(
        "/api/social/block", json={"user_id": bob.user["id"]}, headers=ann.auth
    )
    assert blocked.status == 200
    await say(client, bob, lobby, "bob again")
    seen_by_ann = [m["filtered_body"] for m in (await read(client, ann, lobby))["messages"]]
    assert seen_by_ann == ["from ann"]
    seen_by_bob = [m["filtered_body"] for m in (await read(client, bob, lobby))["messages"]]
    assert seen_by_bob == ["bob again", "from ann", "from bob"]
    await client.delete(f"/api/social/block/{bob.user['id']}", headers=ann.auth)
    assert len((await read(client, ann, lobby))["messages"]) == 3
