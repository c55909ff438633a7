"""Presence (spec 7): who is online, away or at a table, for 5 minutes unless renewed.

Presence is deliberately not an event (design §3): it is ephemeral state with a time to live.
The embedded default keeps it in this process's memory; on PostgreSQL it is one small table
with an expiry, so every server process sees the same presence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from ledger.errors import UnavailableError
from ledger.times import iso_z

PRESENCE_TTL = timedelta(minutes=5)
STATUSES = ("online", "away", "in_game")
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Presence:
    """One user's announced status, until `expires_at`."""

    user_id: str
    status: str
    table_id: str | None
    updated_at: datetime
    expires_at: datetime

    def as_json(self, username: str | None = None) -> dict[str, Any]:
        shown: dict[str, Any] = {"user_id": self.user_id}
        if username is not None:
            shown["username"] = username
        return shown | {
            "status": self.status,
            "table_id": self.table_id,
            "updated_at": iso_z(self.updated_at),
            "expires_at": iso_z(self.expires_at),
        }


class PresenceStore(Protocol):
    """Where presence lives; every read leaves out what has expired."""

    async def announce(self, user_id: str, status: str, table_id: str | None) -> Presence: ...

    async def clear(self, user_id: str) -> None: ...

    async def of_users(self, user_ids: Sequence[str]) -> list[Presence]: ...

    async def at_table(self, table_id: str) -> list[Presence]: ...

    async def close(self) -> None: ...


class MemoryPresence:
    """Presence in this process only: right for the single-process embedded default."""

    def __init__(self, clock: Clock = utc_now) -> None:
        self.clock = clock
        self._entries: dict[str, Presence] = {}

    async def announce(self, user_id: str, status: str, table_id: str | None) -> Presence:
        now = self.clock()
        self._sweep(now)
        entry = Presence(user_id, status, table_id, now, now + PRESENCE_TTL)
        self._entries[user_id] = entry
        return entry

    async def clear(self, user_id: str) -> None:
        self._entries.pop(user_id, None)

    async def of_users(self, user_ids: Sequence[str]) -> list[Presence]:
        now = self.clock()
        found = (self._entries.get(user_id) for user_id in user_ids)
        return [entry for entry in found if entry is not None and entry.expires_at > now]

    async def at_table(self, table_id: str) -> list[Presence]:
        now = self.clock()
        return sorted(
            (e for e in self._entries.values() if e.table_id == table_id and e.expires_at > now),
            key=lambda entry: entry.user_id,
        )

    def _sweep(self, now: datetime) -> None:
        self._entries = {k: e for k, e in self._entries.items() if e.expires_at > now}

    async def close(self) -> None:
        self._entries.clear()


def postgres_schema() -> list[str]:
    """The presence table; safe to run on every start (UNLOGGED: presence is worth no WAL)."""
    return [
        "CREATE UNLOGGED TABLE IF NOT EXISTS presence (user_id text PRIMARY KEY,"
        " status text NOT NULL, table_id text, updated_at timestamptz NOT NULL,"
        " expires_at timestamptz NOT NULL)",
        "CREATE INDEX IF NOT EXISTS presence_by_table ON presence (table_id, expires_at)",
    ]


_UPSERT = (
    "INSERT INTO presence (user_id, status, table_id, updated_at, expires_at)"
    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (user_id) DO UPDATE SET status = EXCLUDED.status,"
    " table_id = EXCLUDED.table_id, updated_at = EXCLUDED.updated_at,"
    " expires_at = EXCLUDED.expires_at"
)


class PostgresPresence:
    """Presence in one PostgreSQL table shared by every server process; expired rows are
    ignored by every read and deleted on each announcement."""

    def __init__(self, pool: AsyncConnectionPool[Any], clock: Clock = utc_now) -> None:
        self._pool = pool  # borrowed: whoever opened the pool closes it
        self.clock = clock

    async def _run(self, statement: str, params: Sequence[object]) -> list[dict[str, Any]]:
        try:
            async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(statement, tuple(params))
                return await cur.fetchall() if cur.description else []
        except psycopg.OperationalError as error:
            raise UnavailableError("The presence store cannot be reached.") from error

    async def announce(self, user_id: str, status: str, table_id: str | None) -> Presence:
        now = self.clock()
        entry = Presence(user_id, status, table_id, now, now + PRESENCE_TTL)
        await self._run(_UPSERT, (user_id, status, table_id, now, entry.expires_at))
        await self._run("DELETE FROM presence WHERE expires_at <= %s", (now,))
        return entry

    async def clear(self, user_id: str) -> None:
        await self._run("DELETE FROM presence WHERE user_id = %s", (user_id,))

    async def of_users(self, user_ids: Sequence[str]) -> list[Presence]:
        rows = await self._run(
            "SELECT * FROM presence WHERE user_id = ANY(%s) AND expires_at > %s ORDER BY user_id",
            (list(user_ids), self.clock()),
        )
        return [_presence(row) for row in rows]

    async def at_table(self, table_id: str) -> list[Presence]:
        rows = await self._run(
            "SELECT * FROM presence WHERE table_id = %s AND expires_at > %s ORDER BY user_id",
            (table_id, self.clock()),
        )
        return [_presence(row) for row in rows]

    async def close(self) -> None:
        """Nothing to release: the pool belongs to the caller."""


def _presence(row: dict[str, Any]) -> Presence:
    return Presence(
        row["user_id"], row["status"], row["table_id"], row["updated_at"], row["expires_at"]
    )
