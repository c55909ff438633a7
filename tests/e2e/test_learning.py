"""Education over HTTP (spec 7): paths, steps, module status, the award paid once, the reset
cooldown (with the command bus's clock moved forward, never by sleeping)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from http_api.keys import SERVICES
from http_api.settings import Settings
from tests.e2e.helpers import Person
from tests.e2e.oauth_helpers import verified_person

BASE = "/api/btc-progress"


async def post(client: TestClient, person: Person, where: str, **body: Any) -> Any:  # type: ignore[type-arg]
    return await client.post(f"{BASE}{where}", json=body or None, headers=person.auth)


async def ok(response: Any) -> dict[str, Any]:
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def points(client: TestClient, person: Person) -> int:  # type: ignore[type-arg]
    me = await ok(await client.get("/api/auth/me", headers=person.auth))
    return int(me["user"]["points"])


async def complete_module(client: TestClient, person: Person, number: int, steps: int) -> None:  # type: ignore[type-arg]
    for step in range(1, steps + 1):
        await ok(await post(client, person, f"/module/{number}/step/{step}/complete"))


async def test_available_modules_and_choosing_a_path(
    client: TestClient, settings: Settings
) -> None:  # type: ignore[type-arg]
    ann = await verified_person(client, settings.data_dir)
    listed = await ok(await client.get(f"{BASE}/available-modules", headers=ann.auth))
    assert listed["learning_path"] is None
    assert "bitcoin-basics" in listed["learning_paths"]
    modules = listed["modules"]
    assert [m["module_number"] for m in modules] == [1, 2, 3]
    assert modules[0] == {
        "module_number": 1,
        "title": "What money is",
        "steps": 3,
        "points": 50,
        "status": "not_started",
    }
    unknown = await post(client, ann, "/learning-path", path="dogecoin-for-dogs")
    assert unknown.status == 422
    assert (await unknown.json())["error"] == "validation_failed"
    chosen = await ok(await post(client, ann, "/learning-path", path="lightning-intro"))
    assert chosen == {"learning_path": "lightning-intro", "status": "selected"}
    await ok(await post(client, ann, "/learning-path", path="bitcoin-basics"))
    await ok(await post(client, ann, "/module/1/step/1/complete"))
    listed = await ok(await client.get(f"{BASE}/available-modules", headers=ann.auth))
    assert listed["learning_path"] == "bitcoin-basics"
    assert [m["status"] for m in listed["modules"]] == ["in_progress", "not_started", "not_started"]
    locked = await post(client, ann, "/learning-path", path="lightning-intro")
    assert locked.status == 409
    await ok(await post(client, ann, "/learning-path", path="bitcoin-basics"))  # same: fine
    no_token = await client.get(f"{BASE}/available-modules")
    assert no_token.status == 401


async def test_steps_status_and_the_award(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    ann = await verified_person(client, settings.data_dir)
    before_path = await post(client, ann, "/module/1/step/1/complete")
    assert before_path.status == 409
    await ok(await post(client, ann, "/learning-path", path="bitcoin-basics"))
    status = await ok(await client.get(f"{BASE}/module/1/status", headers=ann.auth))
    assert status == {
        "module_number": 1,
        "status": "not_started",
        "completed_steps": [],
        "completed_at": None,
    }
    first = await ok(await post(client, ann, "/module/1/step/2/complete"))
    assert first == {
        "module_number": 1,
        "step": 2,
        "completed_steps": [2],
        "module_completed": False,
        "points_awarded": 0,
    }
    again = await ok(await post(client, ann, "/module/1/step/2/complete"))
    assert again["completed_steps"] == [2]
    await ok(await post(client, ann, "/module/1/step/1/complete"))
    assert await points(client, ann) == 0
    last = await ok(await post(client, ann, "/module/1/step/3/complete"))
    assert last["module_completed"] is True
    assert last["points_awarded"] == 50
    assert await points(client, ann) == 50
    status = await ok(await client.get(f"{BASE}/module/1/status", headers=ann.auth))
    assert status["status"] == "completed"
    assert status["completed_steps"] == [1, 2, 3]
    assert status["completed_at"].endswith("Z")
    repeat = await ok(await post(client, ann, "/module/1/step/3/complete"))
    assert repeat["points_awarded"] == 0
    assert await points(client, ann) == 50

    for path in (
        "/module/9/step/1/complete",
        "/module/1/step/4/complete",
        "/module/x/step/1/complete",
    ):
        assert (await post(client, ann, path)).status == 404, path
    assert (await client.get(f"{BASE}/module/9/status", headers=ann.auth)).status == 404


async def test_award_entry_is_kind_award_from_the_treasury(
    client: TestClient, settings: Settings
) -> None:  # type: ignore[type-arg]
    ann = await verified_person(client, settings.data_dir)
    await ok(await post(client, ann, "/learning-path", path="bitcoin-basics"))
    await complete_module(client, ann, 1, 3)
    reads = client.server.app[SERVICES].reads
    rows = await reads.fetch_all(
        "SELECT account, kind, delta FROM account_history WHERE entry_id IN"
        " (SELECT entry_id FROM account_history WHERE account = %s) ORDER BY account",
        (f"user:{ann.user['id']}",),
    )
    assert [(r["account"], r["kind"], int(r["delta"])) for r in rows] == [
        ("treasury", "award", -50),
        (f"user:{ann.user['id']}", "award", 50),
    ]


async def test_concurrent_completions_pay_once(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    ann = await verified_person(client, settings.data_dir)
    await ok(await post(client, ann, "/learning-path", path="bitcoin-basics"))
    await ok(await post(client, ann, "/module/2/step/1/complete"))
    await ok(await post(client, ann, "/module/2/step/2/complete"))
    # The two remaining steps, each requested many times at once: one request completes it.
    paths = [f"/module/2/step/{step}/complete" for step in (3, 4) for _ in range(6)]
    answers = await asyncio.gather(*(post(client, ann, path) for path in paths))
    bodies = [await ok(answer) for answer in answers]
    assert sum(body["points_awarded"] for body in bodies) == 75
    assert await points(client, ann) == 75
    status = await ok(await client.get(f"{BASE}/module/2/status", headers=ann.auth))
    assert status["status"] == "completed"


async def test_reset_refused_before_the_cooldown(client: TestClient, settings: Settings) -> None:  # type: ignore[type-arg]
    ann = await verified_person(client, settings.data_dir)
    await ok(await post(client, ann, "/learning-path", path="bitcoin-basics"))
    not_completed = await post(client, ann, "/module/1/reset")
    assert not_completed.status == 409
    await complete_module(client, ann, 1, 3)
    too_soon = await post(client, ann, "/module/1/reset")
    assert too_soon.status == 409
    assert (await too_soon.json())["error"] == "conflict"
    assert (await post(client, ann, "/module/7/reset")).status == 404
