"""A batch of events written at once leaves exactly the rows its events leave one at a time.

The inline writer and rebuilds hand each read model a whole batch (a group commit, a thousand
events of a rebuild); the models that write a batch in a few multi-row statements must agree,
row for row, with applying the events one by one.
"""

from __future__ import annotations

import random
from pathlib import Path
from uuid import uuid4

import pytest

from commands.bus import CommandBus
from commands.points import MovePoints, SpendPoints, TransferPoints
from commands.store import BuddoStore
from ledger.journal import EntryKind, Posting
from projections import registry
from projections.audit_replay import COPY_PREFIX, ScratchLog
from projections.base import Event, rows_digest
from projections.runner import SnapshotLog, fresh_copies


def busy_log(bus: CommandBus, entries: int) -> None:
    """Spends, awards and transfers that keep hitting the same few accounts and apps."""
    rng = random.Random(11)
    users, apps = [uuid4() for _ in range(3)], [uuid4() for _ in range(2)]
    for user in users:
        bus.handle(
            MovePoints(EntryKind.GRANT, (Posting("treasury", -500), Posting(f"user:{user}", 500)))
        )
    for _ in range(entries):
        user, app = rng.choice(users), rng.choice(apps)
        roll = rng.random()
        if roll < 0.5:
            bus.handle(SpendPoints(user, app, rng.randint(1, 3), "buy", {"n": rng.randint(0, 9)}))
        elif roll < 0.8:
            postings = (Posting("treasury", -2), Posting(f"user:{user}", 2))
            bus.handle(MovePoints(EntryKind.AD_PAYOUT, postings, "ad", app_id=app))
        else:
            other = rng.choice([u for u in users if u != user])
            bus.handle(TransferPoints(user, other, 1, "thanks", app))


def digests(log: SnapshotLog, prefix: str) -> list[str]:
    copies = [factory(prefix) for factory in registry.INLINE]
    tables = log.snapshot_query([q for copy in copies for q in copy.digest_queries()])
    return [rows_digest(rows) for rows in tables]


@pytest.mark.parametrize("batch", [2, 7, 1_000])
def test_batches_leave_the_rows_of_one_event_at_a_time(
    bus: CommandBus, store: BuddoStore, tmp_path: Path, batch: int
) -> None:
    """On the store's own database (a multi-row statement on PostgreSQL is not SQLite's), and
    in the scratch SQLite file an auditor's replay writes to."""
    busy_log(bus, 60)
    events: list[tuple[int, Event]] = store.read_events(0, 10_000)
    scratch = ScratchLog(store, tmp_path / "scratch.sqlite")
    one, many = f"{COPY_PREFIX}one_", f"{COPY_PREFIX}many_"
    try:
        for log in (store, scratch):
            with (
                fresh_copies(log, registry.INLINE, one) as singles,
                fresh_copies(log, registry.INLINE, many) as batched,
            ):
                for item in events:
                    with log.transaction() as sql:
                        for projection in singles:
                            projection.apply(sql, *item)
                for start in range(0, len(events), batch):
                    with log.transaction() as sql:
                        for projection in batched:
                            projection.apply_batch(sql, events[start : start + batch])

                assert digests(log, many) == digests(log, one)
    finally:
        scratch.close()
