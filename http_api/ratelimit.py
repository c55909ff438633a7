"""Fixed-window rate limits in memory, PostgreSQL or Redis, and the client address they key on.

    BuddoError
    └── RateLimitedError    over the limit (retry_after, decision)    429

A window is `window_seconds` long and numbered `floor(now / window_seconds)`; each backend keeps
one counter per (limit name, key, window index), counts the request first and then decides, so
every request counts whatever its outcome. A backend that cannot be reached raises
UnavailableError (503): the limiter fails closed, it never waves a login flood through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
import redis.asyncio
import redis.exceptions
from aiohttp import web
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

from ledger.errors import BuddoError, UnavailableError
from projections.db import Coalescer

Clock = Callable[[], float]
# Spelled out, not imported from http_api.errors: that module imports this one.
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: how often one process deletes the windows that have ended
SWEEP_INTERVAL_SECONDS = 60.0
#: the most counters one MemoryRateLimiter keeps; the oldest go first beyond it
MEMORY_MAX_COUNTERS = 100_000


@dataclass(frozen=True)
class Limit:
    """At most `count` requests per `window_seconds` for each key, counted under `name`."""

    name: str
    count: int
    window_seconds: int

    def __post_init__(self) -> None:
        if self.count < 1 or self.window_seconds < 1:
            raise ValueError(f"limit {self.name!r} needs a count and a window of at least 1")
        if ":" in self.name:
            raise ValueError(f"limit name {self.name!r} must not contain ':'")


# The documented limits (spec/api.md section 1); settings may raise them for test suites.
REGISTER_LIMIT = Limit("register", 5, 3600)
FORGOT_PASSWORD_LIMIT = Limit("forgot_password", 5, 3600)
LOGIN_LIMIT = Limit("login", 10, 60)
CREATE_OAUTH_APP_LIMIT = Limit("create_oauth_app", 3, 3600)
LIST_DEPLOY_APPS_LIMIT = Limit("list_deploy_apps", 30, 60)
CREATE_DEPLOY_APP_LIMIT = Limit("create_deploy_app", 10, 60)
# [ours] introspection is open (spec 5.5), so it is limited per client address.
INTROSPECT_LIMIT = Limit("introspect", 600, 60)


@dataclass(frozen=True)
class Decision:
    """The outcome of one counted request, and what its response tells the client."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        """RateLimit-* headers for any response; Retry-After too when refused."""
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_seconds)
        return headers


class RateLimitedError(BuddoError):
    """The client has used up its requests for this window."""

    code = "rate_limited"

    def __init__(self, decision: Decision) -> None:
        super().__init__(f"Too many requests; retry in {decision.reset_seconds} seconds.")
        self.decision = decision
        self.retry_after = decision.reset_seconds

    def extra(self) -> dict[str, object]:
        return {"retry_after": self.retry_after}

    def headers(self) -> dict[str, str]:
        return self.decision.headers()


class RateLimiter(Protocol):
    """Counts requests per key and decides whether each may go on."""

    async def hit(self, limit: Limit, key: str) -> Decision:
        """Count this request under (limit, key), then decide on it."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Window:
    """The fixed window that `now` falls in."""

    index: int
    ends_at: int

    @classmethod
    def at(cls, limit: Limit, now: float) -> Window:
        index = int(now // limit.window_seconds)
        return cls(index, (index + 1) * limit.window_seconds)


def decide(limit: Limit, window: Window, count: int, now: float) -> Decision:
    """The decision for the `count`-th request of `window` (this one included)."""
    return Decision(
        allowed=count <= limit.count,
        limit=limit.count,
        remaining=max(0, limit.count - count),
        reset_seconds=max(1, math.ceil(window.ends_at - now)),
    )


class MemoryRateLimiter:
    """Counters in this process only: right for the single-process embedded SQLite default."""

    def __init__(self, clock: Clock = time.time, max_counters: int = MEMORY_MAX_COUNTERS) -> None:
        if max_counters < 1:
            raise ValueError("max_counters must be at least 1")
        self._clock = clock
        self._max_counters = max_counters
        # (name, key, window index) -> [count, window end]; dicts keep insertion order
        self._counters: dict[tuple[str, str, int], list[int]] = {}
        self._next_sweep = 0.0

    async def hit(self, limit: Limit, key: str) -> Decision:
        # No await below: on one event loop the read-increment-write cannot interleave.
        now = self._clock()
        self._sweep(now)
        window = Window.at(limit, now)
        counter = self._counters.setdefault((limit.name, key, window.index), [0, window.ends_at])
        counter[0] += 1
        return decide(limit, window, counter[0], now)

    def _sweep(self, now: float) -> None:
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_INTERVAL_SECONDS
            self._counters = {k: c for k, c in self._counters.items() if c[1] > now}
        # Full of live counters (a flood from many addresses): drop the oldest, O(1) each.
        while len(self._counters) >= self._max_counters:
            del self._counters[next(iter(self._counters))]

    def __len__(self) -> int:
        return len(self._counters)

    async def close(self) -> None:
        self._counters.clear()


def postgres_schema() -> list[str]:
    """The statements that create the counter table; safe to run on every start."""
    # UNLOGGED: counters are worth no WAL; a crash that empties them only resets windows.
    return [
        """CREATE UNLOGGED TABLE IF NOT EXISTS rate_limit_counters (
            name text NOT NULL,
            key text NOT NULL,
            window_index bigint NOT NULL,
            count bigint NOT NULL,
            expires_at bigint NOT NULL,
            PRIMARY KEY (name, key, window_index)
        )""",
        "CREATE INDEX IF NOT EXISTS rate_limit_counters_expires_at"
        " ON rate_limit_counters (expires_at)",
    ]


# Every counter hit in one turn of the event loop, in one statement: one row per counter with
# the number of hits it got, in a fixed order (two processes lock the rows alike: no deadlock).
_PG_HITS = """
INSERT INTO rate_limit_counters (name, key, window_index, count, expires_at)
SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::bigint[], %s::bigint[])
ORDER BY 1, 2, 3
ON CONFLICT (name, key, window_index)
DO UPDATE SET count = rate_limit_counters.count + excluded.count
RETURNING name, key, window_index, count
"""
_PG_SWEEP = "DELETE FROM rate_limit_counters WHERE expires_at <= %s"

# (limit name, key, window index, window end)
Counter = tuple[str, str, int, int]


class _Tally(Coalescer[Counter, int]):
    """Counts the hits of one turn of the event loop together; each hit still gets its own
    place in its window (the counts of a counter's hits are consecutive, in arrival order)."""

    def _settle(self, futures: list[asyncio.Future[int | None]], value: int | None) -> None:
        first = (value or 0) - len(futures) + 1
        for place, future in enumerate(futures, start=first):
            if not future.done():  # a cancelled request's hit is counted all the same
                future.set_result(place)


class PostgresRateLimiter:
    """Counters in one PostgreSQL table, shared by every server process on the database."""

    def __init__(self, pool: AsyncConnectionPool[Any], clock: Clock = time.time) -> None:
        self._pool = pool  # borrowed: whoever opened the pool closes it
        self._clock = clock
        self._next_sweep = 0.0
        self._tally = _Tally(self._count, limit=1_000)

    async def hit(self, limit: Limit, key: str) -> Decision:
        now = self._clock()
        window = Window.at(limit, now)
        try:
            count = await self._tally.get((limit.name, key, window.index, window.ends_at))
        except psycopg.OperationalError as error:
            raise UnavailableError("The rate limit store cannot be reached.") from error
        if count is None:  # pragma: no cover - RETURNING always yields every row
            raise UnavailableError("The rate limit store returned no count.")
        return decide(limit, window, count, now)

    async def _count(self, hits: dict[Counter, int]) -> dict[Counter, int]:
        names, keys, indexes, ends = zip(*hits, strict=True)
        params = (list(names), list(keys), list(indexes), list(hits.values()), list(ends))
        # tuple rows, whatever row factory the pool was made with
        async with self._pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
            await cursor.execute(_PG_HITS, params)
            rows = await cursor.fetchall()
            await self._sweep(cursor, self._clock())
        totals = {(name, key, int(index)): int(count) for name, key, index, count in rows}
        return {counter: totals[counter[:3]] for counter in hits}

    async def _sweep(self, cursor: psycopg.AsyncCursor[Any], now: float) -> None:
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_INTERVAL_SECONDS
            await cursor.execute(_PG_SWEEP, (math.floor(now),))

    async def close(self) -> None:
        """Nothing to release: the pool belongs to the caller."""


class RedisRateLimiter:
    """Counters in Redis (INCR, then EXPIRE, in one MULTI/EXEC), shared by every process."""

    def __init__(
        self, url: str, prefix: str = "buddo:ratelimit:", clock: Clock = time.time
    ) -> None:
        # from_url only parses: the first command opens the connection
        self._client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(url)
        self._prefix = prefix
        self._clock = clock

    def redis_key(self, limit: Limit, window: Window, key: str) -> str:
        # The key goes last: it may hold ':' (IPv6), the name and index never do.
        return f"{self._prefix}{limit.name}:{window.index}:{key}"

    async def hit(self, limit: Limit, key: str) -> Decision:
        now = self._clock()
        window = Window.at(limit, now)
        name = self.redis_key(limit, window, key)
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                # Renewed on each hit, the TTL always outlives the window that holds the hit.
                pipe.incr(name)
                pipe.expire(name, limit.window_seconds)
                count, _ = await pipe.execute()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
            raise UnavailableError("The rate limit store cannot be reached.") from error
        return decide(limit, window, int(count), now)

    async def close(self) -> None:
        await self._client.aclose()


def refuse_over_limit(decision: Decision) -> Decision:
    """Return `decision` if it allows the request; raise RateLimitedError if not."""
    if not decision.allowed:
        raise RateLimitedError(decision)
    return decision


async def enforce(limiter: RateLimiter, limit: Limit, key: str) -> Decision:
    """Count the request; raise RateLimitedError over the limit, else return the decision."""
    return refuse_over_limit(await limiter.hit(limit, key))


DECISION: web.RequestKey[Decision] = web.RequestKey("rate_limit_decision", Decision)


async def enforce_request(
    request: web.Request, limiter: RateLimiter, limit: Limit, key: str
) -> Decision:
    """Like enforce, and remember the decision so rate_limit_headers can label the response."""
    decision = await limiter.hit(limit, key)
    request[DECISION] = decision
    return refuse_over_limit(decision)


@web.middleware
async def rate_limit_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Put RateLimit-* on every response of a limited request, errors included.

    It must wrap the error middleware (come before it in the list) to see error responses.
    """
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # redirects the error middleware lets through
        if DECISION in request:
            exc.headers.update(request[DECISION].headers())
        raise
    if DECISION in request and not response.prepared:
        response.headers.update(request[DECISION].headers())
    return response


def _address(text: str) -> str | None:
    """The canonical form of an IP address, or None if `text` is not one."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def parse_trusted_proxies(text: str) -> frozenset[str]:
    """A comma-separated list of proxy addresses, canonicalised; ValueError on a bad entry."""
    entries = [entry for entry in text.split(",") if entry.strip()]
    parsed = {entry: _address(entry) for entry in entries}
    bad = [entry.strip() for entry, address in parsed.items() if address is None]
    if bad:
        raise ValueError(f"not IP addresses: {', '.join(bad)}")
    return frozenset(address for address in parsed.values() if address is not None)


def _forwarded_for(request: web.Request) -> list[str]:
    """The X-Forwarded-For entries, left to right, as sent (several headers read as one list)."""
    header = ",".join(request.headers.getall("X-Forwarded-For", []))
    return [entry.strip() for entry in header.split(",") if entry.strip()]


def client_address(request: web.Request, trusted_proxies: frozenset[str]) -> str:
    """The socket peer, or, behind trusted proxies, the nearest X-Forwarded-For hop not theirs.

    Only the entries our proxies appended are read, from the right; what lies left of the first
    untrusted hop was written by the client and is ignored. A malformed entry in our part means
    the peer.
    """
    peer = request.remote or "unknown"
    peer = _address(peer) or peer
    trusted = {address for proxy in trusted_proxies if (address := _address(proxy))}
    if peer not in trusted:
        return peer  # anyone else can write any X-Forwarded-For they like
    hops = _forwarded_for(request)
    if not hops:
        return peer
    for entry in reversed(hops):
        hop = _address(entry)
        if hop is None:
            return peer
        if hop not in trusted:
            return hop
    # every hop is our own proxy: the left-most is where the request came from
    return _address(hops[0]) or peer
