"""Async reads of the read-model tables: psycopg's async pool, or SQLite on a reader thread pool."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from ledger.errors import UnavailableError

Row = dict[str, Any]
RETRY_AFTER_SECONDS = 2
# What "the database cannot be reached" looks like from each driver: a dead or refused
# connection, a pool that timed out waiting for one (PoolTimeout is an OperationalError), a
# SQLite file locked past its timeout.
OUTAGE_ERRORS: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    sqlite3.OperationalError,
)


@contextlib.contextmanager
def outage_as_unavailable(what: str = "read models") -> Iterator[None]:
    """Turn a driver's "cannot reach the database" into UnavailableError (503)."""
    try:
        yield
    except OUTAGE_ERRORS as error:
        raise UnavailableError(
            f"The {what} store cannot be reached.", retry_after=RETRY_AFTER_SECONDS
        ) from error


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def padded(keys: Sequence[K]) -> list[K]:
    """`keys` repeated up to the next power of two, so that a query with one placeholder per
    key comes in only a few shapes (each prepared once) however many keys a batch has."""
    size = 1 << max(0, len(keys) - 1).bit_length()
    return [*keys, *[keys[-1]] * (size - len(keys))]


def in_list(keys: Sequence[K]) -> tuple[str, list[K]]:
    """The placeholders of `IN (...)` for `keys`, and the parameters (`padded`)."""
    params = padded(keys)
    return ", ".join(["%s"] * len(params)), params


class Coalescer(Generic[K, V]):
    """Lookups by key asked for in one turn of the event loop, answered by one query.

    Under load many requests reach the same lookup (the token check of every authenticated
    request) in the same turn of the loop; each query costs far more in driver and pool work
    than the row it returns. `get` queues the key and the query runs in the next turn, for every
    key queued by then. It is never staler than one query per request: the query starts after
    every request it answers arrived, so a revocation committed before a request arrived is
    seen by it.

    `fetch` gets each key queued and how many callers asked for it, and answers the keys it
    found; `_settle` hands a key's answer to its callers (all the same one, unless a subclass
    says otherwise).
    """

    def __init__(self, fetch: Callable[[dict[K, int]], Awaitable[dict[K, V]]], limit: int) -> None:
        self._fetch = fetch
        self._limit = limit
        self._waiting: dict[K, list[asyncio.Future[V | None]]] = {}
        self._running: set[asyncio.Task[None]] = set()

    async def get(self, key: K) -> V | None:
        """The value for `key`, or None if the query found none."""
        loop = asyncio.get_running_loop()
        if not self._waiting:
            loop.call_soon(self._flush)
        future: asyncio.Future[V | None] = loop.create_future()
        self._waiting.setdefault(key, []).append(future)
        if len(self._waiting) >= self._limit:
            self._flush()
        return await future

    def _flush(self) -> None:
        if not self._waiting:
            return
        waiting, self._waiting = self._waiting, {}
        task = asyncio.get_running_loop().create_task(self._answer(waiting))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _answer(self, waiting: dict[K, list[asyncio.Future[V | None]]]) -> None:
        try:
            found = await self._fetch({key: len(futures) for key, futures in waiting.items()})
        except BaseException as error:  # handed to every waiter, never swallowed
            for futures in waiting.values():
                for future in futures:
                    if future.done():
                        continue
                    if isinstance(error, asyncio.CancelledError):
                        future.cancel()
                    else:
                        future.set_exception(error)
            if isinstance(error, asyncio.CancelledError):
                raise
            return
        for key, futures in waiting.items():
            self._settle(futures, found.get(key))

    def _settle(self, futures: list[asyncio.Future[V | None]], value: V | None) -> None:
        for future in futures:
            if not future.done():  # a waiter whose request was cancelled
                future.set_result(value)


@dataclass(frozen=True)
class Lookup(Generic[K, V]):
    """A query by key that concurrent requests share: `fetch` answers many keys at once.
    (`name` is for people reading a trace; the object itself is the identity.)"""

    name: str
    fetch: Callable[[ReadDatabase, list[K]], Awaitable[dict[K, V]]]
    #: at most this many keys in one query (SQLite allows 32,766 parameters)
    limit: int = 256


