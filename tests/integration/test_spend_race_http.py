"""100 concurrent spends over HTTP on PostgreSQL against a balance that covers exactly 37:
the write side decides, so exactly 37 succeed and no point is created or lost."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient

from http_api.keys import SERVICES
from http_api.settings import Settings
from tests.e2e.points_helpers import app_balance, connected_user, spend

REQUESTS = 100
COVERED = 37

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("backend", ["postgres"], indirect=True),
]


@pytest.mark.parametrize(("amount", "keyed"), [(1, False), (10, True)])
async def test_exactly_the_covered_spends_succeed(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    amount: int,
    keyed: bool,
) -> None:
    world = await connected_user(client, settings.data_dir)
    await world.grant(world.user, COVERED * amount)

    answers = await asyncio.gather(
        *(
            spend(world, amount, key=f"spend-{n}" if keyed else None, metadata={"n": n})
            for n in range(REQUESTS)
        )
    )

    bodies = [await answer.json() for answer in answers]
    statuses = [answer.status for answer in answers]
    assert statuses.count(201) == COVERED, bodies
    assert statuses.count(422) == REQUESTS - COVERED, bodies
    refusals = [body for status, body in zip(statuses, bodies, strict=True) if status == 422]
    assert {body["error"] for body in refusals} == {"insufficient_points"}
    assert all(0 <= body["balance"] < amount for body in refusals)
    done = [
        body["transaction"] for status, body in zip(statuses, bodies, strict=True) if status == 201
    ]
    # Each success saw the balance its predecessors left: every step down from the grant, once.
    assert sorted(t["balance_after"] for t in done) == [n * amount for n in range(COVERED)]
    assert len({t["id"] for t in done}) == COVERED
    assert await world.balance() == 0
    assert await app_balance(world) == COVERED * amount

    reads = client.server.app[SERVICES].reads
    rows = await reads.fetch_all("SELECT account, balance FROM balances", ())
    balances = {str(row["account"]): int(row["balance"]) for row in rows}
    assert sum(balances.values()) == 0
    assert all(v >= 0 for account, v in balances.items() if account != "treasury")
    history = await client.get(
        "/api/external/points/history", params={"limit": "200"}, headers=world.auth
    )
    assert len((await history.json())["transactions"]) == COVERED

    if keyed:  # retrying every request changes nothing and answers as before
        retries = await asyncio.gather(
            *(spend(world, amount, key=f"spend-{n}", metadata={"n": n}) for n in range(REQUESTS))
        )
        assert [r.status for r in retries] == statuses
        assert [await r.json() for r in retries] == bodies
        assert (await world.balance(), await app_balance(world)) == (0, COVERED * amount)
