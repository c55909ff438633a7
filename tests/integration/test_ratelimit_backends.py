"""The shared rate limit backends: one count across processes, in PostgreSQL and in Redis."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio
import redis.exceptions
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from http_api.ratelimit import (
    Decision,
    Limit,
    PostgresRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    postgres_schema,
)
from ledger.errors import UnavailableError

REDIS_URL = os.environ.get("BUDDO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
START = 1_800_000_000.0  # a minute boundary
LIMIT = Limit("login", 10, 3600)
HITS = 15


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def hit_concurrently(limiters: list[RateLimiter], limit: Limit, n: int) -> list[Decision]:
    """`n` simultaneous hits on one key, dealt round-robin to the limiters."""
    calls = (limiters[i % len(limiters)].hit(limit, "198.51.100.1") for i in range(n))
    return list(await asyncio.gather(*calls))


def assert_exactly_the_limit_got_through(decisions: list[Decision], limit: Limit) -> None:
    allowed = [d for d in decisions if d.allowed]
    assert len(allowed) == limit.count
    # every allowed request saw its own count: no two read the same value
    assert sorted(d.remaining for d in allowed) == list(range(limit.count))
    assert all(d.remaining == 0 for d in decisions if not d.allowed)


# --- PostgreSQL -----------------------------------------------------------------------------------


async def open_pool(url: str, **kwargs: object) -> AsyncConnectionPool[Any]:
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        url, kwargs={"autocommit": True, **kwargs}, min_size=1, max_size=4, open=False
    )
    await pool.open(wait=True)
    return pool


@pytest.fixture
async def pools(postgres_url: str) -> AsyncIterator[list[AsyncConnectionPool[Any]]]:
    """Two independent pools on one fresh database: two server processes, as the table sees it."""
    first = await open_pool(postgres_url)
    second = await open_pool(postgres_url, row_factory=dict_row)  # like PostgresReadDatabase's
    async with first.connection() as conn:
        for statement in postgres_schema():
            await conn.execute(statement)
    yield [first, second]
    await first.close()
    await second.close()


async def counter_rows(pool: AsyncConnectionPool[Any]) -> list[tuple[object, ...]]:
    async with pool.connection() as conn, conn.cursor() as cursor:
        await cursor.execute("SELECT name, window_index, count FROM rate_limit_counters")
        return [tuple(row) for row in await cursor.fetchall()]


@pytest.mark.postgres
async def test_two_processes_share_one_count_in_postgres(
    pools: list[AsyncConnectionPool[Any]],
) -> None:
    limiters: list[RateLimiter] = [PostgresRateLimiter(pool) for pool in pools]
    decisions = await hit_concurrently(limiters, LIMIT, HITS)
    assert_exactly_the_limit_got_through(decisions, LIMIT)
    [(_, _, count)] = await counter_rows(pools[0])
    assert count == HITS  # refused requests count too


@pytest.mark.postgres
async def test_hits_on_many_counters_at_once_each_count_on_their_own(
    pools: list[AsyncConnectionPool[Any]],
) -> None:
    """The hits of one turn of the event loop go to PostgreSQL in one statement: each counter
    still gets its own hits, and each hit its own place in its counter."""
    limiter = PostgresRateLimiter(pools[0])
    login, register = Limit("login", 2, 60), Limit("register", 5, 3600)
    calls = [(login, "a"), (login, "b"), (register, "a"), (login, "a"), (login, "a")]

    decisions = await asyncio.gather(*(limiter.hit(limit, key) for limit, key in calls))

    assert [(d.allowed, d.remaining) for d in decisions] == [
        (True, 1),
        (True, 1),
        (True, 4),
        (True, 0),
        (False, 0),
    ]
    counts = sorted((name, count) for name, _, count in await counter_rows(pools[0]))
    assert counts == [("login", 1), ("login", 3), ("register", 1)]


@pytest.mark.postgres
async def test_postgres_windows_restart_and_ended_ones_are_deleted(
    pools: list[AsyncConnectionPool[Any]],
) -> None:
    clock = FakeClock()
    limiter = PostgresRateLimiter(pools[0], clock=clock)
    limit = Limit("login", 2, 60)
    assert [(await limiter.hit(limit, "k")).allowed for _ in range(3)] == [True, True, False]
    clock.now = START + 120  # two windows later, and past the sweep interval
    decision = await limiter.hit(limit, "k")
    assert (decision.allowed, decision.remaining, decision.reset_seconds) == (True, 1, 60)
    assert await counter_rows(pools[0]) == [("login", int(clock.now // 60), 1)]


@pytest.mark.postgres
async def test_schema_can_run_again_on_every_start(
    pools: list[AsyncConnectionPool[Any]],
) -> None:
    await PostgresRateLimiter(pools[0]).hit(LIMIT, "k")
    async with pools[1].connection() as conn:
        for statement in postgres_schema():
            await conn.execute(statement)
    assert len(await counter_rows(pools[0])) == 1


async def test_an_unreachable_postgres_is_unavailable_not_a_crash() -> None:
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        "postgresql://postgres@127.0.0.1:1/none", min_size=1, timeout=0.2, open=False
    )
    await pool.open(wait=False)
    try:
        with pytest.raises(UnavailableError):
            await PostgresRateLimiter(pool).hit(LIMIT, "k")
    finally:
        await pool.close()


# --- Redis ----------------------------------------------------------------------------------------


async def redis_problem() -> str | None:
    client = redis.asyncio.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except redis.exceptions.RedisError as error:
        return str(error)
    finally:
        await client.aclose()
    return None


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of our own on the local Redis, wiped afterwards; skipped if none answers."""
    problem = await redis_problem()
    if problem is not None:
        message = f"Redis at {REDIS_URL} does not answer: {problem}"
        if IN_CI:
            pytest.fail(message + " (required in CI)")
        pytest.skip(message + " -- Redis tests skipped")
    prefix = f"buddo-test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def redis_limiters(redis_prefix: str) -> AsyncIterator[list[RedisRateLimiter]]:
    """Two limiters with their own connections: two server processes, as Redis sees it."""
    limiters = [RedisRateLimiter(REDIS_URL, prefix=redis_prefix) for _ in range(2)]
    yield limiters
    for limiter in limiters:
        await limiter.close()


