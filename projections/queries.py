"""Queries the HTTP layer calls: balances, account history, read-your-writes waits."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from dataclasses import dataclass
from typing import Any

from ledger.errors import ValidationError
from projections.base import TRACKING_TABLE
from projections.db import ReadDatabase

DEFAULT_PAGE = 50
MAX_PAGE = 200
WAIT_FIRST_SLEEP = 0.002
WAIT_MAX_SLEEP = 0.05


@dataclass(frozen=True)
class BalanceView:
    """An account's balance as of a position of the log."""

    account: str
    balance: int
    position: int
    updated_at: str | None


@dataclass(frozen=True)
class HistoryItem:
    """One posting of an account."""

    position: int
    entry_id: str
    kind: str
    delta: int
    balance_after: int
    counterparty: str | None
    app_id: str | None
    memo: str
    metadata: dict[str, Any]
    recorded_at: str
    effective_at: str | None


@dataclass(frozen=True)
class HistoryPage:
    """A page of history, newest first, and the cursor of the next page (None at the end)."""

    items: list[HistoryItem]
    next_cursor: str | None


async def balance(db: ReadDatabase, account: str) -> BalanceView:
    """The balance of `account` (0 if it never moved), current to the model's position."""
    row = await db.fetch_one(
        f"SELECT t.position, b.balance, b.updated_at FROM {TRACKING_TABLE} t"
        " LEFT JOIN balances b ON b.account = %s WHERE t.name = 'balances'",
        (account,),
    )
    if row is None:
        return BalanceView(account, 0, 0, None)
    return BalanceView(account, int(row["balance"] or 0), int(row["position"]), row["updated_at"])


async def history(
    db: ReadDatabase,
    account: str,
    limit: int = DEFAULT_PAGE,
    cursor: str | None = None,
    app_id: str | None = None,
) -> HistoryPage:
    """Postings of `account`, newest first; only those made through `app_id` when given."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError({"limit": [f"must be from 1 to {MAX_PAGE}"]})
    before = decode_cursor(cursor) if cursor else None
    clauses: list[str] = ["account = %s"]
    params: list[object] = [account]
    if before is not None:
        clauses.append("position < %s")
        params.append(before)
    if app_id is not None:
        clauses.append("app_id = %s")
        params.append(app_id)
    rows = await db.fetch_all(
        f"SELECT * FROM account_history WHERE {' AND '.join(clauses)}"
        " ORDER BY position DESC LIMIT %s",
        (*params, limit + 1),
    )
    items = [_history_item(row) for row in rows[:limit]]
    more = len(rows) > limit
    return HistoryPage(items, encode_cursor(items[-1].position) if more else None)


def _history_item(row: dict[str, Any]) -> HistoryItem:
    return HistoryItem(
        position=int(row["position"]),
        entry_id=row["entry_id"],
        kind=row["kind"],
        delta=int(row["delta"]),
        balance_after=int(row["balance_after"]),
        counterparty=row["counterparty"],
        app_id=row["app_id"],
        memo=row["memo"],
        metadata=json.loads(row["metadata"]),
        recorded_at=row["recorded_at"],
        effective_at=row["effective_at"],
    )


def encode_cursor(position: int) -> str:
    """An opaque cursor for 'items before this position'."""
    return base64.urlsafe_b64encode(f"p{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The position a cursor stands for; a malformed one is a validation error."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        text = ""
    if not text.startswith("p") or not text[1:].isdigit():
        raise ValidationError({"cursor": ["not a cursor this service issued"]})
    return int(text[1:])


async def tracked_position(db: ReadDatabase, projection: str) -> int:
    """How far `projection` has applied the log."""
    row = await db.fetch_one(
        f"SELECT position FROM {TRACKING_TABLE} WHERE name = %s",
        (projection,),
    )
    return int(row["position"]) if row else 0


async def wait_for(db: ReadDatabase, projection: str, position: int, seconds: float) -> bool:
    """Read-your-writes: wait up to `seconds` for `projection` to reach `position`."""
    deadline = time.monotonic() + seconds
    sleep = WAIT_FIRST_SLEEP
    while await tracked_position(db, projection) < position:
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(sleep)
        sleep = min(sleep * 2, WAIT_MAX_SLEEP)
    return True


async def head_position(db: ReadDatabase) -> int:
    """The position of the newest event in the log."""
    row = await db.fetch_one(f"SELECT MAX({db.position_column}) AS head FROM {db.events_table}")
    return int(row["head"]) if row and row["head"] is not None else 0


async def projection_lag(db: ReadDatabase) -> int:
    """How far the slowest live projection is behind the head of the log."""
    head = await head_position(db)
    row = await db.fetch_one(
        f"SELECT MIN(position) AS position FROM {TRACKING_TABLE}"
        " WHERE substr(name, 1, 8) <> 'rebuild_'"
    )
    position = row["position"] if row else None
    return max(0, head - int(position)) if position is not None else head
