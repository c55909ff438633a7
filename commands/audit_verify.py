"""Recompute the hash chain and every checkpoint from the stored events, read-only.

The first discrepancy names a position: an event edited or swapped (its bytes no longer hash to
its chain row), deleted (a chain row without its event), or inserted (an event the chain never
saw). An event changed together with its chain rows is caught by the first signed checkpoint
that covers it, which then names the range of positions it signed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from commands.audit import Checkpoint, checkpoints
from commands.audit_chain import CHAIN_TABLE, originator_text
from commands.audit_db import AuditDb, Query
from ledger import merkle

BATCH = 20_000
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Discrepancy:
    """What is wrong, and where (the position of the first event concerned)."""

    position: int
    problem: str

    def __str__(self) -> str:
        return f"position {self.position}: {self.problem}"


@dataclass(frozen=True)
class ChainReport:
    """What the chain check covered, and the first thing found wrong (if any)."""

    events: int
    checkpoints: int
    discrepancy: Discrepancy | None


class _Walk:
    """The running state of a walk down the log."""

    def __init__(self, signed: list[Checkpoint], key: Ed25519PublicKey | None) -> None:
        self.frontier = merkle.Frontier()
        self.prev = merkle.GENESIS
        self.signed = signed
        self.key = key
        self.next_checkpoint = 0
        self.last_position = 0

    @property
    def next_size(self) -> int:
        """The tree size of the next checkpoint to check (-1 when none is left)."""
        if self.next_checkpoint >= len(self.signed):
            return -1
        return self.signed[self.next_checkpoint].tree_size

    def step(self, row: tuple[Any, ...]) -> str | None:
        """Check one event against its chain row; a problem, or None."""
        position, originator_id, version, topic, state, index, leaf_hash, chained, prev = row
        if index is None:
            return "the event is not in the audit chain (inserted outside the service?)"
        try:
            encoded = merkle.canonical_bytes(
                position, originator_text(originator_id), version, topic, state
            )
        except (TypeError, AttributeError, ValueError, OverflowError):
            return "the stored event has a field of the wrong type (written outside the service?)"
        if index != self.frontier.size:
            return f"chained as leaf {index}, but it is leaf {self.frontier.size} of the log"
        if prev != self.prev:
            return "the chain row does not follow the one before it"
        current = merkle.chain_hash(prev, encoded)
        leaf = merkle.leaf_hash(encoded)
        if leaf != leaf_hash or current != chained:
            return "the stored event differs from the event chained here (edited or moved)"
        self.prev = current
        self.frontier.append(leaf)
        self.last_position = position
        return self.check_checkpoint() if self.frontier.size == self.next_size else None

    def check_checkpoint(self) -> str | None:
        if self.next_checkpoint >= len(self.signed):
            return None
        checkpoint = self.signed[self.next_checkpoint]
        if checkpoint.tree_size != self.frontier.size:
            return None
        self.next_checkpoint += 1
        if self.key is not None and not checkpoint.verify(self.key):
            return f"checkpoint {checkpoint.tree_size} has a bad signature"
        if checkpoint.root != self.frontier.root() or checkpoint.last_position != (
            self.last_position
        ):
            return (
                f"checkpoint {checkpoint.tree_size} does not match the log up to here:"
                " an event at or before this position was changed after it was signed"
            )
        return None


def _rows(db: AuditDb, q: Query, stop: int) -> Iterator[list[tuple[object, ...]]]:
    table, column = db.events
    statement = (
        f"SELECT e.{column}, e.originator_id, e.originator_version, e.topic, e.state,"  # noqa: S608
        f" c.leaf_index, c.leaf_hash, c.hash, c.prev_hash FROM {table} e"
        f" LEFT JOIN {CHAIN_TABLE} c ON c.position = e.{column}"
        f" WHERE e.{column} > %s AND e.{column} <= %s ORDER BY e.{column} LIMIT %s"
    )
    after = 0
    while batch := q.rows(statement, (after, stop, BATCH)):
        yield batch
        after = int(str(batch[-1][0]))


def _first_deleted(db: AuditDb, q: Query) -> int | None:
    table, column = db.events
    row = q.one(
        f"SELECT MIN(c.position) FROM {CHAIN_TABLE} c LEFT JOIN {table} e"  # noqa: S608
        f" ON e.{column} = c.position WHERE e.{column} IS NULL"
    )
    return None if row is None or row[0] is None else int(row[0])


def verify_chain(
    db: AuditDb, key: Ed25519PublicKey | None, progress: Progress | None = None
) -> ChainReport:
    """Walk the whole log; `key` None skips signature checks (roots are still compared)."""
    with db.read() as q:
        signed = checkpoints(q)
        table, column = db.events
        head = q.one(f"SELECT MAX({column}) FROM {table}")  # noqa: S608
        stop = int(head[0]) if head and head[0] is not None else 0
        deleted = _first_deleted(db, q)
        walk = _Walk(signed, key)
        found = _walk(walk, _rows(db, q, stop), progress)
    if deleted is not None and (found is None or deleted < found.position):
        found = Discrepancy(deleted, "the event is gone but its chain row remains (deleted)")
    if found is None and walk.next_checkpoint < len(signed):
        missing = signed[walk.next_checkpoint]
        found = Discrepancy(
            walk.last_position,
            f"checkpoint {missing.tree_size} signed more events than the log now holds",
        )
    return ChainReport(walk.frontier.size, walk.next_checkpoint, found)


def _walk(
    walk: _Walk, batches: Iterator[list[tuple[object, ...]]], progress: Progress | None
) -> Discrepancy | None:
    for batch in batches:
        for row in batch:
            problem = walk.step(row)
            if problem is not None:
                return Discrepancy(int(str(row[0])), problem)
        if progress is not None:
            progress(len(batch))
    return None
