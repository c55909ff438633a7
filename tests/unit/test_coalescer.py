"""Lookups asked for in one turn of the event loop share one query, and each gets its answer."""

from __future__ import annotations

import asyncio

import pytest

from projections.db import Coalescer, padded


class Table:
    """A fake read model: its rows, and the key lists each query asked for."""

    def __init__(self, rows: dict[str, int]) -> None:
        self.rows = rows
        self.queries: list[list[str]] = []

    async def fetch(self, asked: dict[str, int]) -> dict[str, int]:
        keys = list(asked)
        self.queries.append(keys)
        await asyncio.sleep(0)
        return {key: self.rows[key] for key in keys if key in self.rows}


async def test_lookups_of_one_turn_are_one_query_and_each_gets_its_own_answer() -> None:
    table = Table({"a": 1, "b": 2})
    lookup = Coalescer(table.fetch, limit=100)

    answers = await asyncio.gather(*(lookup.get(key) for key in ["a", "b", "a", "missing"]))

    assert answers == [1, 2, 1, None]
    assert table.queries == [["a", "b", "missing"]]


async def test_a_lookup_never_sees_a_row_older_than_its_own_request() -> None:
    table = Table({"token": 1})
    lookup = Coalescer(table.fetch, limit=100)
    assert await lookup.get("token") == 1

    table.rows["token"] = 2  # e.g. revoked, committed before the next request arrives

    assert await lookup.get("token") == 2
    assert len(table.queries) == 2


async def test_a_full_batch_is_sent_at_once() -> None:
    table = Table({str(n): n for n in range(10)})
    lookup = Coalescer(table.fetch, limit=4)

    answers = await asyncio.gather(*(lookup.get(str(n)) for n in range(10)))

    assert answers == list(range(10))
    assert [len(keys) for keys in table.queries] == [4, 4, 2]


async def test_a_failing_query_fails_every_lookup_waiting_for_it() -> None:
    async def broken(asked: dict[str, int]) -> dict[str, int]:
        raise ConnectionError("the store is gone")

    lookup = Coalescer(broken, limit=100)

    results = await asyncio.gather(lookup.get("a"), lookup.get("b"), return_exceptions=True)

    assert [type(result) for result in results] == [ConnectionError, ConnectionError]


async def test_a_cancelled_lookup_leaves_the_others_answered() -> None:
    table = Table({"a": 1, "b": 2})
    lookup = Coalescer(table.fetch, limit=100)
    gone = asyncio.ensure_future(lookup.get("a"))
    kept = asyncio.ensure_future(lookup.get("b"))
    await asyncio.sleep(0)

    gone.cancel()

    assert await kept == 2
    with pytest.raises(asyncio.CancelledError):
        await gone


@pytest.mark.parametrize(
    ("count", "size"), [(1, 1), (2, 2), (3, 4), (4, 4), (5, 8), (200, 256), (256, 256)]
)
def test_padded_batches_come_in_powers_of_two(count: int, size: int) -> None:
    keys = [str(n) for n in range(count)]

    result = padded(keys)

    assert len(result) == size
    assert result[:count] == keys
    assert set(result) == set(keys)
