"""The hash chain over the log, written by the recorder in the events' own transaction.

`audit_chain` has one row per stored event: its leaf index (its place in log order, which is
not position arithmetic: PostgreSQL positions may have gaps), its RFC 9162 leaf hash, and its
chain hash with the one before. On PostgreSQL the row is written under the library's EXCLUSIVE
table lock, on SQLite inside the single writer's transaction, so "the previous hash" read in
the same transaction is well defined. The rules themselves are in `ledger.merkle`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from ledger import merkle

CHAIN_TABLE = "audit_chain"
CHECKPOINT_TABLE = "audit_checkpoints"
BLOCK_TABLE = "audit_blocks"
BACKFILL_BATCH = 5_000
HEX_UUID = re.compile("[0-9a-f]{32}")

# (position, originator id, originator version, topic, state): one stored event, as stored.
RawEvent = tuple[int, Any, int, str, bytes]


class Cursor(Protocol):
    """The DB-API cursor parts the chain needs (sqlite3 or psycopg)."""

    def execute(self, statement: Any, params: Any = ...) -> Any: ...

    def executemany(self, statement: Any, params: Any) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> Any: ...


def schema(backend: str) -> list[str]:
    """DDL of the chain and the checkpoints (idempotent)."""
    blob = "BYTEA" if backend == "postgres" else "BLOB"
    return [
        f"CREATE TABLE IF NOT EXISTS {CHAIN_TABLE} (position BIGINT PRIMARY KEY,"
        f" leaf_index BIGINT NOT NULL UNIQUE, leaf_hash {blob} NOT NULL,"
        f" hash {blob} NOT NULL, prev_hash {blob} NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {CHECKPOINT_TABLE} (tree_size BIGINT PRIMARY KEY,"
        " last_position BIGINT NOT NULL, root TEXT NOT NULL, frontier TEXT NOT NULL,"
        " signed_at TEXT NOT NULL, signature TEXT NOT NULL, key_id TEXT NOT NULL)",
        # The roots of the tree's aligned blocks of leaves (commands/audit.py): a proof
        # reads these instead of every leaf. Derived, like a cache: a proof is checked
        # against the signed root before it is given out.
        f"CREATE TABLE IF NOT EXISTS {BLOCK_TABLE}"
        f" (block BIGINT PRIMARY KEY, root {blob} NOT NULL)",
    ]


def originator_text(value: object) -> str:
    """The originator id as canonical bytes spell it: the lowercase hyphenated UUID
    (PostgreSQL stores a uuid, SQLite 32 lowercase hex digits). Any other stored text, which
    only a forged or edited row has, is `raw:` and the text, so that no edit of the stored
    value, not even of its letter case, can spell the same canonical bytes."""
    if isinstance(value, UUID):
        return str(value)
    text = str(value)
    if HEX_UUID.fullmatch(text):
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    return "raw:" + text


def canonical(event: RawEvent) -> bytes:
    """The canonical bytes of one stored event."""
    position, originator_id, version, topic, state = event
    return merkle.canonical_bytes(
        int(position), originator_text(originator_id), int(version), str(topic), bytes(state)
    )


@dataclass(frozen=True)
class ChainLink:
    """One row of the chain."""

    position: int
    leaf_index: int
    leaf_hash: bytes
    hash: bytes
    prev_hash: bytes


def link(events: Iterable[RawEvent], next_index: int, prev_hash: bytes) -> list[ChainLink]:
    """Chain `events` (in log order) onto a chain whose head is (`next_index`, `prev_hash`)."""
    links = []
    for event in events:
        encoded = canonical(event)
        current = merkle.chain_hash(prev_hash, encoded)
        links.append(
            ChainLink(int(event[0]), next_index, merkle.leaf_hash(encoded), current, prev_hash)
        )
        next_index, prev_hash = next_index + 1, current
    return links


def _row(row: Any) -> tuple[Any, ...]:
    return tuple(row.values()) if isinstance(row, dict) else tuple(row)


class ChainWriter:
    """Appends to the chain through one transaction's cursor (`?` or `%s` placeholders)."""

    def __init__(self, cursor: Cursor, placeholder: str) -> None:
        self.cursor = cursor
        self.mark = placeholder

    def head(self) -> tuple[int, bytes, int]:
        """(next leaf index, last hash, last position) of the chain as stored."""
        self.cursor.execute(
            f"SELECT leaf_index, hash, position FROM {CHAIN_TABLE}"  # noqa: S608
            " ORDER BY position DESC LIMIT 1"
        )
        row = self.cursor.fetchone()
        if row is None:
            return 0, merkle.GENESIS, 0
        index, last, position = _row(row)
        return int(index) + 1, bytes(last), int(position)

    def append(self, events: Sequence[RawEvent]) -> None:
        """Chain `events`, which come right after the chain's head, in their order."""
        if not events:
            return
        next_index, prev_hash, _ = self.head()
        marks = ", ".join([self.mark] * 5)
        self.cursor.executemany(
            f"INSERT INTO {CHAIN_TABLE} (position, leaf_index, leaf_hash, hash, prev_hash)"  # noqa: S608
            f" VALUES ({marks})",
            [
                (x.position, x.leaf_index, x.leaf_hash, x.hash, x.prev_hash)
                for x in link(events, next_index, prev_hash)
            ],
        )


def events_query(backend: str) -> str:
    """Stored events after a position, in log order, with a limit (`%s` placeholders)."""
    if backend == "postgres":
        return (
            "SELECT notification_id, originator_id, originator_version, topic, state"
            " FROM buddo_events WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        )
    return (
        "SELECT rowid, originator_id, originator_version, topic, state"
        " FROM stored_events WHERE rowid > %s ORDER BY rowid LIMIT %s"
    )


def backfill(cursor: Cursor, backend: str) -> int:
    """Chain every stored event the chain does not cover yet (a store made before the chain
    existed); the caller holds the write lock. Returns how many were chained."""
    mark = "%s" if backend == "postgres" else "?"
    writer = ChainWriter(cursor, mark)
    query = events_query(backend).replace("%s", mark)
    done = 0
    while True:
        _, _, last = writer.head()
        cursor.execute(query, (last, BACKFILL_BATCH))
        rows = [_row(r) for r in cursor.fetchall()]
        if not rows:
            return done
        writer.append([(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows])
        done += len(rows)
