"""Async reads of the read-model tables: psycopg's async pool, or SQLite on a reader thread pool."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

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


class ReadDatabase(Protocol):
    """Where queries read read models from (never the write side's aggregates)."""

    #: the event table and its position column, for the head of the log
    events_table: str
    position_column: str

    async def fetch_one(self, statement: str, params: Sequence[object] = ()) -> Row | None: ...

    async def fetch_all(self, statement: str, params: Sequence[object] = ()) -> list[Row]: ...

    async def close(self) -> None: ...


class PostgresReadDatabase:
    """Reads through an async connection pool, in coroutines, with no thread hop."""

    events_table = "buddo_events"
    position_column = "notification_id"

    def __init__(self, conninfo: dict[str, str], size: int, timeout: float) -> None:
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


class SQLiteReadDatabase:
    """Reads on a small thread pool, one read-only connection per thread (WAL readers)."""

    events_table = "stored_events"
    position_column = "rowid"

    def __init__(self, path: str, threads: int) -> None:
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