class _Lookups:
    """One Coalescer per Lookup, for a read database."""

    def __init__(self) -> None:
        self._coalescers: dict[Lookup[Any, Any], Coalescer[Any, Any]] = {}

    async def lookup(self, lookup: Lookup[K, V], key: K) -> V | None:
        """`lookup`'s value for `key` (None if there is none), in one query with the keys
        other requests ask for in the same turn of the event loop."""
        coalescer = self._coalescers.get(lookup)
        if coalescer is None:
            db: ReadDatabase = self  # type: ignore[assignment]
            coalescer = Coalescer(lambda keys: lookup.fetch(db, list(keys)), lookup.limit)
            self._coalescers[lookup] = coalescer
        value: V | None = await coalescer.get(key)
        return value


class ReadDatabase(Protocol):
    """Where queries read read models from (never the write side's aggregates)."""

    #: the event table and its position column, for the head of the log
    events_table: str
    position_column: str

    async def fetch_one(self, statement: str, params: Sequence[object] = ()) -> Row | None: ...

    async def fetch_all(self, statement: str, params: Sequence[object] = ()) -> list[Row]: ...

    async def lookup(self, lookup: Lookup[K, V], key: K) -> V | None: ...

    async def close(self) -> None: ...


class PostgresReadDatabase(_Lookups):
    """Reads through an async connection pool, in coroutines, with no thread hop."""

    events_table = "buddo_events"
    position_column = "notification_id"

    def __init__(self, conninfo: dict[str, str], size: int, timeout: float) -> None:
        super().__init__()
        self.pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            kwargs={**conninfo, "autocommit": True, "row_factory": dict_row},
            min_size=1,
            max_size=size,
            timeout=timeout,
            open=False,
            # No check on checkout: it cost a round trip per query (36% of an authenticated
            # read's loop time, benchmarks/oauth_http). A connection that died with the server
            # fails its query (503) and the pool discards it on return and reconnects.
        )

    async def open(self) -> None:
        await self.pool.open(wait=False)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A pooled connection; an outage surfaces as UnavailableError. A connection that
        broke is discarded by the pool on return, which then reconnects in the background."""
        with outage_as_unavailable():
            async with self.pool.connection() as conn:
                yield conn

    async def fetch_one(self, statement: str, params: Sequence[object] = ()) -> Row | None:
        async with self.connection() as conn:
            cursor = await conn.execute(statement, tuple(params))
            row: Row | None = await cursor.fetchone()
            return row

    async def fetch_all(self, statement: str, params: Sequence[object] = ()) -> list[Row]:
        async with self.connection() as conn:
            cursor = await conn.execute(statement, tuple(params))
            rows: list[Row] = await cursor.fetchall()
            return rows

    async def close(self) -> None:
        await self.pool.close()


class SQLiteReadDatabase(_Lookups):
    """Reads on a small thread pool, one read-only connection per thread (WAL readers)."""

    events_table = "stored_events"
    position_column = "rowid"

    def __init__(self, path: str, threads: int) -> None:
        super().__init__()
        self.path = path
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sqlite-read")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._guard = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                f"file:{self.path}?mode=ro", uri=True, check_same_thread=False, timeout=5
            )
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
            with self._guard:
                self._connections.append(conn)
        return conn

    def _fetch(self, statement: str, params: Sequence[object], *, one: bool) -> Any:
        cursor = self._connection().execute(statement.replace("%s", "?"), tuple(params))
        if one:
            row = cursor.fetchone()
            return dict(row) if row is not None else None
        return [dict(row) for row in cursor.fetchall()]

    async def _run(self, statement: str, params: Sequence[object], *, one: bool) -> Any:
        loop = asyncio.get_running_loop()
        call = functools.partial(self._fetch, statement, params, one=one)
        with outage_as_unavailable():
            return await loop.run_in_executor(self.executor, call)

    async def fetch_one(self, statement: str, params: Sequence[object] = ()) -> Row | None:
        row: Row | None = await self._run(statement, params, one=True)
        return row

    async def fetch_all(self, statement: str, params: Sequence[object] = ()) -> list[Row]:
        rows: list[Row] = await self._run(statement, params, one=False)
        return rows

    async def close(self) -> None:
        self.executor.shutdown(wait=True)
        with self._guard:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