async def test_two_processes_share_one_count_in_redis(
    redis_limiters: list[RedisRateLimiter],
) -> None:
    decisions = await hit_concurrently(list(redis_limiters), LIMIT, HITS)
    assert_exactly_the_limit_got_through(decisions, LIMIT)


async def test_redis_counters_expire_with_their_window(
    redis_limiters: list[RedisRateLimiter], redis_prefix: str
) -> None:
    await redis_limiters[0].hit(Limit("login", 10, 60), "2001:db8::1")
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        [key] = [key async for key in client.scan_iter(match=redis_prefix + "*")]
        ttl = await client.ttl(key)
    finally:
        await client.aclose()
    assert key.decode().endswith(":2001:db8::1")
    assert 0 < ttl <= 60


async def test_redis_windows_restart(redis_prefix: str) -> None:
    clock = FakeClock()
    limiter = RedisRateLimiter(REDIS_URL, prefix=redis_prefix, clock=clock)
    limit = Limit("login", 2, 60)
    try:
        assert [(await limiter.hit(limit, "k")).allowed for _ in range(3)] == [True, True, False]
        clock.now = START + 60
        decision = await limiter.hit(limit, "k")
    finally:
        await limiter.close()
    assert (decision.allowed, decision.remaining, decision.reset_seconds) == (True, 1, 60)


async def test_an_unreachable_redis_is_unavailable_not_a_crash() -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0")
    try:
        with pytest.raises(UnavailableError):
            await limiter.hit(LIMIT, "k")
    finally:
        await limiter.close()
