"""Queries the HTTP layer calls: balances, account history, read-your-writes waits."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ledger.errors import ValidationError
from projections.base import TRACKING_TABLE
from projections.db import ReadDatabase, Row

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


CursorPart = int | str | None
#: What a cursor's parts may be, one entry a part: a type, or a tuple of types (None's for a
#: part that may be null).
CursorShape = tuple[type | tuple[type, ...], ...]


def encode_cursor(*key: CursorPart) -> str:
    """An opaque cursor for 'items past this key': a log position, or a small tuple of the
    last row's sort key (when a list has no single immutable position)."""
    if len(key) == 1 and type(key[0]) is int:
        text = f"p{key[0]}"  # the form every position cursor has always had
    else:
        text = "k" + json.dumps(key, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _cursor_text(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return ""


def _not_ours() -> ValidationError:
    return ValidationError({"cursor": ["not a cursor this service issued"]})


def decode_cursor(cursor: str) -> int:
    """The position a cursor stands for; a malformed one is a validation error."""
    text = _cursor_text(cursor)
    if not text.startswith("p") or not text[1:].isdigit():
        raise _not_ours()
    return int(text[1:])


def decode_key(cursor: str, shape: CursorShape) -> tuple[Any, ...]:
    """The sort key a tuple cursor stands for, checked part by part against `shape`; anything
    else is a validation error."""
    text = _cursor_text(cursor)
    try:
        key = json.loads(text[1:]) if text.startswith("k") else None
    except (ValueError, RecursionError):  # RecursionError: a forged cursor nested deep
        key = None
    if not isinstance(key, list) or len(key) != len(shape):
        raise _not_ours()
    for part, kind in zip(key, shape, strict=True):
        if isinstance(part, bool) or not isinstance(part, kind):
            raise _not_ours()
    return tuple(key)


def keyset(columns: str, cursor: str | None, shape: CursorShape) -> tuple[str, tuple[Any, ...]]:
    """The SQL condition (with a leading AND) and parameters of 'rows whose `columns`, in
    ascending order, come after the cursor's key'; nothing for the first page."""
    if cursor is None:
        return "", ()
    key = decode_key(cursor, shape)
    return f" AND ({columns}) > ({', '.join(['%s'] * len(key))})", key


def page_of(
    rows: list[Row], limit: int, key: Callable[[Row], tuple[CursorPart, ...]]
) -> tuple[list[Row], str | None]:
    """The first `limit` of `rows` (fetched with one more, to know whether there is a next
    page) and the cursor past the last of them (None at the end)."""
    page = rows[:limit]
    return page, encode_cursor(*key(page[-1])) if len(rows) > limit else None


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
